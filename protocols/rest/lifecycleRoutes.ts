// After issuance: revoke (by id or by serial number), suspend (certificateHold) and reinstate,
// rekey (a new key for the same names) and replace (a new CSR for the same names).
import { X509Certificate } from 'node:crypto';
import type { Request } from 'express';
import { z } from 'zod';
import { AUDIT } from '../../src/audit/actions.js';
import { listScope, type AuthzAction } from '../../src/auth/authorize.js';
import { AppError, badRequest, conflict, notFound, unprocessable } from '../../src/core/errors.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { parseRevocationReason } from '../../src/core/revocationService.js';
import type { CertificateRecord } from '../../src/core/types.js';
import { CsrError, parseCsr } from '../../src/pki/csr.js';
import { namesOfCertificate } from '../../src/pki/names.js';
import { serialFromText } from '../../src/pki/serial.js';
import { readProductTemplate } from '../../src/policy/productSchema.js';
import { auditContextOf, authorize, authorizedCertificate, certificateResource, principalOfRequest, requirePermission } from './auth.js';
import { issueAndAnswer, type IssueOrder } from './issuance.js';
import { caPassphrase, csrPem, IDEMPOTENCY_HEADER, validityDays } from './issueFields.js';
import { keyAlgorithmInput } from './keyAlgorithm.js';
import { issuedCertificate, keySourceOf, managedKeyLike } from './followedCertificate.js';
import { idempotencyKeyOf } from './idempotencyKey.js';
import type { RestRoutes } from './route.js';
import { idParams, issuedSchema, pendingSchema } from './schemas.js';
import { revokedJson } from './serialize.js';

const revokedCertificateSchema = z.object({
  id: z.string(),
  common_name: z.string().nullable(),
  serial_number: z.string(),
  revoked_at: z.string().nullable(),
  revocation_reason: z.string().nullable(),
  invalidity_date: z.string().nullable(),
});

const revokedSchema = z.object({ message: z.string(), certificate: revokedCertificateSchema });

/** A rekey or replacement: the new certificate, and what became of the original when asked to revoke it. */
const followUpSchema = issuedSchema.extend({
  original: revokedCertificateSchema
    .extend({ revocation_error: z.string().optional().describe('why the original could not be revoked; the new certificate stands') })
    .optional()
    .describe('with revokeOriginal: the original, revoked as superseded'),
});

const FOLLOW_UP = {
  201: { description: 'Issued', schema: followUpSchema, headers: { Location: 'the new certificate' } },
  202: {
    description: 'Accepted, waiting for the worker; the original is not revoked (revoke it once the new certificate is issued)',
    schema: pendingSchema,
    headers: { Location: 'the request', 'Retry-After': 'seconds' },
  },
};

const reason = z.string().max(64).optional();
const invalidityDate = z.iso.datetime({ offset: true }).optional();
const revokeOriginal = z.boolean().default(false).describe('once the new certificate is issued, revoke the original as superseded');

/** Serial numbers as people copy them: any case, with or without colons (openssl x509 -serial, browsers). */
const serialParams = z.object({ serial: z.string().min(1).max(200) });

const serialOf = (text: string): string =>
  serialFromText(text, () => badRequest(`"${text.slice(0, 80)}" is not a serial number: give it in hex, with or without colons`));

/** The SubjectPublicKeyInfo of a CSR, or null when it does not parse (the enrollment service then says why). */
function csrSpki(pem: string): Buffer | null {
  try {
    return parseCsr(pem).spkiDer;
  } catch (e) {
    if (e instanceof CsrError) return null;
    throw e;
  }
}

const certificateSpki = (cert: CertificateRecord): Buffer => new X509Certificate(cert.certificatePem).publicKey.export({ type: 'spki', format: 'der' });

