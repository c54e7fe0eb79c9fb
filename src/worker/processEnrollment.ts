// What the CA worker does with one enrollment job: decide, claim, sign, record. Safe to run any
// number of times per request, concurrently too: only the runner whose claim succeeded calls the CA.
import type { Logger } from 'pino';
import { AUDIT, SYSTEM_ACTOR } from '../audit/actions.js';
import type { CaRegistry } from '../ca/registry.js';
import { DnsPublishError } from '../ca/upstream/dnsChallenge.js';
import { UpstreamProblem, UpstreamRetryLater } from '../ca/upstream/errors.js';
import type { DomainRegistry } from '../core/domainRegistry.js';
import type { NameAuthorization, NameAuthorizer } from '../core/enrollmentService.js';
import { newId } from '../core/ids.js';
import { TtlCache } from '../core/ttlCache.js';
import { isDependencyDown } from '../core/unavailable.js';
import type { AuditEntryInput, EnrollmentRequest, ProductRecord, ProductTemplate, Protocol, Rejection } from '../core/types.js';
import { randomSerial } from '../pki/certificate.js';
import { CsrError } from '../pki/csr.js';
import { parseStoredRequest } from '../pki/storedRequest.js';
import type { ParsedCsrHandoff } from '../pki/parsedCsrHandoff.js';
import type { RequestedNames } from '../policy/names.js';
import { decideIssuance } from '../policy/decide.js';
import { parseProductTemplate } from '../policy/productSchema.js';
import { organizationAttributes, requestedOrganization, type ValidatedOrganization } from '../policy/subject.js';
import type { OrganizationService } from '../core/organizationService.js';
import { RetryLaterError, type JobHandler } from '../queue/types.js';
import type { Store } from '../store/types.js';
import { NO_METRICS, UNKNOWN_PRODUCT, type Metrics } from '../metrics/types.js';

export interface WorkerDeps {
  store: Store;
  cas: CaRegistry;
  log: Logger;
  /** How long a claim is exclusive; a runner that dies is replaced once it has passed. */
  leaseMs: number;
  /** Per protocol: whether the requester may have these names (ACME: the order's valid authorizations). */
  nameAuthorizers?: ReadonlyMap<Protocol, NameAuthorizer>;
  /** Where a product with subject.organization 'validated' finds the requester's record (none: every such request is refused). */
  organizations?: Pick<OrganizationService, 'validatedForRequester'>;
  metrics?: Metrics;
  /** CSRs the front-ends of this process parsed already (EnrollmentService's). */
  parsedCsrs?: ParsedCsrHandoff;
  /** Whether a request's names are validated, for products with dcv: required (protocols without a NameAuthorizer). */
  domains?: Pick<DomainRegistry, 'checkRequest'>;
  /** Tells when a product was edited (here or, with Redis, elsewhere), so the next request reads it again. */
  onCatalogueChange?(listener: () => void): void;
}

/** The rejection code closest to an upstream ACME problem type. */
function rejectionCodeOf(problem: UpstreamProblem): Rejection['code'] {
  const type = problem.type.replace('urn:ietf:params:acme:error:', '');
  if (type === 'rejectedIdentifier' || type === 'caa' || type === 'unsupportedIdentifier') return 'rejectedIdentifier';
  if (type === 'badCSR') return 'badCsr';
  if (type === 'badPublicKey') return 'badKey';
  if (type === 'unauthorized') return 'unauthorized';
  return 'policy';
}

/** What the worker decides on its own is recorded as the system's doing, for the requester. */
function entryFor(req: EnrollmentRequest, action: string, target: string, detail: Record<string, unknown>): AuditEntryInput {
  return { actor: SYSTEM_ACTOR, protocol: req.protocol, sourceIp: null, action, target, outcome: 'success', detail: { request: req.id, requester: req.requester, ...detail } };
}

type LoadedProduct = { product: ProductRecord; template: ProductTemplate } | { error: string } | undefined;

