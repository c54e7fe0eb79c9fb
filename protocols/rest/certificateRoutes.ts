// POST /v1/certificates (managed or csr mode), the inventory list and one certificate, renewal.
import { z } from 'zod';
import { unprocessable } from '../../src/core/errors.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { INVENTORY_SORT_COLUMNS, type InventoryFilter, type InventorySort } from '../../src/core/types.js';
import { namesOfCertificate } from '../../src/pki/names.js';
import { authorizedCertificate, certificateResource, authorize, requirePermission } from './auth.js';
import { issueAndAnswer } from './issuance.js';
import { afterCursor, listOrder, listPageFields, listPageOf } from './pagination.js';
import { caPassphrase, csrPem, IDEMPOTENCY_HEADER, ISSUED, validityDays } from './issueFields.js';
import { keyAlgorithmInput } from './keyAlgorithm.js';
import { issuedCertificate, keySourceOf, managedKeyLike } from './followedCertificate.js';
import { idempotencyKeyOf } from './idempotencyKey.js';
import { CSV, EXPORT_LIMIT, INVENTORY_CSV_HEADER, sendInventoryCsv } from './inventoryCsv.js';
import { readableInventory } from './inventoryScope.js';
import type { RestRoutes } from './route.js';
import { certificateDetailSchema, certificateSchema, resourceId } from './schemas.js';
import { certificateDetailJson, certificateJson } from './serialize.js';

const id = resourceId;
const dnsName = z.string().min(1).max(253);
const ipAddress = z.string().min(2).max(45);
const customFieldValue = z.union([z.string().max(1024), z.number(), z.boolean()]);
const customFields = z.record(z.string().max(64), customFieldValue).refine((r) => Object.keys(r).length <= 50, 'at most 50 custom fields');

const issueBody = z
  .object({
    caId: id.optional(),
    productId: id.optional(),
    mode: z.enum(['managed', 'csr']).optional().describe('default: csr when csrPem is given, managed otherwise (Certman\'s default)'),
    commonName: z.string().min(1).max(253).optional(),
    sanDns: z.array(dnsName).max(100).default([]),
    sanIp: z.array(ipAddress).max(100).default([]),
    keyAlgorithm: keyAlgorithmInput.default('ec-p256'),
    validityDays: validityDays.optional(),
    csrPem: csrPem.optional(),
    customFields: customFields.default({}),
    owner: z.string().min(1).max(200).optional(),
    notes: z.string().max(4000).optional(),
    caPassphrase,
  })
  .strict()
  .transform((b) => ({ ...b, mode: b.mode ?? (b.csrPem ? 'csr' : 'managed') }))
  .refine((b) => b.caId || b.productId, { message: 'give caId or productId', path: ['caId'] })
  .refine((b) => b.mode !== 'csr' || b.csrPem, { message: 'csrPem is required in csr mode', path: ['csrPem'] })
  .refine((b) => b.mode !== 'managed' || b.commonName, { message: 'commonName is required in managed mode', path: ['commonName'] })
  .refine((b) => b.mode !== 'managed' || !b.csrPem, { message: 'csrPem is for csr mode; managed mode generates the key', path: ['csrPem'] });

/** `expires` ascending, `-expires` descending: a console's sortable columns. */
const COLUMN_SORTS = INVENTORY_SORT_COLUMNS.flatMap((c) => [c, `-${c}` as const]);
const columnSortOf = (sort: string): InventorySort | null => {
  const by = sort.replace(/^-/, '') as InventorySort['by'];
  return INVENTORY_SORT_COLUMNS.includes(by) ? { by, descending: sort.startsWith('-') } : null;
};

const CUSTOM_FIELD_PARAM = /^customField\.([A-Za-z][A-Za-z0-9_]{0,63})$/;

