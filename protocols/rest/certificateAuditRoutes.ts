// GET /v1/certificates/:id/audit: a certificate's history for whoever may read it, without the
// whole trail (GET /v1/audit is for admins). The trail records a certificate's issue, revocation,
// edits, locations and key exports under its id, and its request's submission and approval under
// the request's id: both are its history.
import { z } from 'zod';
import { CERTIFICATE_HISTORY_ACTIONS } from '../../src/audit/actions.js';
import { auditEntryJson } from '../../src/audit/trail.js';
import type { CoreServices } from '../../src/core/protocol.js';
import type { AuditFilter } from '../../src/core/types.js';
import { authorizedCertificate, credentialOf } from './auth.js';
import type { RestRoutes } from './route.js';
import { idParams } from './schemas.js';

const historyQuery = z
  .object({
    after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0).describe('the nextAfter of the page before (an entry\'s seq); 0: from the first'),
    pageSize: z.coerce.number().int().min(1).max(100).default(50),
  })
  .strict();

const entrySchema = z.object({
  seq: z.number().int(),
  at: z.string(),
  actor: z.string(),
  protocol: z.string(),
  source_ip: z.string().nullable(),
  action: z.string(),
  target: z.string(),
  outcome: z.string(),
  detail: z.record(z.string(), z.unknown()),
  prev_hash: z.string(),
  hash: z.string(),
});

export function mountCertificateAuditRoutes(routes: RestRoutes, core: CoreServices): void {
  routes.add(
    {
      method: 'get',
      path: '/certificates/:id/audit',
      tag: 'Certificates',
      summary: 'A certificate\'s audit history, oldest first: its request, issue, revocation, edits, locations and key exports',
      description: 'Pages by `after`: each page\'s `nextAfter` asks for the next one; null when this is the last. An admin sees every entry about the certificate and its request; any other reader sees the changes that succeeded, not refusals or other credentials\' attempts.',
      permission: 'read on its CA, within the credential\'s products (imported: read on every CA)',
      params: idParams,
      query: historyQuery,
      responses: {
        200: {
          description: 'One page of entries',
          schema: z.object({ entries: z.array(entrySchema), total: z.number().int().describe('every entry of this history'), pageSize: z.number().int(), nextAfter: z.number().int().nullable() }),
        },
      },
    },
    async ({ req, res, params, query }) => {
      const cert = await authorizedCertificate(core, req, params.id, 'read');
      const targets = [cert.id, ...(cert.requestId ? [cert.requestId] : [])];
      // An admin reads the whole trail anyway; a reader sees what happened to the certificate, not who else tried what.
      const filter: AuditFilter = credentialOf(req).admin ? { targets } : { targets, actions: CERTIFICATE_HISTORY_ACTIONS, outcome: 'success' };
      // One row more than the page tells whether another page follows.
      const [rows, counted] = await Promise.all([core.audit.after(query.after, query.pageSize + 1, filter), core.audit.list(filter, { limit: 0, offset: 0 })]);
      const entries = rows.slice(0, query.pageSize);
      const last = entries[entries.length - 1];
      res.json({ entries: entries.map(auditEntryJson), total: counted.total, pageSize: query.pageSize, nextAfter: rows.length > query.pageSize && last ? last.seq : null });
    },
  );
}
