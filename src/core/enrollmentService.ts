// The one way into issuance for every front-end: authenticate first, then submit() turns a CSR
// into a stored, queued EnrollmentRequest, and waitForOutcome() lets a waiting front-end answer.
import { newId } from './ids.js';
import { CsrError, parseCsr } from '../pki/csr.js';
import type { SignatureVerifier } from '../pki/verifyPool.js';
import type { JobQueue } from '../queue/types.js';
import type { Store } from '../store/types.js';
import { badRequest, conflict, notFound, unprocessable } from './errors.js';
import { TtlCache } from './ttlCache.js';
import type { EnrollmentRequest, ProductRecord, Protocol, RequestStatus } from './types.js';

export interface SubmitInput {
  productId?: string | undefined;
  caId?: string | undefined;
  csrPem: string;
  validityDays?: number | null | undefined;
  requester: string;
  protocol: Protocol;
  idempotencyKey?: string | null | undefined;
  /** Throws (forbidden) when the caller may not issue from this CA. Runs before any write. */
  authorize: (caId: string) => void;
}

// Products change rarely and only through an operator; a few seconds of staleness across
// processes is the price of not reading them on every request.
const PRODUCT_CACHE_MS = 5_000;

const SETTLED: readonly RequestStatus[] = ['issued', 'rejected', 'failed', 'pending_approval', 'pending_dcv'];

export class EnrollmentService {
  private readonly products: TtlCache<ProductRecord[]>;

  constructor(
    private readonly store: Store,
    private readonly queue: JobQueue,
    private readonly verifier: SignatureVerifier,
  ) {
    this.products = new TtlCache(PRODUCT_CACHE_MS);
  }

  async resolveProduct(productId: string | undefined, caId: string | undefined): Promise<ProductRecord> {
    if (productId) {
      const product = (await this.products.get('all', () => this.store.products.list())).find((p) => p.id === productId) ?? (await this.store.products.get(productId));
      if (!product) throw notFound(`product ${productId} not found`);
      if (caId && caId !== product.caId) throw badRequest(`product ${productId} does not issue from CA ${caId}`);
      return product;
    }
    if (!caId) throw badRequest('give caId or productId');
    // A CA's default product is the first one created for it (`init` creates one per issuing CA).
    const forCa = (list: ProductRecord[]): ProductRecord | undefined => list.find((p) => p.caId === caId);
    const product = forCa(await this.products.get('all', () => this.store.products.list())) ?? forCa(await this.store.products.list());
    if (!product && !(await this.store.cas.get(caId))) throw notFound(`CA ${caId} not found`);
    if (!product) throw unprocessable(`CA ${caId} has no product to issue under; create one with "certgate product create"`);
    return product;
  }

  async submit(input: SubmitInput): Promise<{ request: EnrollmentRequest; created: boolean }> {
    const product = await this.resolveProduct(input.productId, input.caId);
    input.authorize(product.caId);
    let csr;
    try {
      csr = parseCsr(input.csrPem);
    } catch (e) {
      if (e instanceof CsrError) throw badRequest(e.message);
      throw e;
    }
    if (!(await this.verifier.verify(csr))) throw badRequest('CSR signature does not verify: the request was not signed by the key it contains');

    const { request, created } = await this.store.requests.insert({
      id: newId(),
      productId: product.id,
      caId: product.caId,
      requester: input.requester,
      protocol: input.protocol,
      csrPem: input.csrPem,
      validityDays: input.validityDays ?? null,
      idempotencyKey: input.idempotencyKey ?? null,
    });
    if (!created && (request.csrPem !== input.csrPem || request.productId !== product.id)) {
      throw conflict('this idempotency key was already used for a different request');
    }
    // Re-enqueueing a replayed request that is still queued is harmless (the queue dedupes) and
    // heals a request whose job was lost.
    if (request.status === 'queued') await this.queue.enqueue(request.id);
    return { request, created };
  }

  /** Waits until the worker has settled the request (or the timeout passes) and returns its state. */
  async waitForOutcome(request: EnrollmentRequest, timeoutMs: number): Promise<EnrollmentRequest> {
    if (SETTLED.includes(request.status) || timeoutMs <= 0) return request;
    await this.queue.waitFor(request.id, timeoutMs);
    return (await this.store.requests.get(request.id)) ?? request;
  }

  async approve(requestId: string, approvedBy: string): Promise<EnrollmentRequest> {
    const request = await this.store.requests.approve(requestId, approvedBy);
    if (!request) {
      const existing = await this.store.requests.get(requestId);
      if (!existing) throw notFound(`request ${requestId} not found`);
      throw conflict(`request ${requestId} is ${existing.status}, not pending_approval`);
    }
    await this.queue.enqueue(requestId);
    return request;
  }

  async reject(requestId: string, reason: string): Promise<EnrollmentRequest> {
    const request = await this.store.requests.transition(requestId, ['pending_approval'], 'rejected', reason);
    if (!request) {
      const existing = await this.store.requests.get(requestId);
      if (!existing) throw notFound(`request ${requestId} not found`);
      throw conflict(`request ${requestId} is ${existing.status}, not pending_approval`);
    }
    return request;
  }

  /** Re-queues what a dead process left `queued` (the in-process queue forgets on exit). */
  async requeueStranded(batch = 1000, minAgeMs = 0): Promise<number> {
    const cutoff = Date.now() - minAgeMs;
    const stranded = (await this.store.requests.listByStatus(['queued'], batch)).filter((r) => r.updatedAt.getTime() <= cutoff);
    for (const r of stranded) await this.queue.enqueue(r.id);
    return stranded.length;
  }
}