const listShape = {
    caId: id.optional(),
    productId: id.optional(),
    status: z.enum(['active', 'revoked', 'expired', 'all']).default('all'),
    source: z.enum(['issued', 'imported']).optional(),
    search: z.string().min(1).max(200).optional(),
    owner: z.string().min(1).max(200).optional(),
    createdFrom: z.iso.datetime({ offset: true }).optional(),
    createdTo: z.iso.datetime({ offset: true }).optional(),
    expiringInDays: z.coerce.number().int().min(0).max(36_500).optional(),
    page: z.coerce.number().int().min(1).max(1_000_000).optional().describe('default 1; not with after'),
    pageSize: z.coerce.number().int().min(1).max(100).default(20),
    sort: z
      .enum([...listOrder.options, ...COLUMN_SORTS])
      .optional()
      .describe(
        'by creation, the id breaking ties: newest (default) or oldest first; or by a column, ascending or with a leading - descending (commonName, expires, status: active, expired, revoked), with page paging only (nextCursor is then null: page up to totalPages)',
      ),
    format: z.enum(['json', 'csv']).optional().describe(`default: by the Accept header (${CSV} or JSON). csv: every match (up to ${EXPORT_LIMIT}; more is refused with 422), page, pageSize and after aside`),
    after: afterCursor.optional().describe('the nextCursor of the page before: pages by cursor, each as cheap as the first however deep, and none shifted by certificates written meanwhile'),
};
const listQuery = z
  .object(listShape)
  .catchall(z.string().max(1024))
  .superRefine((q, ctx) => {
    for (const key of Object.keys(q)) {
      if (!(key in listShape) && !CUSTOM_FIELD_PARAM.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'unknown query parameter (custom fields filter as customField.<name>=value)' });
    }
    if (q.after && q.page !== undefined) ctx.addIssue({ code: 'custom', path: ['page'], message: 'give page or after, not both' });
    if (q.after && q.sort && columnSortOf(q.sort)) ctx.addIssue({ code: 'custom', path: ['after'], message: `a cursor pages in creation order: with sort=${q.sort}, page with page` });
    else if (q.after && q.sort && q.sort !== q.after.order) ctx.addIssue({ code: 'custom', path: ['sort'], message: `after is a cursor of the list ${q.after.order} first` });
  });

const renewBody = z
  .object({ validityDays: validityDays.optional(), csrPem: csrPem.optional(), caPassphrase })
  .strict();