export function mountLifecycleRoutes(routes: RestRoutes, core: CoreServices): void {
  const { revocations, queries } = core;

  /** Decided on the certificate (CA, product, requester) before the revocation service is called. */
  const revoke = async (req: Request, certificateId: string, body: { reason?: string | undefined; invalidityDate?: string | undefined }, action: AuthzAction = 'revoke') => {
    const reason = parseRevocationReason(body.reason);
    await authorizedCertificate(core, req, certificateId, action);
    return revocations.revoke(
      certificateId,
      { reason, invalidityDate: body.invalidityDate ? new Date(body.invalidityDate) : null },
      auditContextOf(req),
      () => undefined,
    );
  };

  routes.add(
    {
      method: 'post',
      path: '/certificates/:id/revoke',
      tag: 'Lifecycle',
      summary: 'Revoke a certificate; it shows in its CA\'s CRL and as revoked in OCSP',
      permission: 'revoke on the certificate\'s CA',
      params: idParams,
      body: z.object({ reason, invalidityDate, caPassphrase }).strict(),
      responses: { 200: { description: 'Revoked', schema: revokedSchema } },
    },
    async ({ req, res, params, body }) => {
      res.json({ message: 'certificate revoked', certificate: revokedJson(await revoke(req, params.id, body)) });
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/certificates/serial/:serial/revoke',
      tag: 'Lifecycle',
      summary: 'Revoke a certificate by its serial number (hex, any case, colons allowed)',
      description: 'Looks among the CAs this credential may revoke on; when the serial was issued by more than one of them, `caId` says which (409 otherwise).',
      permission: 'revoke on the certificate\'s CA',
      params: serialParams,
      body: z.object({ caId: z.string().min(1).max(200).optional(), reason, invalidityDate, caPassphrase }).strict(),
      responses: { 200: { description: 'Revoked', schema: revokedSchema } },
    },
    async ({ req, res, params, body }) => {
      const serial = serialOf(params.serial);
      let cert: CertificateRecord | undefined;
      if (body.caId) {
        await requirePermission(core, req, 'revoke', body.caId);
        cert = await queries.certificateBySerial(body.caId, serial);
        if (!cert) throw notFound(`CA ${body.caId} issued no certificate with serial ${serial}`);
      } else {
        const permitted = listScope(principalOfRequest(req), 'revoke').caIds;
        if (permitted !== '*' && permitted.length === 0) await requirePermission(core, req, 'revoke', '*');
        const caIds = permitted === '*' ? (await queries.caList()).map((ca) => ca.id) : permitted;
        const found = (await Promise.all(caIds.map((caId) => queries.certificateBySerial(caId, serial)))).filter((c): c is CertificateRecord => c !== undefined);
        if (found.length > 1) {
          throw conflict(`serial ${serial} was issued by more than one CA (${found.map((c) => c.caId).join(', ')}): say which with caId`);
        }
        cert = found[0];
        if (!cert) throw notFound(`no certificate with serial ${serial} on a CA this credential may revoke on`);
      }
      res.json({ message: 'certificate revoked', certificate: revokedJson(await revoke(req, cert.id, body)) });
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/certificates/:id/suspend',
      tag: 'Lifecycle',
      summary: 'Suspend a certificate: revoked with reason certificateHold until reinstated',
      permission: 'revoke on the certificate\'s CA',
      params: idParams,
      body: z.object({ caPassphrase }).strict(),
      responses: { 200: { description: 'On hold', schema: revokedSchema } },
    },
    async ({ req, res, params }) => {
      const existing = await queries.certificateById(params.id);
      // Holding it again would only move its revocation date.
      if (existing?.revocationReason === 'certificateHold') {
        await authorize(core, req, 'suspend', await certificateResource(core, existing));
        throw conflict(`certificate ${params.id} is already on hold`);
      }
      res.json({ message: 'certificate suspended', certificate: revokedJson(await revoke(req, params.id, { reason: 'certificateHold' }, 'suspend')) });
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/certificates/:id/reinstate',
      tag: 'Lifecycle',
      summary: 'Lift a certificateHold',
      permission: 'revoke on the certificate\'s CA',
      params: idParams,
      responses: { 200: { description: 'Reinstated', schema: revokedSchema } },
    },
    async ({ req, res, params }) => {
      await authorizedCertificate(core, req, params.id, 'suspend', AUDIT.certificateReinstate);
      const cert = await revocations.reinstate(params.id, auditContextOf(req), () => undefined);
      res.json({ message: 'certificate reinstated', certificate: revokedJson(cert) });
    },
  );

  /**
   * What rekey and replace share: the original's product, names and fields, and, asked to, its
   * revocation as superseded once the new certificate exists.
   */
  const followUp = async (req: Request, original: CertificateRecord, wantsRevocation: boolean): Promise<Omit<IssueOrder, 'source' | 'validityDays' | 'idempotencyKey'>> => {
    if (wantsRevocation) {
      await authorize(core, req, 'revoke', await certificateResource(core, original));
      const product = await core.enrollments.resolveProduct({ id: original.productId });
      if (readProductTemplate(product.template)?.requiresApproval !== false) {
        throw unprocessable(`product ${product.name} holds requests for approval, so the original cannot be revoked in this call: leave revokeOriginal out and revoke it once the new certificate is issued`);
      }
    }
    return {
      product: { id: original.productId },
      constraints: [{ kind: 'exactNames', names: namesOfCertificate(original) }],
      customFields: original.customFields,
      owner: original.owner,
      notes: original.notes,
      supersedes: original.id,
      ...(wantsRevocation ? { onIssued: () => revokeSuperseded(req, original) } : {}),
    };
  };

  /** Never throws: the new certificate (and a managed key, shown once) must reach the caller whatever happens here. */
  const revokeSuperseded = async (req: Request, original: CertificateRecord): Promise<Record<string, unknown>> => {
    try {
      return { original: revokedJson(await revoke(req, original.id, { reason: 'superseded' })) };
    } catch (e) {
      const current = (await queries.certificateById(original.id).catch(() => undefined)) ?? original;
      // Revoked already (a replayed request, or revoked for another reason before): nothing is missing.
      if (current.revokedAt && current.revocationReason !== 'certificateHold') return { original: revokedJson(current) };
      const why = e instanceof AppError ? e.message : 'the original could not be revoked; revoke it with POST /v1/certificates/:id/revoke';
      if (!(e instanceof AppError)) core.log.error({ err: e, certificate: original.id }, 'revoking a superseded certificate failed');
      return { original: { ...revokedJson(current), revocation_error: why } };
    }
  };

  routes.add(
    {
      method: 'post',
      path: '/certificates/:id/rekey',
      tag: 'Lifecycle',
      summary: 'Rekey: a new certificate with a new key for the same subject, names, product and fields',
      description:
        'A managed original gets a new key pair (of `keyAlgorithm`, by default the original\'s). One issued from a CSR needs `csrPem`, for a key other than the original\'s. With `revokeOriginal`, the original is revoked as superseded once the new certificate is issued.',
      permission: 'issue on the certificate\'s CA (and revoke, with revokeOriginal)',
      params: idParams,
      body: z
        .object({ keyAlgorithm: keyAlgorithmInput.optional(), csrPem: csrPem.optional(), validityDays: validityDays.optional(), revokeOriginal, caPassphrase })
        .strict()
        .refine((b) => !(b.keyAlgorithm && b.csrPem), { message: 'keyAlgorithm is for a key certgate generates; a CSR brings its own key', path: ['keyAlgorithm'] }),
      headers: IDEMPOTENCY_HEADER,
      responses: FOLLOW_UP,
    },
    async ({ req, res, params, body }) => {
      const original = await issuedCertificate(core, params.id);
      await authorize(core, req, 'rekey', await certificateResource(core, original));
      if (body.csrPem) {
        const spki = csrSpki(body.csrPem);
        if (spki && spki.equals(certificateSpki(original))) throw unprocessable('the CSR carries the certificate\'s current key: a rekey needs a new key pair');
      } else if ((await keySourceOf(core, original)) !== 'managed') {
        throw unprocessable('csrPem is required to rekey a certificate issued from a CSR (certgate does not hold its key)');
      }
      const shared = await followUp(req, original, body.revokeOriginal);
      await issueAndAnswer(
        core,
        req,
        res,
        {
          ...shared,
          source: body.csrPem ? { csrPem: body.csrPem } : { managed: managedKeyLike(original, body.keyAlgorithm) },
          validityDays: body.validityDays ?? null,
          idempotencyKey: idempotencyKeyOf(req.get('Idempotency-Key')),
        },
        'certificate rekeyed',
      );
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/certificates/:id/replace',
      tag: 'Lifecycle',
      summary: 'Replace: a certificate from a new CSR under the same product, for the same names, keeping the fields',
      description: 'With `revokeOriginal`, the original is revoked as superseded once the new certificate is issued.',
      permission: 'issue on the certificate\'s CA (and revoke, with revokeOriginal)',
      params: idParams,
      body: z.object({ csrPem, validityDays: validityDays.optional(), revokeOriginal, caPassphrase }).strict(),
      headers: IDEMPOTENCY_HEADER,
      responses: FOLLOW_UP,
    },
    async ({ req, res, params, body }) => {
      const original = await issuedCertificate(core, params.id);
      await authorize(core, req, 'replace', await certificateResource(core, original));
      const shared = await followUp(req, original, body.revokeOriginal);
      await issueAndAnswer(
        core,
        req,
        res,
        { ...shared, source: { csrPem: body.csrPem }, validityDays: body.validityDays ?? null, idempotencyKey: idempotencyKeyOf(req.get('Idempotency-Key')) },
        'certificate replaced',
      );
    },
  );
}
