// GET /v1/audit (admin): the audit trail, filtered and paged, and its chain check.
import type { Router } from 'express';
import { z } from 'zod';
import { auditEntryJson, verifyTrail } from '../../src/audit/trail.js';
import type { AuditFilter, AuditReader } from '../../src/core/types.js';
import { requireAdmin } from './auth.js';
import { pageOf, pageQuery } from './pagination.js';

const auditQuery = pageQuery.extend({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  actor: z.string().min(1).max(200).optional(),
  action: z.string().min(1).max(64).optional(),
  target: z.string().min(1).max(200).optional(),
});

export function mountAuditRoutes(router: Router, audit: AuditReader): void {
  router.get('/audit', async (req, res) => {
    requireAdmin(req);
    const q = auditQuery.parse(req.query);
    const filter: AuditFilter = {
      ...(q.from ? { from: new Date(q.from) } : {}),
      ...(q.to ? { to: new Date(q.to) } : {}),
      ...(q.actor ? { actor: q.actor } : {}),
      ...(q.action ? { action: q.action } : {}),
      ...(q.target ? { target: q.target } : {}),
    };
    const { entries, total } = await audit.list(filter, { limit: q.pageSize, offset: (q.page - 1) * q.pageSize });
    res.json({ entries: entries.map(auditEntryJson), ...pageOf(q, total) });
  });

  router.get('/audit/verify', async (req, res) => {
    requireAdmin(req);
    res.json(await verifyTrail(audit));
  });
}
