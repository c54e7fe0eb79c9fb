// One way for every REST call that asks for a certificate (issue, renew, rekey, replace): a CSR
// from the caller, or a key pair and CSR made here (managed mode), into the enrollment service;
// then the answer in Certman's shape once the worker has settled the request (or 202 until then).
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import type { Request, Response } from 'express';
import type { ProductRef } from '../../src/core/enrollmentService.js';
import { AppError, conflict, forbidden, refused } from '../../src/core/errors.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { SETTLED_STATUSES } from '../../src/core/requestStatus.js';
import type { CertificateRecord, Constraint, CustomFieldValues, KeyAlgorithm, ProductRecord, ProductTemplate } from '../../src/core/types.js';
import { buildCsr } from '../../src/pki/csrBuilder.js';
import { keyGenSpec } from '../../src/pki/keys.js';
import { readProductTemplate } from '../../src/policy/productSchema.js';
import { may } from '../../src/auth/authorize.js';
import { authorize as authorizeRest, credentialOf, principalOf, principalOfRequest, sourceIpOf } from './auth.js';
import { certmanKeyAlgorithm } from './keyAlgorithm.js';
import { pendingDcvBlock } from './requestDcv.js';
import { certificateDetailJson, rejectionJson, requestJson } from './serialize.js';

/** Certman keeps an Idempotency-Key for a day. */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;

export interface ManagedKey {
  commonName: string;
  sanDns: string[];
  sanIp: string[];
  keyAlgorithm: KeyAlgorithm;
}

export interface IssueOrder {
  product: ProductRef;
  /** The CA the caller named alongside a product: it must be the product's. */
  caId?: string;
  /** A CSR from the caller, or what certgate generates a key pair and CSR for. */
  source: { csrPem: string } | { managed: ManagedKey };
  validityDays: number | null;
  /** csr mode only: managed mode generates a new key every time, so it cannot be replayed (as in Certman). */
  idempotencyKey: string | null;
  /** Limits beyond the product's (rekey and replace: the names of the certificate they follow). */
  constraints?: Constraint[];
  customFields?: CustomFieldValues;
  owner?: string | null;
  notes?: string | null;
  supersedes?: string | null;
  /**
   * Runs once the certificate is issued, before the answer goes out (rekey and replace: revoking
   * the original); what it returns is added to the 201 answer.
   */
  onIssued?: (certificate: CertificateRecord) => Promise<Record<string, unknown>>;
}

const generate = promisify(generateKeyPair) as (type: 'ec' | 'rsa', options: object) => Promise<{ privateKey: KeyObject; publicKey: KeyObject }>;

async function generateKey(alg: KeyAlgorithm): Promise<KeyObject> {
  const spec = keyGenSpec(alg);
  const { privateKey } = await generate(spec.type, spec.type === 'ec' ? { namedCurve: spec.namedCurve } : { modulusLength: spec.modulusLength });
  return privateKey;
}

/** A DN string value: parseDnString splits on unescaped commas. */
const dnValue = (text: string): string => text.replace(/[\\,]/g, (c) => `\\${c}`);

/** The CSR for a managed key: the common name leads the names when it is one (the product's rules decide the subject). */
function managedCsr(key: KeyObject, m: ManagedKey): string {
  const dns = [...new Set([...(isIP(m.commonName) !== 0 ? [] : [m.commonName.toLowerCase()]), ...m.sanDns.map((d) => d.toLowerCase())])];
  const ip = [...new Set([...(isIP(m.commonName) !== 0 ? [m.commonName] : []), ...m.sanIp])];
  return buildCsr(key, `CN=${dnValue(m.commonName)}`, { dns, ip });
}

/** The product's template, for the checks made before a key is generated. */
function templateOf(product: ProductRecord): ProductTemplate {
  const template = readProductTemplate(product.template);
  if (!template) throw refused('unprocessable', { code: 'policy', rule: 'productTemplate', detail: `product ${product.name} has a template this version of certgate refuses; an operator must fix it` });
  return template;
}

function checkManagedAlgorithm(product: ProductRecord, template: ProductTemplate, alg: KeyAlgorithm): void {
  const allowed = template.keyAlgorithms;
  if (!allowed.includes(alg)) {
    throw refused('unprocessable', {
      code: 'badKey',
      rule: 'keyAlgorithms',
      detail: `product ${product.name} does not issue ${certmanKeyAlgorithm(alg)} keys (it issues ${allowed.map(certmanKeyAlgorithm).join(', ')})`,
    });
  }
}