export function createEnrollmentProcessor({ store, cas, log, leaseMs, nameAuthorizers, metrics = NO_METRICS, parsedCsrs, domains, organizations, onCatalogueChange }: WorkerDeps): JobHandler {
  parsedCsrs?.open();
  // Products change rarely and only by an operator's hand; re-read them every few seconds. The
  // template is parsed again (defaults and house rules of this version apply to old rows too).
  const products = new TtlCache<LoadedProduct>(5_000);
  onCatalogueChange?.(() => products.clear());
  const loadProduct = (id: string): Promise<LoadedProduct> =>
    products.get(id, async () => {
      const product = await store.products.get(id);
      if (!product) return undefined;
      try {
        return { product, template: parseProductTemplate(product.template) };
      } catch (e) {
        return { error: `product ${product.name} has a template this version refuses: ${(e as Error).message}` };
      }
    });

  const reject = async (req: EnrollmentRequest, product: string, rejection: Rejection): Promise<void> => {
    const reason = `${rejection.detail} [rule: ${rejection.rule}]`;
    const from = req.status === 'signing' ? (['signing'] as const) : (['queued'] as const);
    const moved = await store.requests.transition(req.id, from, 'rejected', {
      reason,
      rejection,
      audit: entryFor(req, AUDIT.requestReject, req.id, { code: rejection.code, rule: rejection.rule }),
    });
    if (moved) metrics.request(req.protocol, product, 'rejected');
    log.info({ requestId: req.id, rule: rejection.rule }, 'enrollment rejected');
  };

  /**
   * The say on a request's names: its protocol's own (ACME proves them per order), else the domain
   * registry's when the product requires validated names. `recheck`: whether asking again may change
   * the answer (a validation finishing meanwhile).
   */
  const authorizeNames = async (req: EnrollmentRequest, template: ProductTemplate, san: RequestedNames): Promise<{ auth: NameAuthorization; recheck?: () => Promise<NameAuthorization> }> => {
    const authorizer = nameAuthorizers?.get(req.protocol);
    if (authorizer) return { auth: await authorizer(req, san) };
    if (!domains || template.dcv.mode !== 'required') return { auth: { ok: true } };
    const names = [...san.dns, ...san.ip];
    const check = () => domains.checkRequest(req, names, template.dcv);
    return { auth: await check(), recheck: check };
  };

  return {
    async process(requestId) {
      const req = await store.requests.get(requestId);
      // `queued` is work, and so is `signing` whose lease ran out (its runner died). Anything else
      // was settled by an earlier run, or waits for an operator or a validation.
      if (!req || (req.status !== 'queued' && req.status !== 'signing')) return;
      if (req.status === 'signing' && req.leaseExpiresAt && req.leaseExpiresAt.getTime() > Date.now()) return;

      const loaded = await loadProduct(req.productId);
      if (!loaded || 'error' in loaded) {
        return reject(req, UNKNOWN_PRODUCT, { code: 'policy', rule: 'product', detail: loaded ? loaded.error : `product ${req.productId} no longer exists` });
      }
      let csr;
      try {
        csr = parsedCsrs?.take(req.id, req.csrPem) ?? parseStoredRequest(req.csrPem);
      } catch (e) {
        // The front-end parsed it before queueing, so this is a stored record gone bad.
        if (e instanceof CsrError) return reject(req, loaded.product.name, { code: 'badCsr', rule: 'csr', detail: e.message });
        throw e;
      }
      let organization: ValidatedOrganization | undefined;
      if (loaded.template.subject.organization === 'validated') {
        const asked = requestedOrganization(csr.subject.attributes);
        const record = asked === null ? undefined : await organizations?.validatedForRequester({ credentialId: req.credentialId, requester: req.requester }, asked);
        organization = { asked, record: record ? organizationAttributes(record) : null };
      }
      const decision = decideIssuance({ template: loaded.template, csr, validityDays: req.validityDays, constraints: req.constraints, organization });
      if (!decision.ok) return reject(req, loaded.product.name, decision.rejection);
      const profile = decision.profile;

      if (req.status === 'queued') {
        const { auth, recheck } = await authorizeNames(req, loaded.template, profile.san);
        if (auth.ok === false) return reject(req, loaded.product.name, auth.rejection);
        if (auth.ok === 'pending') {
          const waiting = await store.requests.transition(req.id, ['queued'], 'pending_dcv', {
            reason: auth.detail,
            audit: entryFor(req, AUDIT.requestAwaitDcv, req.id, { product: req.productId, waitingFor: auth.detail }),
          });
          if (!waiting) return;
          metrics.request(req.protocol, loaded.product.name, 'pending_dcv');
          // A validation that ended between the check and the move found nothing waiting to resume:
          // ask once more, now that the request is seen waiting, so it is not stranded.
          if ((await recheck?.())?.ok !== true) return;
          await store.requests.transition(req.id, ['pending_dcv'], 'queued', { reason: null, audit: entryFor(req, AUDIT.requestResume, req.id, {}) });
          // Resumed here or by the validation: either way it is queued work, and this job may be the only one.
          const now = await store.requests.get(req.id);
          if (now?.status !== 'queued') return;
        }
        if (loaded.template.requiresApproval && !req.approvedBy) {
          const waiting = await store.requests.transition(req.id, ['queued'], 'pending_approval', {
            reason: 'waiting for an operator to approve',
            audit: entryFor(req, AUDIT.requestAwaitApproval, req.id, { product: req.productId }),
          });
          if (waiting) metrics.request(req.protocol, loaded.product.name, 'pending_approval');
          return;
        }
      }

      // Claim before sign: of any number of runners, one gets the request (and its one serial).
      const claimed = await store.requests.claim(req.id, { serialNumber: randomSerial().toString('hex'), leaseMs });
      if (!claimed) return;
      const serialHex = claimed.serialNumber as string;
      try {
        const ca = await cas.get(req.caId);
        const notBefore = new Date(Date.now() - 60_000);
        const wanted = new Date(notBefore.getTime() + 60_000 + profile.validityDays * 86_400_000);
        const issued = await ca.issue({
          requestId: req.id,
          serial: Buffer.from(serialHex, 'hex'),
          csrPem: req.csrPem,
          subjectDer: profile.subjectDer,
          spkiDer: profile.spkiDer,
          san: profile.san,
          notBefore,
          notAfter: wanted,
          keyUsage: profile.keyUsage,
          extendedKeyUsage: profile.extendedKeyUsage,
        }).catch((e: unknown) => {
          metrics.signingError();
          throw e;
        });
        // A leaf never outlives its CA: the backend clamps, and the request says so.
        const note =
          issued.notAfter < wanted
            ? // An upstream CA sets the validity itself; a local one only clamps to its own expiry.
              `validity shortened to ${issued.notAfter.toISOString()}, ${ca.capabilities.signsLocally ? 'when the issuing CA expires' : 'as the upstream CA issued it'}`
            : null;
        const certificateId = newId();
        const { alreadyIssued } = await store.recordIssuance(
          req.id,
          {
            id: certificateId,
            caId: req.caId,
            productId: req.productId,
            requestId: req.id,
            serialNumber: issued.serialHex,
            commonName: profile.commonName,
            sanDns: profile.san.dns,
            sanIp: profile.san.ip,
            sanEmail: profile.san.email,
            sanUri: profile.san.uri,
            keyAlgorithm: profile.keyAlgorithm,
            validFrom: issued.notBefore,
            validTo: issued.notAfter,
            certificatePem: issued.pem,
            owner: req.details.owner,
            notes: req.details.notes,
            customFields: req.details.customFields,
            supersedes: req.details.supersedes,
            // An upstream CA numbers its certificates itself; the claimed serial was never signed.
            ...(ca.capabilities.signsLocally ? {} : { serialChosenUpstream: true }),
          },
          note,
          entryFor(req, AUDIT.certificateIssue, certificateId, {
            ca: req.caId,
            product: req.productId,
            serial: issued.serialHex,
            names: [...profile.san.dns, ...profile.san.ip, ...profile.san.email, ...profile.san.uri],
            notAfter: issued.notAfter.toISOString(),
            ...(req.approvedBy ? { approvedBy: req.approvedBy } : {}),
          }),
        );
        if (alreadyIssued) log.warn({ requestId }, 'request was already issued; the first certificate stands');
        else {
          metrics.request(req.protocol, loaded.product.name, 'issued');
          metrics.issued(req.protocol, loaded.product.name, (Date.now() - req.createdAt.getTime()) / 1000);
          if (note) log.info({ requestId }, note);
        }
      } catch (e) {
        // An upstream CA's refusal is final: the request is rejected with the upstream's words.
        if (e instanceof UpstreamProblem) {
          return reject({ ...req, status: 'signing' }, loaded.product.name, { code: rejectionCodeOf(e), rule: 'upstream', detail: e.detail });
        }
        // Hand the request back (with its serial) so the queue's retry can claim it at once,
        // instead of waiting for the lease to run out.
        await store.requests.transition(req.id, ['signing'], 'queued', { reason: null }).catch(() => undefined);
        // An upstream rate limit or an order still in the works: back on the queue for as long as it asked.
        if (e instanceof UpstreamRetryLater) throw new RetryLaterError(e.message, e.seconds * 1000);
        throw e;
      }
    },

    async onExhausted(requestId, error) {
      // The store, the queue or an upstream CA was down for longer than the retries last: nothing
      // is wrong with the request. It stays `queued` and the sweep gives it a job again once they are back.
      if (isDependencyDown(error)) {
        log.warn({ requestId, err: error.message }, 'retries ran out during an outage; the request stays queued for the sweep');
        return;
      }
      log.error({ requestId, err: error.message }, 'enrollment failed after all retries');
      // The caller sees that it failed, not our internals; the log has the cause. A request another
      // runner holds (`signing`) is left to that runner.
      const req = await store.requests.get(requestId);
      if (!req) return;
      // A dns-01 record the upstream CA's settings could not publish is the operator's to mend, in
      // the DNS server's words (they hold no secret); anything else is certgate's and stays in the log.
      const reason = error instanceof DnsPublishError ? `the upstream CA's dns-01 record could not be published: ${error.message}` : 'internal error while issuing; the gateway log has the details';
      const failed = await store.requests.transition(requestId, ['queued'], 'failed', {
        reason,
        audit: entryFor(req, AUDIT.requestFail, requestId, {}),
      });
      if (failed) {
        const loaded = await loadProduct(req.productId).catch(() => undefined);
        metrics.request(req.protocol, loaded && 'product' in loaded ? loaded.product.name : UNKNOWN_PRODUCT, 'failed');
      }
    },
  };
}
