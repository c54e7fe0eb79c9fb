// The REST front-end (Certman-shaped JSON over HTTP, bearer API keys).
import express, { type Router } from 'express';
import { z } from 'zod';
import { can, permittedCas } from '../../src/auth/permissions.js';
import type { ProductRef } from '../../src/core/enrollmentService.js';
import type { CoreServices, ProtocolModule } from '../../src/core/protocol.js';
import { parseRevocationReason } from '../../src/core/revocationService.js';
import { AppError, notFound } from '../../src/core/errors.js';
import { mountAuditRoutes } from './auditRoutes.js';
import { auditContextOf, authenticate, credentialOf, principalOf, refuseSecretsInUrl, requireAdmin, requireIssueUnder, requirePermission, sourceIpOf } from './auth.js';
import { mountCredentialRoutes, mountTokenRoute } from './credentialRoutes.js';
import { caJson, certificateJson, productJson, rejectionJson, requestJson, revokedJson } from './serialize.js';
import { restErrorHandler } from './errors.js';

export const restProtocol: ProtocolModule = {
  name: 'rest',
  mount: (core) => ({ path: '/v1', router: createRestRouter(core) }),
};

const issueBody = z
  .object({
    caId: z.string().min(1).optional(),
    ca_id: z.string().min(1).optional(),
    productId: z.string().min(1).optional(),
    product_id: z.string().min(1).optional(),
    csrPem: z.string().min(1).max(65536).optional(),
    csr_pem: z.string().min(1).max(65536).optional(),
    csr: z.string().min(1).max(65536).optional(),
    validityDays: z.number().int().min(1).max(36500).optional(),
    validity_days: z.number().int().min(1).max(36500).optional(),
  })
  .transform((b) => ({
    caId: b.caId ?? b.ca_id,
    productId: b.productId ?? b.product_id,
    csrPem: b.csrPem ?? b.csr_pem ?? b.csr,
    validityDays: b.validityDays ?? b.validity_days,
  }))
  .refine((b) => b.csrPem, { message: 'csrPem is required', path: ['csrPem'] })
  .refine((b) => b.caId || b.productId, { message: 'give caId or productId', path: ['caId'] });

