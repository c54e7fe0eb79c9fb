// The one way into issuance for every front-end. A front-end authenticates its caller into a
// Grant (who, through which protocol, under which product, within which limits); submit() turns a
// CSR into a stored, queued EnrollmentRequest, and waitForOutcome() lets a waiting front-end answer.
import { createHash } from 'node:crypto';
import { AUDIT, CLI_ACTOR, SYSTEM_ACTOR } from '../audit/actions.js';
import { HOUR_MS, MINUTE_MS, type Limit, type RequestLimits } from '../auth/requestLimits.js';
import { CsrError, parseCsr, type ParsedCsr } from '../pki/csr.js';
import type { ParsedCsrHandoff } from '../pki/parsedCsrHandoff.js';
import { storedRequestPem } from '../pki/storedRequest.js';
import type { Catalogue } from './protocol.js';
import type { SignatureVerifier } from '../pki/verifyPool.js';
import { precheckNames } from '../policy/decide.js';
import type { RequestedNames } from '../policy/names.js';
import { customFieldProblems } from '../policy/customFields.js';
import { parseProductTemplate, readProductTemplate } from '../policy/productSchema.js';
import type { JobQueue } from '../queue/types.js';
import type { Store } from '../store/types.js';
import { AppError, conflict, forbidden, notFound, refused, unprocessable } from './errors.js';
import { NO_METRICS, type Metrics } from '../metrics/types.js';
import { newId } from './ids.js';
import { SETTLED_STATUSES } from './requestStatus.js';
import { DependencyUnavailableError } from './unavailable.js';
import { DEFAULT_REQUEST_DETAILS, type AuditContext, type CertificateRecord, type Constraint, type EnrollmentRequest, type ProductRecord, type ProductTemplate, type Protocol, type Rejection, type RequestDetails } from './types.js';

/** How a front-end names the product: by id, by name (an EST/SCEP label, an ACME profile), or a CA's default. */
export type ProductRef = { id: string } | { name: string } | { caId: string };

export interface Grant {
  /** Who asks: `apikey:<id>`, `acme:<account>`, `est:<user>`, ... */
  principal: string;
  /** Who the audit trail names: the credential id (default: the principal). */
  actor?: string;
  /**
   * The credential the caller authenticated with, when the protocol has one (ACME EAB, EST Basic,
   * a SCEP challenge): issuance is limited per credential as well as per principal, so that one
   * credential behind many ACME accounts or device keys still has one limit.
   */
  credentialId?: string | null;
  /** Where the request came from, for the audit trail. */
  sourceIp?: string | null;
  protocol: Protocol;
  product: ProductRef;
  /** Limits the credential carries; stored on the request and enforced by the worker. */
  constraints?: Constraint[];
  /** Throws (forbidden) when the caller may not issue under this product. Runs before any write. */
  authorize?: (product: ProductRecord) => void;
  /**
   * Issuances a minute under the product through this protocol, whatever the credential (0: no
   * limit): SCEP's, whose device keys and one-time challenges are free to make while the product is not.
   */
  productPerMinute?: number;
  /**
   * The front-end has already counted this issuance against limits of its own (REST's middleware
   * counts issuances per credential): the core's per-requester and per-credential limits then
   * leave it alone, so that one issuance is not counted twice.
   */
  limitedByProtocol?: boolean;
}

export interface SubmitOptions {
  validityDays?: number | null;
  idempotencyKey?: string | null;
  /** The protocol's own id (SCEP transactionID): a re-sent request finds the first one. */
  transactionId?: string | null;
  /** Names the protocol has already validated (ACME: the order's identifiers): the CSR must ask for exactly these. */
  identifiers?: string[];
  /** What the request carries besides its CSR; custom fields are checked against the product's. */
  details?: Partial<RequestDetails>;
  /** How long an idempotency key is kept; an older request's key is freed and a new request made. Default: forever. */
  idempotencyTtlMs?: number;
}

/** Issuance limits the core applies to every protocol that does not count its own (Grant.limitedByProtocol). */
export interface IssuanceLimits {
  counter: RequestLimits;
  /** Per principal and per credential (0: no limit). */
  perMinute: number;
  perHour: number;
}

export type NameAuthorization = { ok: true } | { ok: false; rejection: Rejection } | { ok: 'pending'; detail: string };
/** A protocol's say on whether this request may carry these names; consulted by the worker. */
export type NameAuthorizer = (request: EnrollmentRequest, names: RequestedNames) => Promise<NameAuthorization>;

