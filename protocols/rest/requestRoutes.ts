// Enrollment requests: the approval queue, where one request stands, and an approver's decision.
import type { Request } from 'express';
import { z } from 'zod';
import { requestToDecide as decideOn, requireRequestSight, visibleRequests } from '../../src/core/access.js';
import { notFound } from '../../src/core/errors.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { TRANSITIONS } from '../../src/core/requestStatus.js';
import type { EnrollmentRequest, RequestFilter, RequestStatus } from '../../src/core/types.js';
import { auditContextOf, callerOf, principalOfRequest } from './auth.js';
import { pageOf } from './pagination.js';
import type { RestRoutes } from './route.js';
import { idParams, pageFields, requestSchema } from './schemas.js';
import { pendingDcvBlock } from './requestDcv.js';
import { requestJson } from './serialize.js';

/** Every status there is: the transition table has one row each. */
const REQUEST_STATUSES = Object.keys(TRANSITIONS) as [RequestStatus, ...RequestStatus[]];

const listQuery = z
  .object({
    status: z.enum(REQUEST_STATUSES).optional(),
    productId: z.string().min(1).max(200).optional(),
    caId: z.string().min(1).max(200).optional(),
    page: z.coerce.number().int().min(1).max(1_000_000).default(1),
    pageSize: z.coerce.number().int().min(1).max(100).default(20),
  })
  .strict();

const comment = z.string().trim().min(1).max(500);

export function mountRequestRoutes(routes: RestRoutes, core: CoreServices): void {
  const { queries, enrollments } = core;

  const requestToDecide = (req: Request, id: string, decision: 'approve' | 'decline'): Promise<EnrollmentRequest> => decideOn(core, callerOf(req), id, decision);

  routes.add(
    {
      method: 'get',
      path: '/requests',
      tag: 'Requests',
      summary: 'Enrollment requests, newest first: the approval queue with status=pending_approval',
      description: 'Requests of the CAs this credential may read or approve on, and those it sent itself; only of its products (scope own: only its own).',
      permission: 'read or approve (on caId when given)',
      query: listQuery,
      responses: { 200: { description: 'One page', schema: z.object({ requests: z.array(requestSchema), ...pageFields }) } },
    },
    async ({ req, res, query }) => {
      const filter: RequestFilter = {
        ...(await visibleRequests(core, callerOf(req), query.caId)),
        ...(query.status ? { status: query.status } : {}),
        ...(query.productId ? { productId: query.productId } : {}),
      };
      const { requests, total } = await queries.requestList(filter, { limit: query.pageSize, offset: (query.page - 1) * query.pageSize });
      res.json({ requests: requests.map(requestJson), ...pageOf(query, total) });
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/requests/:id',
      tag: 'Requests',
      summary: 'Where a request stands (waiting on domain validation: the names and how to prove them, in dcv)',
      permission: 'the requester, or read or approve on its CA; within the credential\'s products',
      params: idParams,
      responses: { 200: { description: 'The request', schema: requestSchema } },
    },
    async ({ req, res, params }) => {
      const r = await queries.requestById(params.id);
      if (!r) throw notFound(`request ${params.id} not found`);
      await requireRequestSight(core, callerOf(req), r);
      res.json({ ...requestJson(r), ...(await pendingDcvBlock(core, r)) });
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/requests/:id/approve',
      tag: 'Requests',
      summary: 'Approve a request that waits for an approver',
      description: 'Four eyes: the requester cannot approve its own request, unless its product sets selfApproval.',
      permission: 'approve on the request\'s CA, within the credential\'s products, and not the requester',
      params: idParams,
      responses: { 200: { description: 'Approved: queued for signing', schema: requestSchema } },
    },
    async ({ req, res, params }) => {
      await requestToDecide(req, params.id, 'approve');
      res.json(requestJson(await enrollments.approve(params.id, auditContextOf(req), principalOfRequest(req).as)));
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/requests/:id/decline',
      tag: 'Requests',
      summary: 'Decline a request that waits for an approver, saying why',
      description: 'The comment becomes the request\'s status reason, which the requester reads, and is kept in the audit trail.',
      permission: 'approve on the request\'s CA',
      params: idParams,
      body: z.object({ comment }).strict(),
      responses: { 200: { description: 'Declined', schema: requestSchema } },
    },
    async ({ req, res, params, body }) => {
      await requestToDecide(req, params.id, 'decline');
      res.json(requestJson(await enrollments.reject(params.id, body.comment, auditContextOf(req))));
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/requests/:id/reject',
      tag: 'Requests',
      summary: 'Decline a request (the earlier name of /decline); the reason is `reason` or `comment`',
      permission: 'approve on the request\'s CA',
      params: idParams,
      body: z
        .object({ reason: comment.optional(), comment: comment.optional() })
        .refine((b) => !(b.reason && b.comment), { message: 'give reason or comment, not both', path: ['comment'] }),
      responses: { 200: { description: 'Declined', schema: requestSchema } },
    },
    async ({ req, res, params, body }) => {
      await requestToDecide(req, params.id, 'decline');
      res.json(requestJson(await enrollments.reject(params.id, body.reason ?? body.comment ?? 'rejected by an operator', auditContextOf(req))));
    },
  );
}
