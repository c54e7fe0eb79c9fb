import { newId } from '../core/ids.js';
import type { Logger } from 'pino';
import type { CaRegistry } from '../ca/registry.js';
import { TtlCache } from '../core/ttlCache.js';
import type { EnrollmentRequest, ProductRecord } from '../core/types.js';
import { CsrError, parseCsr } from '../pki/csr.js';
import { applyTemplate } from '../policy/applyTemplate.js';
import type { JobHandler } from '../queue/types.js';
import type { Store } from '../store/types.js';

export interface WorkerDeps {
  store: Store;
  cas: CaRegistry;
  log: Logger;
}

/** What the CA worker does with one enrollment job. Safe to run any number of times per request. */
export function createEnrollmentProcessor({ store, cas, log }: WorkerDeps): JobHandler {
  // Products change rarely and only by an operator's hand; re-read them every few seconds.
  const products = new TtlCache<ProductRecord | undefined>(5_000);
  const rejectRequest = async (req: EnrollmentRequest, reason: string): Promise<void> => {
    await store.requests.transition(req.id, ['queued'], 'rejected', reason);
    log.info({ requestId: req.id, reason }, 'enrollment rejected');
  };

  return {
    async process(requestId) {
      const req = await store.requests.get(requestId);
      // Only `queued` requests are work. Anything else was finished by an earlier run of this
      // job (or waits for approval), and must not be signed again.
      if (!req || req.status !== 'queued') return;
      await store.requests.incrementAttempts(requestId);

      const product = await products.get(req.productId, () => store.products.get(req.productId));
      if (!product) return rejectRequest(req, `product ${req.productId} no longer exists`);

      let csr;
      try {
        csr = parseCsr(req.csrPem);
      } catch (e) {
        // The front-end parsed it before queueing, so this is a stored record gone bad.
        if (e instanceof CsrError) return rejectRequest(req, e.message);
        throw e;
      }
      const decision = applyTemplate(product.template, csr, req.validityDays);
      if (!decision.ok) return rejectRequest(req, `${decision.reason} [rule: ${decision.rule}]`);

      if (product.template.requiresApproval && !req.approvedBy) {
        await store.requests.transition(req.id, ['queued'], 'pending_approval', 'waiting for an operator to approve');
        return;
      }

      const ca = await cas.get(req.caId);
      const p = decision.profile;
      const notBefore = new Date(Date.now() - 60_000);
      const issued = await ca.issue({
        subjectDer: p.subjectDer,
        spkiDer: p.spkiDer,
        san: p.san,
        notBefore,
        notAfter: new Date(notBefore.getTime() + 60_000 + p.validityDays * 86_400_000),
        keyUsage: p.keyUsage,
        extendedKeyUsage: p.extendedKeyUsage,
      });
      const { alreadyIssued } = await store.recordIssuance(req.id, {
        id: newId(),
        caId: req.caId,
        productId: req.productId,
        requestId: req.id,
        serialNumber: issued.serialHex,
        commonName: p.commonName,
        sanDns: p.san.dns,
        sanIp: p.san.ip,
        sanEmail: p.san.email,
        sanUri: p.san.uri,
        keyAlgorithm: csr.keyAlgorithm,
        validFrom: issued.notBefore,
        validTo: issued.notAfter,
        certificatePem: issued.pem,
      });
      if (alreadyIssued) log.warn({ requestId }, 'job ran twice; the first certificate stands');
    },

    async onExhausted(requestId, error) {
      log.error({ requestId, err: error.message }, 'enrollment failed after all retries');
      // The caller sees that it failed, not our internals; the log has the cause.
      await store.requests.transition(requestId, ['queued'], 'failed', 'internal error while issuing; the gateway log has the details');
    },
  };
}