export type Outcome =
  | { state: 'issued'; request: EnrollmentRequest; certificate: CertificateRecord }
  | { state: 'pending'; request: EnrollmentRequest; retryAfterS: number }
  | { state: 'rejected'; request: EnrollmentRequest; rejection: Rejection }
  | { state: 'failed'; request: EnrollmentRequest };

// Products change rarely and only through an operator; a few seconds of staleness across
// processes is the price of not reading them on every request.

/** The product a protocol route without a label issues under (`init` creates it). */
export const DEFAULT_PRODUCT = 'default';

/** How often a front-end waiting for an outcome reads the store besides listening to the queue. */
export const OUTCOME_RECHECK_MS = 1_000;

/** What submit() takes: PEM text, DER bytes, or a CSR the front-end has parsed already (with parseCsr). */
export type CsrInput = string | Buffer | ParsedCsr;

function parseCsrOrRefuse(csr: CsrInput): ParsedCsr {
  if (typeof csr !== 'string' && !Buffer.isBuffer(csr)) return csr;
  try {
    return parseCsr(csr);
  } catch (e) {
    if (e instanceof CsrError) throw refused('bad_request', { code: 'badCsr', rule: 'csr', detail: e.message });
    throw e;
  }
}

/** Everything that decides the certificate, hashed: an idempotent replay must match it exactly. */
function fingerprintOf(parts: {
  productId: string;
  csrDer: Buffer;
  validityDays: number | null;
  constraints: Constraint[];
  transactionId: string | null;
  details: RequestDetails;
}): string {
  const { customFields, owner, notes, supersedes } = parts.details;
  const fields: unknown[] = [parts.productId, parts.csrDer.toString('base64'), parts.validityDays, parts.constraints, parts.transactionId];
  // Appended only when set, so that requests stored before these existed keep their fingerprints.
  if (Object.keys(customFields).length > 0 || owner !== null || notes !== null || supersedes !== null) fields.push(customFields, owner, notes, supersedes);
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

export class EnrollmentService {
  // Every submit checks custom fields against the template; the product list hands out the same
  // records until it is read again, so each is validated once rather than once per request.
  private readonly templates = new WeakMap<ProductRecord, ProductTemplate | null>();

  constructor(
    private readonly store: Store,
    private readonly queue: JobQueue,
    private readonly verifier: SignatureVerifier,
    private readonly limits?: IssuanceLimits,
    private readonly metrics: Metrics = NO_METRICS,
    /** Set where this process runs the worker too: the CSR parsed here is handed to it. */
    private readonly parsedCsrs?: ParsedCsrHandoff,
    /** The product list front-ends read (the runtime's catalogue cache); by default the store's. */
    private readonly catalogue: Pick<Catalogue, 'products'> = { products: () => store.products.list() },
    /** Why a CA cannot sign now (its token is gone), or null; asked only about a request the worker could not settle. */
    private readonly caReadiness: (caId: string) => Promise<{ dependency: string; problem: string } | null> = () => Promise.resolve(null),
  ) {}

  /** A product from the cached list, else from the store (one created since the list was read). */
  private async findProduct(match: (p: ProductRecord) => boolean): Promise<ProductRecord | undefined> {
    return (await this.catalogue.products()).find(match) ?? (await this.store.products.list()).find(match);
  }

  /**
   * The product a protocol route's label names (ACME's directory, EST's and SCEP's paths); without
   * a label, the product named `default`, else the first one. undefined when there is none, for
   * the protocol to answer in its own form.
   */
  async productForLabel(label: string | undefined): Promise<ProductRecord | undefined> {
    if (label !== undefined) return this.findProduct((p) => p.name === label);
    return (await this.findProduct((p) => p.name === DEFAULT_PRODUCT)) ?? this.findProduct(() => true);
  }

  async resolveProduct(ref: ProductRef): Promise<ProductRecord> {
    if ('id' in ref) {
      const product = await this.findProduct((p) => p.id === ref.id);
      if (!product) throw notFound(`product ${ref.id} not found`);
      return product;
    }
    if ('name' in ref) {
      const product = await this.findProduct((p) => p.name === ref.name);
      if (!product) throw notFound(`no product named "${ref.name}"`);
      return product;
    }
    // A CA's default product is the first one created for it (`init` creates one per issuing CA).
    const product = await this.findProduct((p) => p.caId === ref.caId);
    if (!product && !(await this.store.cas.get(ref.caId))) throw notFound(`CA ${ref.caId} not found`);
    if (!product) throw unprocessable(`CA ${ref.caId} has no product to issue under; create one with "certgate product create"`);
    return product;
  }

  /**
   * The product's name rules alone, for a front-end that wants to refuse early (ACME new-order).
   * The worker applies them again, with everything else, before it signs.
   */
  async precheck(ref: ProductRef, identifiers: readonly string[]): Promise<Rejection | null> {
    const product = await this.resolveProduct(ref);
    return precheckNames(parseProductTemplate(product.template), identifiers);
  }

  async submit(grant: Grant, csrInput: CsrInput, o: SubmitOptions = {}): Promise<{ request: EnrollmentRequest; created: boolean }> {
    const product = await this.resolveProduct(grant.product);
    grant.authorize?.(product);
    try {
      return await this.submitUnder(product, grant, csrInput, o);
    } catch (e) {
      // Refused before anything was stored (a bad CSR, a limit): the worker never sees these.
      if (e instanceof AppError && (e.rejection || e.kind === 'rate_limited')) this.metrics.request(grant.protocol, product.name, 'refused');
      throw e;
    }
  }

  private async submitUnder(product: ProductRecord, grant: Grant, csrInput: CsrInput, o: SubmitOptions): Promise<{ request: EnrollmentRequest; created: boolean }> {
    const csr = parseCsrOrRefuse(csrInput);
    if (!(await this.verifySignature(csr))) {
      throw refused('bad_request', { code: 'badCsr', rule: 'proofOfPossession', detail: 'CSR signature does not verify: the request was not signed by the key it contains' });
    }
    const constraints: Constraint[] = [...(grant.constraints ?? [])];
    if (o.identifiers) constraints.push({ kind: 'exactNames', names: o.identifiers });
    const validityDays = o.validityDays ?? null;
    const transactionId = o.transactionId ?? null;
    const details: RequestDetails = { ...DEFAULT_REQUEST_DETAILS, ...o.details };
    // A template this version refuses is left to the worker, which rejects the request saying why.
    const fieldProblems = customFieldProblems(this.templateOf(product)?.customFields ?? [], details.customFields);
    if (fieldProblems.length > 0) {
      throw refused('unprocessable', { code: 'policy', rule: 'customFields', detail: fieldProblems.join('; ') });
    }

    await this.countIssuance(grant, product, transactionId);

    const fingerprint = fingerprintOf({ productId: product.id, csrDer: csr.der, validityDays, constraints, transactionId, details });
    const id = newId();
    const csrPem = storedRequestPem(csr);
    const { request, created } = await this.store.requests.insert(
      {
        id,
        productId: product.id,
        caId: product.caId,
        requester: grant.principal,
        credentialId: grant.credentialId ?? null,
        protocol: grant.protocol,
        csrPem,
        validityDays,
        idempotencyKey: o.idempotencyKey ?? null,
        transactionId,
        constraints,
        fingerprint,
        details,
      },
      {
        actor: grant.actor ?? grant.principal,
        protocol: grant.protocol,
        sourceIp: grant.sourceIp ?? null,
        action: AUDIT.requestSubmit,
        target: id,
        outcome: 'success',
        detail: { product: product.id, ca: product.caId, requester: grant.principal, ...(validityDays !== null ? { validityDays } : {}) },
      },
    );
    if (!created && o.idempotencyKey && o.idempotencyTtlMs !== undefined) {
      const createdBefore = new Date(Date.now() - o.idempotencyTtlMs);
      if (request.createdAt < createdBefore && (await this.store.requests.releaseIdempotencyKey(request.id, createdBefore))) {
        return this.submit(grant, csrInput, o);
      }
    }
    if (!created && request.fingerprint !== fingerprint) {
      throw unprocessable(`this ${o.idempotencyKey ? 'idempotency key' : 'transaction id'} was already used for a different request`);
    }
    // Re-enqueueing a replayed request that is still queued is harmless (the queue dedupes) and
    // heals a request whose job was lost.
    if (request.status === 'queued') {
      if (created) this.parsedCsrs?.put(request.id, csrPem, csr);
      await this.queue.enqueue(request.id);
    }
    return { request, created };
  }

  /**
   * Counts a new request against its principal's, its credential's and (Grant.productPerMinute) its product's
   * issuance limits, and throws rate_limited past one. A re-sent request (same protocol
   * transaction id) is the same request, answered as before and not counted again. A front-end
   * that counts issuances itself says so (Grant.limitedByProtocol). The CLI is an operator
   * holding the database and the master key: a limit there would guard nothing and stop bulk work.
   */
  private async countIssuance(grant: Grant, product: ProductRecord, transactionId: string | null): Promise<void> {
    const limits = this.limits;
    if (!limits || grant.limitedByProtocol || grant.protocol === 'cli') return;
    if (transactionId !== null && (await this.store.requests.findByTransaction(grant.principal, transactionId))) return;
    const by = { actor: grant.actor ?? grant.principal, protocol: grant.protocol, sourceIp: grant.sourceIp ?? null };
    const per = (who: string): Limit[] => [
      { bucket: 'issue', limit: limits.perMinute, windowMs: MINUTE_MS, what: `issuances a minute for this ${who}` },
      { bucket: 'issue-hour', limit: limits.perHour, windowMs: HOUR_MS, what: `issuances an hour for this ${who}` },
    ];
    await limits.counter.enforce(`issue:${grant.principal}`, per('requester'), by);
    if (grant.credentialId) await limits.counter.enforce(`issue:credential:${grant.credentialId}`, per('credential'), by);
    if (grant.productPerMinute !== undefined) {
      const what = `${grant.protocol.toUpperCase()} issuances a minute under this product`;
      await limits.counter.enforce(`issue:product:${product.id}`, [{ bucket: grant.protocol, limit: grant.productPerMinute, windowMs: MINUTE_MS, what }], by);
    }
  }

  private templateOf(product: ProductRecord): ProductTemplate | null {
    let template = this.templates.get(product);
    if (template === undefined) this.templates.set(product, (template = readProductTemplate(product.template)));
    return template;
  }

  /** A signature algorithm the verifier does not know is the request's fault, like a bad signature. */
  private async verifySignature(csr: ParsedCsr): Promise<boolean> {
    try {
      return await this.verifier.verify(csr);
    } catch (e) {
      if (e instanceof CsrError) throw refused('bad_request', { code: 'badCsr', rule: 'signatureAlgorithm', detail: e.message });
      throw e;
    }
  }

  /** A request this principal sent under a protocol transaction id, for polls that carry no CSR. */
  find(principal: string, transactionId: string): Promise<EnrollmentRequest | undefined> {
    return this.store.requests.findByTransaction(principal, transactionId);
  }

  /**
   * Waits until the worker has settled the request (or the timeout passes) and says where it stands.
   * The queue's announcement normally ends the wait at once. It can be lost (Redis restarted
   * without persistence and forgot the job, the events stream was cut): the store is read again
   * every `recheckMs` as well, so a lost announcement costs at most about that long.
   */
  async waitForOutcome(request: EnrollmentRequest, timeoutMs: number, recheckMs = OUTCOME_RECHECK_MS): Promise<Outcome> {
    let current = request;
    const deadline = Date.now() + timeoutMs;
    while (!SETTLED_STATUSES.includes(current.status)) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const outcome = await this.queue.waitFor(current.id, Math.min(left, recheckMs));
      current = (await this.store.requests.get(current.id)) ?? current;
      // The job ended but the request is still to do (the queue retries it, or it was handed
      // back): keep waiting, without asking the queue in a tight loop.
      if (outcome !== 'timeout' && !SETTLED_STATUSES.includes(current.status)) {
        await this.throwIfCaDown(current);
        await new Promise((resolve) => setTimeout(resolve, Math.min(recheckMs, Math.max(0, deadline - Date.now()))));
        current = (await this.store.requests.get(current.id)) ?? current;
      }
    }
    if (current.status === 'queued') await this.throwIfCaDown(current);
    return this.outcomeOf(current);
  }

  /**
   * A request the worker cannot sign because its CA cannot (a token that is gone) is not "pending":
   * the caller is told the CA is unavailable (REST 503 with Retry-After). The request stays queued
   * and is issued once the CA can sign again.
   */
  private async throwIfCaDown(request: EnrollmentRequest): Promise<void> {
    if (request.status !== 'queued') return;
    const down = await this.caReadiness(request.caId);
    if (down) throw new DependencyUnavailableError('ca', `${down.dependency}: ${down.problem} (request ${request.id} stays queued)`);
  }

  async outcomeOf(request: EnrollmentRequest): Promise<Outcome> {
    switch (request.status) {
      case 'issued': {
        const certificate = await this.store.certificates.get(request.certificateId as string);
        if (!certificate) throw new Error(`issued request ${request.id} has no certificate`);
        return { state: 'issued', request, certificate };
      }
      case 'rejected':
        return { state: 'rejected', request, rejection: request.rejection ?? { code: 'policy', rule: 'unknown', detail: request.statusReason ?? 'rejected' } };
      case 'failed':
        return { state: 'failed', request };
      // Both wait for a person (an approver; a domain holder placing a token or TXT record, then
      // asking for a check): minutes, not the seconds a request in the worker's hands takes.
      case 'pending_approval':
      case 'pending_dcv':
        return { state: 'pending', request, retryAfterS: 60 };
      default:
        return { state: 'pending', request, retryAfterS: 2 };
    }
  }

  /**
   * Four eyes: the approver (`approver`, as requests name their requester, e.g. `apikey:<id>`; or
   * the audit actor) is never the requester, unless the product sets selfApproval. The CLI acts
   * as `cli` and sends no requests, so it cannot tell operators apart and is not held to it.
   */
  async approve(requestId: string, by: AuditContext, approver?: string): Promise<EnrollmentRequest> {
    const pending = await this.store.requests.get(requestId);
    // `<protocol>:<id>` names the credential `<id>` that the audit trail calls the actor (the CLI and
    // the worker are no credential: an EST user named "cli" is not the operator at the console).
    const credentialActor = by.actor !== CLI_ACTOR && by.actor !== SYSTEM_ACTOR;
    const sameParty = (requester: string) =>
      requester === approver || (credentialActor && (requester === by.actor || requester.slice(requester.indexOf(':') + 1) === by.actor));
    if (pending && sameParty(pending.requester)) {
      const product = await this.store.products.get(pending.productId);
      if (readProductTemplate(product?.template)?.selfApproval !== true) {
        await this.store.audit.append({ ...by, action: AUDIT.requestApprove, target: requestId, outcome: 'refused', detail: { reason: 'fourEyes', requester: pending.requester } });
        throw forbidden('four eyes: a request is approved by someone other than its requester (the product does not allow self-approval)');
      }
    }
    const request = await this.store.requests.approve(requestId, by.actor, {
      ...by,
      action: AUDIT.requestApprove,
      target: requestId,
      outcome: 'success',
    });
    if (!request) throw await this.notIn(requestId, 'pending_approval');
    await this.queue.enqueue(requestId);
    return request;
  }

  /** An operator declines a request that waits for approval. */
  async reject(requestId: string, reason: string, by: AuditContext): Promise<EnrollmentRequest> {
    const rejection: Rejection = { code: 'policy', rule: 'operator', detail: reason };
    const request = await this.store.requests.transition(requestId, ['pending_approval'], 'rejected', {
      reason,
      rejection,
      audit: { ...by, action: AUDIT.requestDecline, target: requestId, outcome: 'success', detail: { reason } },
    });
    if (!request) throw await this.notIn(requestId, 'pending_approval');
    return request;
  }

  /** The names a request waited on are validated now: back to the worker (by default the system's doing). */
  async resume(requestId: string, by: AuditContext = { actor: SYSTEM_ACTOR, protocol: 'system', sourceIp: null }): Promise<EnrollmentRequest> {
    const request = await this.store.requests.transition(requestId, ['pending_dcv'], 'queued', {
      reason: null,
      audit: { ...by, action: AUDIT.requestResume, target: requestId, outcome: 'success' },
    });
    if (!request) throw await this.notIn(requestId, 'pending_dcv');
    await this.queue.enqueue(requestId);
    return request;
  }

  private async notIn(requestId: string, status: string): Promise<Error> {
    const existing = await this.store.requests.get(requestId);
    if (!existing) return notFound(`request ${requestId} not found`);
    return conflict(`request ${requestId} is ${existing.status}, not ${status}`);
  }

  /**
   * Re-queues what a dead process left behind: `queued` requests (the in-process queue forgets on
   * exit) and `signing` ones whose lease ran out (their worker died mid-job).
   */
  async requeueStranded(batch = 1000, minAgeMs = 0): Promise<number> {
    const now = Date.now();
    const cutoff = now - minAgeMs;
    const stranded = (await this.store.requests.listByStatus(['queued', 'signing'], batch)).filter((r) =>
      r.status === 'queued' ? r.updatedAt.getTime() <= cutoff : (r.leaseExpiresAt?.getTime() ?? 0) < now,
    );
    for (const r of stranded) await this.queue.enqueue(r.id);
    return stranded.length;
  }
}
