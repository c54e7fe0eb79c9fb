// GET /v1/reports/inventory (and /v1/reports/timeline, the dashboard's series): the inventory counted for compliance reviews, as JSON or CSV, over
// the certificates the credential may read (the same narrowing as the inventory list).
import { z } from 'zod';
import { EXPIRY_BUCKETS_TEXT, inventoryReportCsv } from '../../src/core/inventoryReport.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { CERTIFICATE_STATUSES, EXPIRY_BUCKET_NAMES } from '../../src/core/types.js';
import { readableInventory } from './inventoryScope.js';
import { certmanKeyAlgorithm } from './keyAlgorithm.js';
import type { RestRoutes } from './route.js';

const CSV = 'text/csv';

const counts = <K extends string>(keys: readonly K[]) => z.object(Object.fromEntries(keys.map((k) => [k, z.number().int()])) as Record<K, z.ZodNumber>);

const reportSchema = z
  .object({
    generated_at: z.string().describe('the moment the counts are for (status and expiry are as of then)'),
    total: z.number().int().describe('certificates counted: issued ones of the CAs and products the credential may read, and imported ones when it may read every CA'),
    expiry_buckets: z.string().describe('what the expiry buckets mean'),
    by_product: z.array(z.object({ product_id: z.string().nullable().describe('null: imported certificates'), product_name: z.string().nullable(), count: z.number().int() })),
    by_ca: z.array(z.object({ ca_id: z.string().nullable().describe('null: imported certificates'), ca_name: z.string().nullable(), count: z.number().int() })),
    by_status: counts(CERTIFICATE_STATUSES).describe('revoked first; otherwise expired once valid_to has passed; otherwise active'),
    by_key_algorithm: z.array(z.object({ key_algorithm: z.string().describe('as the certificate list spells it: ECDSA-P256, RSA-2048, …'), count: z.number().int() })),
    by_expiry: counts(EXPIRY_BUCKET_NAMES).describe(EXPIRY_BUCKETS_TEXT),
  })
  .meta({ id: 'InventoryReport' });

export function mountReportRoutes(routes: RestRoutes, core: CoreServices): void {
  routes.add(
    {
      method: 'get',
      path: '/reports/inventory',
      tag: 'Reports',
      summary: 'The inventory counted by product, CA, status, key algorithm and expiry bucket, for compliance reviews',
      description: `JSON by default; CSV with \`Accept: ${CSV}\` or \`format=csv\`. Expiry buckets: ${EXPIRY_BUCKETS_TEXT}. Deleted (hidden) certificates are not counted.`,
      permission: 'read; only what the inventory list would show the credential (its CAs and products; scope own: what it requested)',
      query: z.object({ format: z.enum(['json', 'csv']).optional().describe(`default: by the Accept header (${CSV} or JSON)`) }).strict(),
      responses: {
        200: {
          description: 'The counts',
          schema: reportSchema,
          alternatives: { [CSV]: 'format=csv: a header row (dimension,value,name,count), then one row per count: total, then each product, CA, status, key algorithm and expiry bucket' },
        },
      },
    },
    async ({ req, res, query }) => {
      const counted = await core.inventory.report(readableInventory(req), new Date(core.now()));
      // Spelled as every REST answer spells key algorithms (the list's key_algorithm).
      const report = { ...counted, by_key_algorithm: counted.by_key_algorithm.map((k) => ({ ...k, key_algorithm: certmanKeyAlgorithm(k.key_algorithm) })) };
      const csv = query.format ? query.format === 'csv' : req.accepts(['application/json', CSV]) === CSV;
      if (!csv) {
        res.json(report);
        return;
      }
      const day = report.generated_at.slice(0, 10);
      res.type(CSV).set('Content-Disposition', `attachment; filename="certgate-inventory-${day}.csv"`).send(inventoryReportCsv(report));
    },
  );
  mountTimelineRoute(routes, core);
}

const timelineSchema = z
  .object({
    generated_at: z.string().describe('the moment the series are for'),
    issued_per_day: z.array(z.object({ day: z.string().describe('YYYY-MM-DD (UTC)'), count: z.number().int() })).describe('certificates issued (not imported) per UTC day, oldest first; the last day is today'),
    expiring_per_week: z
      .array(z.object({ from: z.string(), to: z.string(), count: z.number().int() }))
      .describe('unrevoked certificates whose valid_to falls in (from, to], one entry per 7 days from now, soonest first'),
    expired_unreplaced: z.number().int().describe('unrevoked certificates that expired within the last `days` days and were neither renewed (no certificate supersedes them) nor marked renewed'),
  })
  .meta({ id: 'InventoryTimeline' });

function mountTimelineRoute(routes: RestRoutes, core: CoreServices): void {
  routes.add(
    {
      method: 'get',
      path: '/reports/timeline',
      tag: 'Reports',
      summary: 'Certificates issued per day and expiring per week: the dashboard\'s two charts',
      description: 'Counted over the certificates the inventory list would show the credential, as /v1/reports/inventory is. Deleted (hidden) certificates are not counted.',
      permission: 'read; only what the inventory list would show the credential (its CAs and products; scope own: what it requested)',
      query: z
        .object({
          days: z.coerce.number().int().min(1).max(366).default(30).describe('how many days back issued_per_day goes (today included)'),
          weeks: z.coerce.number().int().min(1).max(104).default(12).describe('how many weeks ahead expiring_per_week goes'),
        })
        .strict(),
      responses: { 200: { description: 'The two series', schema: timelineSchema } },
    },
    async ({ req, res, query }) => {
      const now = new Date(core.now());
      const timeline = await core.inventory.timeline(readableInventory(req), { days: query.days, weeks: query.weeks, now });
      res.json({ generated_at: now.toISOString(), issued_per_day: timeline.issuedPerDay, expiring_per_week: timeline.expiringPerWeek, expired_unreplaced: timeline.expiredUnreplaced });
    },
  );
}
