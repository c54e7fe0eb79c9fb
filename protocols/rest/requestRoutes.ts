// Enrollment requests: where one stands, and the operator's approval or refusal.
import { z } from 'zod';
import type { CoreServices } from '../../src/core/protocol.js';
import { notFound } from '../../src/core/errors.js';
import { auditContextOf, credentialOf, principalOf, requireAdmin, requirePermission } from './auth.js';
import type { RestRoutes } from './route.js';
import { requestSchema } from './schemas.js';
import { requestJson } from './serialize.js';

const idParams = z.object({ id: z.string().min(1).max(200) });

export function mountRequestRoutes(routes: RestRoutes, core: CoreServices): void {
  const { queries, enrollments } = core;

  routes.add(
    {
      method: 'get',
      path: '/requests/:id',
      tag: 'Requests',
      summary: 'Where a request stands',
      permission: 'the requester, or read on its CA',
      params: idParams,
      responses: { 200: { description: 'The request', schema: requestSchema } },
    },
    async ({ req, res, params }) => {
      const r = await queries.requestById(params.id);
      if (!r) throw notFound(`request ${params.id} not found`);
      if (r.requester !== principalOf(credentialOf(req))) requirePermission(req, 'read', r.caId);
      res.json(requestJson(r));
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/requests/:id/approve',
      tag: 'Requests',
      summary: 'Approve a request that waits for an operator',
      permission: 'admin',
      params: idParams,
      responses: { 200: { description: 'Approved: queued for signing', schema: requestSchema } },
    },
    async ({ req, res, params }) => {
      requireAdmin(req);
      res.json(requestJson(await enrollments.approve(params.id, auditContextOf(req))));
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/requests/:id/reject',
      tag: 'Requests',
      summary: 'Decline a request that waits for an operator',
      permission: 'admin',
      params: idParams,
      body: z.object({ reason: z.string().min(1).max(500).default('rejected by an operator') }),
      responses: { 200: { description: 'Declined', schema: requestSchema } },
    },
    async ({ req, res, params, body }) => {
      requireAdmin(req);
      res.json(requestJson(await enrollments.reject(params.id, body.reason, auditContextOf(req))));
    },
  );
}