export function mountCertificateRoutes(routes: RestRoutes, core: CoreServices): void {
  const { queries } = core;

  routes.add(
    {
      method: 'post',
      path: '/certificates',
      tag: 'Certificates',
      summary: 'Issue a certificate: managed (certgate generates the key pair, returned once) or from a CSR',
      permission: 'issue on the product\'s CA, and the product in the credential\'s products',
      body: issueBody,
      headers: IDEMPOTENCY_HEADER,
      responses: ISSUED,
    },
    async ({ req, res, body }) => {
      const idempotencyKey = idempotencyKeyOf(req.get('Idempotency-Key'));
      await issueAndAnswer(core, req, res, {
        product: body.productId ? { id: body.productId } : { caId: body.caId as string },
        ...(body.productId && body.caId ? { caId: body.caId } : {}),
        source:
          body.mode === 'csr'
            ? { csrPem: body.csrPem as string }
            : { managed: { commonName: body.commonName as string, sanDns: body.sanDns, sanIp: body.sanIp, keyAlgorithm: body.keyAlgorithm } },
        validityDays: body.validityDays ?? null,
        idempotencyKey,
        customFields: body.customFields,
        owner: body.owner ?? null,
        notes: body.notes ?? null,
      });
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/certificates',
      tag: 'Certificates',
      summary: 'The inventory: certificates of the CAs this credential may read (and imported ones, with read on every CA), newest first',
      description:
        'Filter on a custom field with `customField.<name>=<value>`. Page with `page` (Certman\'s paging), or by cursor: each page\'s `nextCursor` given as `after` asks for the next one, in the same order and with the same filters.',
      permission: 'read (on caId when given); only certificates of the credential\'s products (scope own: that it requested)',
      query: listQuery,
      responses: {
        200: {
          description: 'One page',
          schema: z.object({ certificates: z.array(certificateSchema), ...listPageFields }),
          alternatives: { [CSV]: `format=csv: every match as a file, a header row (${INVENTORY_CSV_HEADER.join(',')}) then one row per certificate, in the list's order` },
        },
      },
    },
    async ({ req, res, query }) => {
      if (query.caId) await requirePermission(core, req, 'read', query.caId);
      const custom: Record<string, string> = {};
      for (const [key, value] of Object.entries(query)) {
        const m = CUSTOM_FIELD_PARAM.exec(key);
        if (m && typeof value === 'string') custom[m[1] as string] = value;
      }
      const filter: InventoryFilter = {
        ...readableInventory(req, query.caId),
        status: query.status,
        ...(query.source ? { source: query.source } : {}),
        ...(query.productId ? { productId: query.productId } : {}),
        ...(query.search ? { search: query.search } : {}),
        ...(query.owner ? { owner: query.owner } : {}),
        ...(query.createdFrom ? { createdFrom: new Date(query.createdFrom) } : {}),
        ...(query.createdTo ? { createdTo: new Date(query.createdTo) } : {}),
        ...(query.expiringInDays !== undefined ? { expiringInDays: query.expiringInDays } : {}),
        ...(Object.keys(custom).length ? { customFields: custom } : {}),
      };
      const sort = query.sort ? columnSortOf(query.sort) : null;
      const order = query.after?.order ?? (query.sort === 'oldest' ? 'oldest' : 'newest');
      if (query.format ? query.format === 'csv' : req.accepts(['application/json', CSV]) === CSV) {
        await sendInventoryCsv(core, res, filter, sort ? { sort } : { order });
        return;
      }
      const where = query.after ? { after: query.after.position } : { offset: ((query.page ?? 1) - 1) * query.pageSize };
      const listing = await queries.inventoryList(filter, { limit: query.pageSize, order, ...where, ...(sort ? { sort } : {}) });
      const now = Date.now();
      res.json({
        certificates: listing.certificates.map((c) => certificateJson(c, now)),
        ...listPageOf({ ...(query.after ? {} : { page: query.page ?? 1 }), pageSize: query.pageSize }, listing, order),
      });
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/certificates/:id',
      tag: 'Certificates',
      summary: 'One certificate, with its PEM',
      permission: 'read on its CA, within the credential\'s products (imported: read on every CA)',
      params: z.object({ id }),
      responses: { 200: { description: 'The certificate', schema: certificateDetailSchema } },
    },
    async ({ req, res, params }) => {
      const cert = await authorizedCertificate(core, req, params.id, 'read');
      res.json(certificateDetailJson(cert));
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/certificates/:id/renew',
      tag: 'Certificates',
      summary: 'Renew: a new certificate with the same names, product and fields; managed ones get a new key pair, csr-based ones need csrPem',
      permission: 'issue on the certificate\'s CA, within the credential\'s products',
      params: z.object({ id }),
      body: renewBody,
      headers: IDEMPOTENCY_HEADER,
      responses: ISSUED,
    },
    async ({ req, res, params, body }) => {
      const original = await issuedCertificate(core, params.id);
      await authorize(core, req, 'renew', await certificateResource(core, original));
      const managed = (await keySourceOf(core, original)) === 'managed';
      if (!managed && !body.csrPem) throw unprocessable('csrPem is required to renew a certificate issued from a CSR');
      await issueAndAnswer(
        core,
        req,
        res,
        {
          product: { id: original.productId },
          source: body.csrPem
            ? { csrPem: body.csrPem }
            : { managed: managedKeyLike(original) },
          validityDays: body.validityDays ?? null,
          idempotencyKey: idempotencyKeyOf(req.get('Idempotency-Key')),
          // A renewal is for the same names: a CSR may not add any.
          constraints: [{ kind: 'namesWithin', names: namesOfCertificate(original) }],
          customFields: original.customFields,
          owner: original.owner,
          notes: original.notes,
          supersedes: original.id,
        },
        'certificate renewed',
      );
    },
  );
}