const listQuery = z.object({
  ca_id: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

export function createRestRouter(core: CoreServices): Router {
  const { queries, cas, enrollments, revocations } = core;
  const issueWaitMs = core.config.issueWaitMs;
  const router = express.Router();
  router.use(express.json({ limit: '256kb' }));
  router.use(refuseSecretsInUrl);
  mountTokenRoute(router, core);
  router.use(authenticate(core));

  router.get('/whoami', (req, res) => {
    const c = credentialOf(req);
    res.json({ id: c.id, name: c.name, type: c.type, admin: c.admin, permissions: c.permissions, products: c.products, created_at: c.createdAt.toISOString() });
  });
  mountCredentialRoutes(router, core);
  mountAuditRoutes(router, core.audit);

  router.get('/cas', async (req, res) => {
    const all = await queries.caList();
    res.json({ cas: all.filter((ca) => can(credentialOf(req), 'read', ca.id)).map((ca) => caJson(ca)) });
  });

  router.get('/cas/:id', async (req, res) => {
    const ca = await queries.caById(req.params.id as string);
    if (!ca) throw notFound(`CA ${req.params.id} not found`);
    requirePermission(req, 'read', ca.id);
    res.json(caJson(ca, true));
  });

  router.get('/cas/:id/chain', async (req, res) => {
    const ca = await queries.caById(req.params.id as string);
    if (!ca) throw notFound(`CA ${req.params.id} not found`);
    requirePermission(req, 'read', ca.id);
    res.type('application/pem-certificate-chain').send((await cas.chainOf(ca.id)).join(''));
  });

  router.get('/products', async (req, res) => {
    const products = await queries.productList();
    res.json({ products: products.filter((p) => can(credentialOf(req), 'read', p.caId)).map(productJson) });
  });

  router.post('/certificates', async (req, res) => {
    const body = issueBody.parse(req.body ?? {});
    const idempotencyKey = req.get('Idempotency-Key') ?? null;
    if (idempotencyKey !== null && (idempotencyKey.length < 1 || idempotencyKey.length > 255)) {
      throw new AppError('bad_request', 'Idempotency-Key must be 1 to 255 characters');
    }
    const credential = credentialOf(req);
    const product: ProductRef = body.productId ? { id: body.productId } : { caId: body.caId as string };
    const { request } = await enrollments.submit(
      {
        principal: principalOf(credential),
        actor: credential.id,
        sourceIp: sourceIpOf(req),
        protocol: 'rest',
        product,
        authorize: (p) => {
          if (body.productId && body.caId && body.caId !== p.caId) throw new AppError('bad_request', `product ${body.productId} does not issue from CA ${body.caId}`);
          requireIssueUnder(req, p);
        },
      },
      body.csrPem as string,
      { validityDays: body.validityDays ?? null, idempotencyKey },
    );
    const outcome = await enrollments.waitForOutcome(request, issueWaitMs);
    switch (outcome.state) {
      case 'issued': {
        const chain = await cas.chainOf(outcome.certificate.caId);
        const notice = outcome.request.statusReason ? { notice: outcome.request.statusReason } : {};
        res.status(201).location(`/v1/certificates/${outcome.certificate.id}`).json({ ...certificateJson(outcome.certificate, chain), ...notice });
        return;
      }
      case 'rejected':
        res.status(422).json({ error: `${outcome.rejection.detail} [rule: ${outcome.rejection.rule}]`, ...rejectionJson(outcome.rejection), request_id: outcome.request.id });
        return;
      case 'failed':
        res.status(500).json({ error: 'issuance failed; the request is recorded as failed', request_id: outcome.request.id });
        return;
      case 'pending':
        res
          .status(202)
          .location(`/v1/requests/${outcome.request.id}`)
          .set('Retry-After', String(outcome.retryAfterS))
          .json({ request_id: outcome.request.id, ...requestJson(outcome.request) });
    }
  });

  router.get('/certificates', async (req, res) => {
    const q = listQuery.parse(req.query);
    if (q.ca_id) requirePermission(req, 'read', q.ca_id);
    // Filtered in the query, so that limit and offset page through what the key may read.
    const readable = permittedCas(credentialOf(req), 'read');
    const caIds = q.ca_id ? [q.ca_id] : readable === '*' ? undefined : readable;
    const certs = await queries.certificateList({ ...(caIds ? { caIds } : {}), limit: q.limit, offset: q.offset });
    res.json({ certificates: certs.map((c) => certificateJson(c)) });
  });

  router.get('/certificates/:id', async (req, res) => {
    const cert = await queries.certificateById(req.params.id as string);
    if (!cert) throw notFound(`certificate ${req.params.id} not found`);
    requirePermission(req, 'read', cert.caId);
    res.json(certificateJson(cert));
  });

  const revokeBody = z.object({
    reason: z.string().max(64).optional(),
    invalidity_date: z.iso.datetime({ offset: true }).optional(),
    invalidityDate: z.iso.datetime({ offset: true }).optional(),
  });

  router.post('/certificates/:id/revoke', async (req, res) => {
    const body = revokeBody.parse(req.body ?? {});
    const invalidity = body.invalidityDate ?? body.invalidity_date;
    const cert = await revocations.revoke(
      req.params.id as string,
      { reason: parseRevocationReason(body.reason), invalidityDate: invalidity ? new Date(invalidity) : null },
      auditContextOf(req),
      (caId) => requirePermission(req, 'revoke', caId),
    );
    res.json({ message: 'certificate revoked', certificate: revokedJson(cert) });
  });

  router.post('/certificates/:id/reinstate', async (req, res) => {
    const cert = await revocations.reinstate(req.params.id as string, auditContextOf(req), (caId) => requirePermission(req, 'revoke', caId));
    res.json({ message: 'certificate reinstated', certificate: revokedJson(cert) });
  });

  router.get('/requests/:id', async (req, res) => {
    const r = await queries.requestById(req.params.id as string);
    if (!r) throw notFound(`request ${req.params.id} not found`);
    if (r.requester !== principalOf(credentialOf(req))) requirePermission(req, 'read', r.caId);
    res.json(requestJson(r));
  });

  router.post('/requests/:id/approve', async (req, res) => {
    requireAdmin(req);
    const r = await enrollments.approve(req.params.id as string, auditContextOf(req));
    res.json(requestJson(r));
  });

  router.post('/requests/:id/reject', async (req, res) => {
    requireAdmin(req);
    const reason = z.object({ reason: z.string().min(1).max(500).default('rejected by an operator') }).parse(req.body ?? {}).reason;
    res.json(requestJson(await enrollments.reject(req.params.id as string, reason, auditContextOf(req))));
  });

  router.use((req, res) => {
    res.status(404).json({ error: `no such endpoint: ${req.method} ${req.baseUrl}${req.path}` });
  });
  router.use(restErrorHandler(core.log));
  return router;
}
