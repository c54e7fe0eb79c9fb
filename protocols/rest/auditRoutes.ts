// GET /v1/audit (admin): the audit trail, filtered and paged, and its chain check.
import { z } from 'zod';
import { auditEntryJson, auditFilterOf } from '../../src/audit/trail.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { requireAdmin } from './auth.js';
import { pageOf, pageQuery } from './pagination.js';
import type { RestRoutes } from './route.js';
import { pageFields } from './schemas.js';

const auditQuery = pageQuery.extend({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  actor: z.string().min(1).max(200).optional(),
  action: z.string().min(1).max(64).optional(),
  target: z.string().min(1).max(200).optional(),
});

export function mountAuditRoutes(routes: RestRoutes, core: CoreServices): void {
  const { audit } = core;
  routes.add(
    {
      method: 'get',
      path: '/audit',
      tag: 'Audit',
      summary: 'The audit trail, filtered and paged, newest first',
      permission: 'admin',
      query: auditQuery,
      responses: { 200: { description: 'One page of entries', schema: z.object({ entries: z.array(z.looseObject({ seq: z.number() })), ...pageFields }) } },
    },
    async ({ req, res, query: q }) => {
    await requireAdmin(core, req, 'audit.read');
    const filter = auditFilterOf(q);
    const { entries, total } = await audit.list(filter, { limit: q.pageSize, offset: (q.page - 1) * q.pageSize });
    res.json({ entries: entries.map(auditEntryJson), ...pageOf(q, total) });
  });

  routes.add(
    {
      method: 'get',
      path: '/audit/verify',
      tag: 'Audit',
      summary: 'Check the audit trail\'s hash chain: altered, removed or reordered entries',
      permission: 'admin',
      responses: { 200: { description: 'The verdict', schema: z.looseObject({ ok: z.boolean() }) } },
    },
    async ({ req, res }) => {
      await requireAdmin(core, req, 'audit.verify');
      res.json(await audit.verify());
    },
  );
}