export async function issueAndAnswer(core: CoreServices, req: Request, res: Response, order: IssueOrder, message?: string): Promise<void> {
  const credential = credentialOf(req);
  const principal = principalOfRequest(req);
  const issuing = (p: ProductRecord) => ({ kind: 'product' as const, id: p.id, caId: p.caId, productId: p.id, requester: principal.as });
  const sameCa = (p: ProductRecord): void => {
    if (order.caId !== undefined && order.caId !== p.caId) throw new AppError('bad_request', `product ${p.name} does not issue from CA ${order.caId}`);
  };
  // Decided (and a refusal audited) before anything is generated or stored.
  const resolved = await core.enrollments.resolveProduct(order.product);
  sameCa(resolved);
  await authorizeRest(core, req, 'issue', issuing(resolved));
  // submit() resolves the product again: the same decision, for the product it settles on.
  const authorize = (p: ProductRecord): void => {
    sameCa(p);
    const decision = may(principal, 'issue', issuing(p));
    if (!decision.ok) throw forbidden(decision.reason);
  };

  let csrPem: string;
  let privateKeyPem: string | undefined;
  let escrowedKey: string | null = null;
  if ('managed' in order.source) {
    // Checked before a key is generated: an RSA-4096 key costs about a second of a core.
    const product = resolved;
    const template = templateOf(product);
    checkManagedAlgorithm(product, template, order.source.managed.keyAlgorithm);
    const key = await generateKey(order.source.managed.keyAlgorithm);
    csrPem = managedCsr(key, order.source.managed);
    privateKeyPem = key.export({ type: 'pkcs8', format: 'pem' }) as string;
    if (template.escrowKeys) escrowedKey = core.sealing.sealKey(key);
  } else {
    csrPem = order.source.csrPem;
  }

  const idempotencyKey = 'managed' in order.source ? null : order.idempotencyKey;
  const { request, created } = await core.enrollments.submit(
    {
      principal: principalOf(credential),
      actor: credential.id,
      credentialId: credential.id,
      sourceIp: sourceIpOf(req),
      protocol: 'rest',
      // rateLimit.ts has counted it against the credential's issuance limit.
      limitedByProtocol: true,
      product: order.product,
      ...(order.constraints ? { constraints: order.constraints } : {}),
      authorize,
    },
    csrPem,
    {
      validityDays: order.validityDays,
      idempotencyKey,
      idempotencyTtlMs: IDEMPOTENCY_TTL_MS,
      details: {
        keySource: 'managed' in order.source ? 'managed' : 'csr',
        escrowedKey,
        customFields: order.customFields ?? {},
        owner: order.owner ?? null,
        notes: order.notes ?? null,
        supersedes: order.supersedes ?? null,
      },
    },
  );
  // A replay whose first request is still being worked on: the first caller will get the answer.
  if (!created && !SETTLED_STATUSES.includes(request.status) && request.status !== 'pending_approval' && request.status !== 'pending_dcv') {
    throw conflict(`a request with this Idempotency-Key is still in progress (request ${request.id}); retry once it has finished`);
  }

  const outcome = await core.enrollments.waitForOutcome(request, core.config.issueWaitMs);
  const withKey = privateKeyPem !== undefined ? { privateKey: privateKeyPem } : {};
  switch (outcome.state) {
    case 'issued': {
      const chain = await core.cas.chainFor(outcome.certificate);
      const notice = outcome.request.statusReason ? { notice: outcome.request.statusReason } : {};
      const extra = order.onIssued ? await order.onIssued(outcome.certificate) : {};
      res
        .status(201)
        .location(`/v1/certificates/${outcome.certificate.id}`)
        .json({
          ...(message ? { message } : {}),
          certificate: { ...certificateDetailJson(outcome.certificate), chain_pem: chain.join('') },
          ...withKey,
          ...notice,
          ...extra,
        });
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
        .json({ request_id: outcome.request.id, ...requestJson(outcome.request), ...(await pendingDcvBlock(core, outcome.request)), ...withKey });
  }
}
