// One issuance path for every front-end that takes a REST credential (REST, and MCP): a CSR from
// the caller, or a key pair and CSR made here (managed mode, the key escrowed when the product
// says so), decided by the one authorization decision, into the enrollment service, and the
// outcome once the worker has settled the request. Each front-end renders the outcome its way.
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import { may } from '../auth/authorize.js';
import { buildCsr } from '../pki/csrBuilder.js';
import { keyGenSpec } from '../pki/keys.js';
import { readProductTemplate } from '../policy/productSchema.js';
import type { Caller } from './access.js';
import type { Outcome, ProductRef } from './enrollmentService.js';
import { AppError, conflict, forbidden, notFound, refused, unprocessable } from './errors.js';
import type { CoreServices } from './protocol.js';
import { SETTLED_STATUSES } from './requestStatus.js';
import { KEY_ALGORITHMS, type CertificateRecord, type Constraint, type CustomFieldValues, type KeyAlgorithm, type ProductRecord, type ProductTemplate } from './types.js';

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
}

export interface IssueOptions {
  /** The request's protocol (REST's requests say 'rest', also through the console). */
  protocol: string;
  /**
   * Managed mode only where the product escrows the key: a front-end that never hands a private
   * key out (MCP) would otherwise make a certificate whose key is lost at once.
   */
  escrowedKeysOnly?: boolean;
}

export interface Issued {
  outcome: Outcome;
  /** Managed mode: the key generated here, for a front-end that hands it out once (REST). */
  privateKeyPem?: string;
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

/** The names of key algorithms in refusals: the spelling each front-end answers in. */
export type AlgorithmSpelling = (alg: string) => string;

function checkManagedAlgorithm(product: ProductRecord, template: ProductTemplate, alg: KeyAlgorithm, spell: AlgorithmSpelling): void {
  const allowed = template.keyAlgorithms;
  if (!allowed.includes(alg)) {
    throw refused('unprocessable', {
      code: 'badKey',
      rule: 'keyAlgorithms',
      detail: `product ${product.name} does not issue ${spell(alg)} keys (it issues ${allowed.map(spell).join(', ')})`,
    });
  }
}

/**
 * Decides (a refusal audited before anything is generated or stored), generates the key in
 * managed mode, submits, and waits up to issueWaitMs for the worker. The caller has counted the
 * request against the credential's issuance limit.
 */
export async function issueCertificate(core: CoreServices, caller: Caller, order: IssueOrder, options: IssueOptions, spell: AlgorithmSpelling = (a) => a): Promise<Issued> {
  const { credential, principal } = caller;
  const issuing = (p: ProductRecord) => ({ kind: 'product' as const, id: p.id, caId: p.caId, productId: p.id, requester: principal.as });
  const sameCa = (p: ProductRecord): void => {
    if (order.caId !== undefined && order.caId !== p.caId) throw new AppError('bad_request', `product ${p.name} does not issue from CA ${order.caId}`);
  };
  const resolved = await core.enrollments.resolveProduct(order.product);
  sameCa(resolved);
  await core.authz.require(principal, 'issue', issuing(resolved), caller.audit);
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
    if (options.escrowedKeysOnly && !template.escrowKeys) {
      throw unprocessable(`product ${product.name} does not escrow keys, so a key generated here could never be handed out: send a CSR instead (csr mode), or use a product that escrows keys`);
    }
    checkManagedAlgorithm(product, template, order.source.managed.keyAlgorithm, spell);
    const key = await generateKey(order.source.managed.keyAlgorithm);
    csrPem = managedCsr(key, order.source.managed);
    if (!options.escrowedKeysOnly) privateKeyPem = key.export({ type: 'pkcs8', format: 'pem' }) as string;
    if (template.escrowKeys) escrowedKey = core.sealing.sealKey(key);
  } else {
    csrPem = order.source.csrPem;
  }

  const idempotencyKey = 'managed' in order.source ? null : order.idempotencyKey;
  const { request, created } = await core.enrollments.submit(
    {
      principal: principal.as,
      actor: credential.id,
      credentialId: credential.id,
      sourceIp: caller.audit.sourceIp ?? null,
      protocol: options.protocol,
      // The front-end has counted it against the credential's issuance limit.
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
  return { outcome, ...(privateKeyPem !== undefined ? { privateKeyPem } : {}) };
}

/** One of our certificates: imported ones are renewed by their own CA (and can be marked renewed). */
export async function issuedCertificate(core: Pick<CoreServices, 'queries'>, certificateId: string): Promise<CertificateRecord> {
  const cert = await core.queries.certificateById(certificateId);
  if (cert) return cert;
  const listed = await core.queries.inventoryById(certificateId);
  if (listed) throw unprocessable(`certificate ${certificateId} was imported: it is renewed by the CA that issued it (mark it renewed instead)`);
  throw notFound(`certificate ${certificateId} not found`);
}

export async function keySourceOf(core: Pick<CoreServices, 'queries'>, cert: CertificateRecord): Promise<'csr' | 'managed'> {
  const request = cert.requestId ? await core.queries.requestById(cert.requestId) : undefined;
  return request?.details.keySource ?? 'csr';
}

/** A managed key for the same names as `cert`, of its key algorithm unless another is asked for. */
export function managedKeyLike(cert: CertificateRecord, keyAlgorithm?: KeyAlgorithm): ManagedKey {
  const own = KEY_ALGORITHMS.find((a) => a === cert.keyAlgorithm);
  const alg = keyAlgorithm ?? own;
  if (!alg) throw unprocessable(`certificate ${cert.id} has a key (${cert.keyAlgorithm}) certgate does not generate; renew it with a CSR`);
  return { commonName: cert.commonName ?? cert.sanDns[0] ?? cert.sanIp[0] ?? '', sanDns: cert.sanDns, sanIp: cert.sanIp, keyAlgorithm: alg };
}
