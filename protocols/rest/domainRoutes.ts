// /v1/domains: the domain registry (names a holder proves control of, once, and issues under for a
// while), and the DCV steps of a REST order (/v1/requests/:id/dcv, the certificate's, a recheck).
// Records belong to a holder; the one decision (mayOnHeld in src/auth/authorize.ts) says who acts on them.
import type { Request } from 'express';
import { z } from 'zod';
import { AUDIT } from '../../src/audit/actions.js';
import { heldResource } from '../../src/auth/authorize.js';
import { domainJson } from '../../src/core/domainChallenges.js';
import { conflict, notFound } from '../../src/core/errors.js';
import { recordName } from '../../src/core/domainService.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { DCV_METHODS, HOLDER_PATTERN, holderOfCredential, type DomainRecord, type EnrollmentRequest } from '../../src/core/types.js';
import { auditContextOf, authorize, authorizedCertificate, credentialOf, principalOfRequest, requestResource } from './auth.js';
import { dcvPolicyOf, requestDcvJson } from './requestDcv.js';
import type { RestRoutes } from './route.js';
import { domainSchema, idParams, requestDcvSchema } from './schemas.js';

const method = z.enum(DCV_METHODS);

/** A DNS name (or an IP address, for http-01), as the registry reads it: its refusal names the field. */
const domainName = z
  .string()
  .min(1)
  .max(254)
  .superRefine((n, ctx) => {
    try {
      recordName(n);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: e instanceof Error ? e.message : String(e) });
    }
  });

const holder = z
  .string()
  .min(1)
  .max(300)
  .regex(HOLDER_PATTERN, "user:<name>, group:<name>, credential:<id>, requester:<principal>, or '*'");

const addBody = z.object({ name: domainName, holder: holder.optional() }).strict();
const validateBody = z.object({ method: method.optional() }).strict();

/** The longest ?wait: a validation that needs more answers later, through GET. */
export const MAX_WAIT_SECONDS = 30;
const waitQuery = z.object({ wait: z.coerce.number().int().min(0).max(MAX_WAIT_SECONDS).optional() }).strict();

const listQuery = z
  .object({
    status: domainSchema.shape.status.optional(),
    name: z
      .string()
      .trim()
      .min(1)
      .max(254)
      .transform((n) => n.toLowerCase())
      .optional()
      .describe("the exact name, or every name under it when it starts with '.' (.example.com)"),
    pageSize: z.coerce.number().int().min(1).max(100).default(50),
    after: z.string().min(1).max(200).optional().describe("the previous page's nextCursor"),
  })
  .strict();

const domainResource = (d: DomainRecord) => heldResource('domain', { id: d.id, holder: d.holder, createdBy: d.createdBy });

