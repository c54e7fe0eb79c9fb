// /v1/organizations: the organization records a product with subject.organization 'validated'
// draws a certificate's O, OU, C, ST and L from. Made pending, then approved (for the deployment's
// CERTGATE_ORGANIZATION_VALIDITY_DAYS) or declined by someone other than who made it. Every route
// asks the one decision about the record (heldResource: its holder, and who made it).
import type { Request } from 'express';
import { z } from 'zod';
import { heldResource } from '../../src/auth/authorize.js';
import { notFound } from '../../src/core/errors.js';
import { DECLINE_REASON_MAX, holderSchema, organizationFields, organizationJson } from '../../src/core/organizationService.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { holderOfCredential, ORGANIZATION_STATUSES, type OrganizationRecord } from '../../src/core/types.js';
import { auditContextOf, authorize, credentialOf, principalOf, principalOfRequest } from './auth.js';
import type { RestRoutes } from './route.js';
import { idParams, resourceId } from './schemas.js';

const time = z.string().meta({ format: 'date-time' });

const organizationSchema = z
  .object({
    id: z.string(),
    name: z.string().describe('O'),
    unit: z.string().nullable().describe('OU'),
    country: z.string().nullable().describe('C'),
    state: z.string().nullable().describe('ST'),
    locality: z.string().nullable().describe('L'),
    holder: z.string().describe('whose it is: user:<name>, group:<name>, credential:<id>, or * (the whole deployment)'),
    status: z.enum(ORGANIZATION_STATUSES),
    expired: z.boolean().describe('approved, but past expires_at: no certificate carries it until it is made and approved again'),
    created_by: z.string().describe('apikey:<id>, or cli'),
    decided_by: z.string().nullable(),
    decided_at: time.nullable(),
    expires_at: time.nullable().describe('decided_at + the deployment\'s organization validity, once approved'),
    reason: z.string().nullable().describe('why it was declined'),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Organization' });

const createBody = z.object({ ...organizationFields, holder: holderSchema.optional().describe('default: the caller\'s group, else its user, else the credential itself; * (the deployment) for admins') }).strict();
const declineBody = z.object({ reason: z.string().trim().min(1, 'say why the organization is declined').max(DECLINE_REASON_MAX) }).strict();
const listQuery = z
  .object({
    status: z.enum(ORGANIZATION_STATUSES).optional(),
    name: z.string().min(1).max(200).optional().describe('exact O'),
    pageSize: z.coerce.number().int().min(1).max(100).default(25),
    after: resourceId.optional().describe('the nextCursor of the previous page'),
  })
  .strict();

/** Who may approve or decline a record: one decision for both (four eyes). */
const DECIDE_PERMISSION = 'approve on some CA, on a record of the caller\'s holders (admins: any); never its maker';

export function mountOrganizationRoutes(routes: RestRoutes, core: CoreServices): void {
  const { organizations } = core;
  const json = (o: OrganizationRecord) => organizationJson(o, core.now());

  /** The record, once the caller may do `action` to it (403, audited, otherwise; 404 when there is none). */
  const authorized = async (req: Request, id: string, action: 'read' | 'approve' | 'delete', tried: string): Promise<OrganizationRecord> => {
    const o = await organizations.get(id);
    if (!o) throw notFound(`organization ${id} not found`);
    await authorize(core, req, action, heldResource('organization', o), tried);
    return o;
  };

  routes.add(
    {
      method: 'post',
      path: '/organizations',
      tag: 'Organizations',
      summary: 'Record an organization (O, OU, C, ST, L) for validation; it waits, pending, for an approver',
      description:
        'A product with subject.organization "validated" issues a certificate only for an O of an approved, unexpired record of the requester, and takes O, OU, C, ST and L from the record. Someone other than who made the record approves it (four eyes).',
      permission: 'issue on some CA; a record of the whole deployment (holder *): admin',
      body: createBody,
      responses: { 201: { description: 'Created, pending', schema: organizationSchema, headers: { Location: 'the record' } } },
    },
    async ({ req, res, body }) => {
      const credential = credentialOf(req);
      const { holder = holderOfCredential(credential), ...fields } = body;
      const createdBy = principalOf(credential);
      await authorize(core, req, 'issue', heldResource('organization', { id: 'new', holder, createdBy }), 'organization.create');
      const made = await organizations.create({ ...fields, holder }, createdBy, auditContextOf(req));
      res.status(201).location(`/v1/organizations/${made.id}`).json(json(made));
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/organizations',
      tag: 'Organizations',
      summary: 'Organization records, oldest first: every one for an admin, else those of the caller\'s holders and the deployment\'s',
      permission: 'read on some CA',
      query: listQuery,
      responses: {
        200: {
          description: 'One page',
          schema: z.object({ organizations: z.array(organizationSchema), nextCursor: z.string().nullable().describe('give it as `after` for the next page; null: this is the last page') }),
        },
      },
    },
    async ({ req, res, query: q }) => {
      const principal = principalOfRequest(req);
      // A list is a read of the caller's own records: the same decision as reading one of them.
      await authorize(core, req, 'read', heldResource('organization', { id: '*', holder: holderOfCredential(credentialOf(req)), createdBy: principal.as }), 'organization.list');
      const page = await organizations.list({
        holders: principal.admin ? '*' : principal.holders,
        ...(q.status ? { status: q.status } : {}),
        ...(q.name ? { name: q.name } : {}),
        limit: q.pageSize + 1,
        ...(q.after ? { after: q.after } : {}),
      });
      const shown = page.slice(0, q.pageSize);
      res.json({ organizations: shown.map(json), nextCursor: page.length > q.pageSize ? (shown.at(-1)?.id ?? null) : null });
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/organizations/:id',
      tag: 'Organizations',
      summary: 'One organization record',
      permission: 'read on some CA, and the record is the caller\'s holders\' or the deployment\'s (admins: any)',
      params: idParams,
      responses: { 200: { description: 'The record', schema: organizationSchema } },
    },
    async ({ req, res, params }) => {
      res.json(json(await authorized(req, params.id, 'read', 'organization.read')));
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/organizations/:id/approve',
      tag: 'Organizations',
      summary: 'Approve a pending record: certificates may carry it until expires_at',
      description: 'Four eyes: whoever made the record cannot approve it, admins included. 409 when it is not pending.',
      permission: DECIDE_PERMISSION,
      params: idParams,
      responses: { 200: { description: 'Approved', schema: organizationSchema } },
    },
    async ({ req, res, params }) => {
      await authorized(req, params.id, 'approve', 'organization.approve');
      res.json(json(await organizations.approve(params.id, auditContextOf(req), principalOf(credentialOf(req)))));
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/organizations/:id/decline',
      tag: 'Organizations',
      summary: 'Decline a pending record, saying why',
      description: 'Decided as approval is (four eyes). 409 when it is not pending.',
      permission: DECIDE_PERMISSION,
      params: idParams,
      body: declineBody,
      responses: { 200: { description: 'Declined', schema: organizationSchema } },
    },
    async ({ req, res, params, body }) => {
      await authorized(req, params.id, 'approve', 'organization.decline');
      res.json(json(await organizations.decline(params.id, body.reason, auditContextOf(req), principalOf(credentialOf(req)))));
    },
  );

  routes.add(
    {
      method: 'delete',
      path: '/organizations/:id',
      tag: 'Organizations',
      summary: 'Remove a record: certificates already issued keep their subject; no new one carries it',
      permission: 'issue on some CA, on a record of the caller\'s holders (the deployment\'s: admin)',
      params: idParams,
      responses: { 200: { description: 'Removed', schema: organizationSchema } },
    },
    async ({ req, res, params }) => {
      await authorized(req, params.id, 'delete', 'organization.remove');
      res.json(json(await organizations.remove(params.id, auditContextOf(req))));
    },
  );
}