export function mountDomainRoutes(routes: RestRoutes, core: CoreServices): void {
  /** The record, when the caller may do `action` to it (403, audited, when another holder's). */
  const held = async (req: Request, id: string, action: 'read' | 'issue' | 'delete', tried?: string): Promise<DomainRecord> => {
    const d = await core.domains.get(id);
    if (!d) throw notFound(`domain ${id} not found`);
    await authorize(core, req, action, domainResource(d), tried);
    return d;
  };

  /** Validation runs on the queue; ?wait holds the answer until it ends (or the wait does). */
  const validated = async (record: DomainRecord, wait: number | undefined): Promise<{ status: number; record: DomainRecord }> => {
    if (!wait) return { status: 202, record };
    const after = await core.domains.waitForValidation(record.id, wait * 1000);
    if (!after) throw notFound(`domain ${record.id} was removed while it was validated`);
    return { status: after.status === 'validating' ? 202 : 200, record: after };
  };

  routes.add(
    {
      method: 'post',
      path: '/domains',
      tag: 'Domains',
      summary: 'Add a domain to validate; the answer says what to publish (challenges)',
      description:
        "The record belongs to `holder`: by default the caller's group, else its user, else the credential itself. A non-admin may name only one of its own holders; an admin any, and '*' for the whole deployment. Adding a name the holder already has answers 200 with that record.",
      permission: 'issue on some CA, for one of its own holders (admin: any)',
      body: addBody,
      responses: {
        201: { description: 'Added', schema: domainSchema, headers: { Location: 'the record' } },
        200: { description: 'The holder already had it', schema: domainSchema },
      },
    },
    async ({ req, res, body }) => {
      const credential = credentialOf(req);
      const by = principalOfRequest(req).as;
      const holderOf = body.holder ?? holderOfCredential(credential);
      await authorize(core, req, 'issue', heldResource('domain', { id: 'new', holder: holderOf, createdBy: by }), AUDIT.domainAdd);
      const { domain, created } = await core.domains.add({ name: body.name, holder: holderOf, createdBy: by, source: 'registry' }, auditContextOf(req));
      res.status(created ? 201 : 200).location(`/v1/domains/${domain.id}`).json(domainJson(domain));
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/domains',
      tag: 'Domains',
      summary: "Domain records, oldest first: every one for an admin, else its holders' and the deployment's",
      permission: 'any REST credential (sees its holders\' records)',
      query: listQuery,
      responses: {
        200: {
          description: 'One page',
          schema: z.object({ domains: z.array(domainSchema), pageSize: z.number().int(), nextCursor: z.string().nullable().describe('give it as `after` for the next page; null: the last page') }),
        },
      },
    },
    async ({ req, res, query }) => {
      const credential = credentialOf(req);
      // One more than a page says whether another follows.
      const found = await core.domains.list({
        holders: credential.admin ? ('*' as const) : principalOfRequest(req).holders,
        ...(query.status ? { status: query.status } : {}),
        ...(query.name ? { name: query.name } : {}),
        limit: query.pageSize + 1,
        ...(query.after ? { after: query.after } : {}),
      });
      const page = found.slice(0, query.pageSize);
      const last = page.at(-1);
      res.json({ domains: page.map((d) => domainJson(d)), pageSize: query.pageSize, nextCursor: found.length > query.pageSize && last ? last.id : null });
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/domains/:id',
      tag: 'Domains',
      summary: 'One domain record: status, last validation, what to publish',
      permission: "read on some CA, for a record of one of its holders or of the deployment",
      params: idParams,
      responses: { 200: { description: 'The record', schema: domainSchema } },
    },
    async ({ req, res, params }) => {
      res.json(domainJson(await held(req, params.id, 'read')));
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/domains/:id/validate',
      tag: 'Domains',
      summary: 'Check the published token now (on the queue); 202 with the record validating',
      description: `method: http-01 (the default, or the last one used) or dns-01 (needed for wildcards). With ?wait=<seconds> (up to ${MAX_WAIT_SECONDS}) the answer waits for the outcome: 200 valid or failed (last_error says why), 202 if still validating.`,
      permission: "issue on some CA, for a record of one of its holders (the deployment's: admin); scope own: one it added",
      params: idParams,
      query: waitQuery,
      body: validateBody,
      responses: {
        202: { description: 'Queued (or still validating after the wait)', schema: domainSchema, headers: { Location: 'the record, to poll' } },
        200: { description: 'With ?wait: validated, or failed', schema: domainSchema },
      },
    },
    async ({ req, res, params, query, body }) => {
      await held(req, params.id, 'issue', AUDIT.domainValidate);
      const { status, record } = await validated(await core.domains.validate(params.id, body.method, auditContextOf(req)), query.wait);
      res.status(status).location(`/v1/domains/${record.id}`).json(domainJson(record));
    },
  );

  routes.add(
    {
      method: 'delete',
      path: '/domains/:id',
      tag: 'Domains',
      summary: 'Remove a domain record (requests waiting on it are no longer linked to it)',
      permission: "issue on some CA, for a record of one of its holders (the deployment's: admin); scope own: one it added",
      params: idParams,
      responses: { 204: { description: 'Removed' } },
    },
    async ({ req, res, params }) => {
      await held(req, params.id, 'delete', AUDIT.domainRemove);
      if (!(await core.domains.remove(params.id, auditContextOf(req)))) throw notFound(`domain ${params.id} not found`);
      res.status(204).end();
    },
  );

  /**
   * The request, when the caller may see it (read on it: its requester, or read on its CA; its
   * domain records come with it) and, for a recheck, also issue on it: issue alone on a request is
   * what a new one needs, which would let a credential scoped to its own act on another's.
   */
  const request = async (req: Request, id: string, action: 'read' | 'issue'): Promise<EnrollmentRequest> => {
    const r = await core.queries.requestById(id);
    if (!r) throw notFound(`request ${id} not found`);
    const resource = await requestResource(core, r);
    const tried = action === 'issue' ? AUDIT.domainValidate : undefined;
    await authorize(core, req, 'read', resource, tried);
    if (action === 'issue') await authorize(core, req, 'issue', resource, tried);
    return r;
  };

  const dcvAnswer = async (r: EnrollmentRequest) => ({ request_id: r.id, request_status: r.status, names: await requestDcvJson(core, r) });

  routes.add(
    {
      method: 'get',
      path: '/requests/:id/dcv',
      tag: 'Requests',
      summary: 'Domain control validation of a request: per name, the token, where to publish it, status and last error',
      description: 'Empty for a request whose product does not require DCV or whose names were all covered when it was decided.',
      permission: "the requester, or read on the request's CA",
      params: idParams,
      responses: { 200: { description: 'Per name', schema: requestDcvSchema } },
    },
    async ({ req, res, params }) => {
      res.json(await dcvAnswer(await request(req, params.id, 'read')));
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/certificates/:id/dcv',
      tag: 'Certificates',
      summary: 'Domain control validation of the request that made this certificate',
      permission: "read on the certificate",
      params: idParams,
      responses: { 200: { description: 'Per name', schema: requestDcvSchema } },
    },
    async ({ req, res, params }) => {
      const cert = await authorizedCertificate(core, req, params.id, 'read');
      const r = cert.requestId ? await core.queries.requestById(cert.requestId) : undefined;
      if (!r) throw notFound(`certificate ${params.id} was not issued for a request here (imported): it has no validation`);
      res.json(await dcvAnswer(r));
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/requests/:id/dcv/recheck',
      tag: 'Requests',
      summary: "Validate every name of the request not yet covered, now (on the queue); once all are, it is issued",
      permission: "read on the request (its requester, or read on its CA) and issue on its CA",
      params: idParams,
      body: validateBody,
      responses: { 202: { description: 'Checks queued; the names as they now stand', schema: requestDcvSchema, headers: { Location: 'the request\'s DCV view, to poll' } } },
    },
    async ({ req, res, params, body }) => {
      const r = await request(req, params.id, 'issue');
      if (r.status !== 'pending_dcv') throw conflict(`request ${r.id} is ${r.status}: only a request waiting on domain validation (pending_dcv) is rechecked`);
      const uncovered = (await core.domains.ofRequest(r, await dcvPolicyOf(core, r))).filter((e) => !e.covered);
      // One check per record: names under one domain share it.
      for (const id of new Set(uncovered.map((e) => e.domain.id))) await core.domains.validate(id, body.method, auditContextOf(req));
      res.status(202).location(`/v1/requests/${r.id}/dcv`).json(await dcvAnswer(r));
    },
  );
}
