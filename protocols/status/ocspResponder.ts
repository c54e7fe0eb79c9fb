// Answers OCSP requests (RFC 6960) for every CA we hold. Answers to nonce-less single-certificate
// requests (what relying parties send) are cached under the request's exact bytes, so a repeat is
// one map lookup with no parsing, until half their validity has passed or cacheMaxAgeMs (the
// bound for a revocation whose notice never arrived). A hot answer is signed again in the
// background in the last quarter of that time, so relying parties never wait for a signature on
// it. invalidate() drops one certificate's answers (a revocation), or a whole CA's (news that says
// only which CA changed); the CA's other answers stay good, so frequent revocations do not turn
// the cache into a signing queue. Nonce requests are signed fresh, as the nonce must be echoed.
// CA certificates are answered too: they live in the CA records, not among issued certificates,
// and a CA certificate is good while its CA record stands.
import type { Logger } from 'pino';
import { capabilitiesOf } from '../../src/core/caCapabilities.js';
import { isDependencyDown } from '../../src/core/unavailable.js';
import { buildOcspResponse, issuerHashes, OCSP_HASH_ALGORITHMS, OcspRequestError, ocspErrorResponse, parseOcspRequest, type OcspCertStatus } from '../../src/pki/ocsp.js';
import { readCertificateBasics } from '../../src/pki/certInfo.js';
import { fromPem } from '../../src/pki/pem.js';
import type { OcspSigners } from './ocspSigners.js';
import type { StatusReads } from './reads.js';
import { NO_METRICS, type Metrics } from '../../src/metrics/types.js';

export interface OcspPolicy {
  /** nextUpdate - thisUpdate of each answer. */
  validityMs: number;
  /** Upper bound on how long a cached answer is served. */
  cacheMaxAgeMs: number;
  /** Cached answers, at most. */
  cacheEntries: number;
}

/** An OCSPResponse and, for one that HTTP caches may keep (RFC 5019), what they need to know. */
export interface OcspAnswer {
  der: Buffer;
  /** Absent for answers that must not be kept: errors, and answers that echo a nonce. */
  caching?: {
    thisUpdate: Date;
    nextUpdate: Date;
    /** Until when (epoch ms) this responder itself serves it without signing again. */
    until: number;
  };
}

/** An answer and what it says, for the metrics: the certificate's status, or the error's. */
interface Signed {
  answer: OcspAnswer;
  status: string;
}

interface CachedAnswer extends Signed {
  caId: string;
  /** certKey() of the certificate whose status it states. */
  certKey: string;
  /** The invalidation sequence when the status was read; a later invalidate() of its CA or certificate makes it stale. */
  readSeq: number;
  until: number;
  /** From then on, a hit also starts signing its successor. */
  refreshAt: number;
  refreshing: boolean;
}

const certKey = (caId: string, serialHex: string): string => `${caId}/${serialHex}`;

/** An OCSP error answer (RFC 6960 section 4.2.1), named by its status. */
const refusal = (status: 'malformedRequest' | 'internalError' | 'tryLater' | 'unauthorized'): Signed => ({ answer: { der: ocspErrorResponse(status) }, status });

/** Longer requests are never cached (a plain one for one certificate is about 80 bytes). */
const MAX_CACHED_REQUEST = 512;

export class OcspResponder {
  /** `${hashOid}:${nameHash}:${keyHash}` (hex) → CA id. */
  private issuers = new Map<string, string>();
  /** certKey(issuing CA id, serial) of every CA's own certificate (a root issues its own). */
  private caCertificates = new Set<string>();
  private issuersLoadedAt = 0;
  /** Request bytes (latin1) → answer; insertion-ordered, the oldest evicted first. */
  private readonly cache = new Map<string, CachedAnswer>();
  /** Counts invalidate() calls; answers remember its value when they read their status. */
  private seq = 0;
  /** CA id → seq of its last invalidation. */
  private readonly caInvalidated = new Map<string, number>();
  /**
   * certKey → seq and time of its last invalidation, oldest first; dropped once every answer read
   * before it has expired.
   */
  private readonly certInvalidated = new Map<string, { seq: number; at: number }>();

  constructor(
    private readonly reads: StatusReads,
    private readonly signers: OcspSigners,
    private readonly policy: OcspPolicy,
    private readonly log: Logger,
    private readonly metrics: Pick<Metrics, 'ocspAnswer'> = NO_METRICS,
  ) {}

  /**
   * Loads (or issues) every CA's delegated signer ahead of the first request, so that request does
   * not pay for a key pair and a signature, and processes started together find one signer.
   */
  async prepareSigners(): Promise<void> {
    for (const ca of await this.reads.caList()) {
      if (!capabilitiesOf(ca).ocsp) continue;
      // A CA whose key cannot be opened here (a passphrase not given) is tried again on first use.
      await this.signers.current(ca.id).catch((e: Error) => this.log.warn({ caId: ca.id, err: e.message }, 'no OCSP signer prepared for this CA'));
    }
  }

  /** Forgets the cached answers for a certificate whose status changed, or, without a serial, for a whole CA. */
  invalidate(caId: string, serialHex?: string): void {
    const seq = ++this.seq;
    if (serialHex === undefined) {
      this.caInvalidated.set(caId, seq);
      return;
    }
    const now = Date.now();
    const key = certKey(caId, serialHex);
    this.certInvalidated.delete(key); // re-inserted at the end: the map stays oldest-first
    this.certInvalidated.set(key, { seq, at: now });
    // An answer expires at most cacheMaxAgeMs after it read its status, so an older mark guards nothing.
    for (const [k, mark] of this.certInvalidated) {
      if (mark.at >= now - this.policy.cacheMaxAgeMs) break;
      this.certInvalidated.delete(k);
    }
  }

  /** An OCSPResponse (DER) for any input; never throws. */
  async respond(requestDer: Buffer): Promise<Buffer> {
    return (await this.answer(requestDer)).der;
  }

  /** respond(), with what an HTTP cache needs to know about the answer. */
  async answer(requestDer: Buffer): Promise<OcspAnswer> {
    const cacheKey = requestDer.length <= MAX_CACHED_REQUEST ? requestDer.toString('latin1') : null;
    const hit = cacheKey === null ? undefined : this.cachedUnder(cacheKey);
    if (hit) {
      this.metrics.ocspAnswer(hit.status, true);
      return hit.answer;
    }
    const { answer, status } = await this.answerAfresh(requestDer, cacheKey);
    this.metrics.ocspAnswer(status, false);
    return answer;
  }

  /** The answer to a request the HTTP layer could not even read (too large, not base64): counted like the others. */
  malformed(): OcspAnswer {
    this.metrics.ocspAnswer('malformedRequest', false);
    return refusal('malformedRequest').answer;
  }

  private async answerAfresh(requestDer: Buffer, cacheKey: string | null): Promise<Signed> {
    let request;
    try {
      request = parseOcspRequest(requestDer);
    } catch (e) {
      if (e instanceof OcspRequestError) return refusal('malformedRequest');
      throw e;
    }
    try {
      return await this.sign(request, cacheKey);
    } catch (e) {
      // The store cannot be reached: tryLater (RFC 6960 section 2.3), which relying parties retry.
      if (isDependencyDown(e)) {
        this.log.warn({ err: (e as Error).message }, 'OCSP answer deferred: store unavailable');
        return refusal('tryLater');
      }
      this.log.error({ err: (e as Error).message }, 'OCSP answer failed');
      return refusal('internalError');
    }
  }

  private cachedUnder(key: string): CachedAnswer | undefined {
    const hit = this.cache.get(key);
    if (!hit) return undefined;
    const now = Date.now();
    if (hit.until <= now || this.invalidatedSince(hit.readSeq, hit.caId, hit.certKey)) return undefined;
    if (now >= hit.refreshAt && !hit.refreshing) {
      hit.refreshing = true;
      setImmediate(() => void this.refresh(key));
    }
    return hit;
  }

  private invalidatedSince(readSeq: number, caId: string, key: string): boolean {
    return readSeq < (this.caInvalidated.get(caId) ?? 0) || readSeq < (this.certInvalidated.get(key)?.seq ?? 0);
  }

  /** Signs a cached answer's successor while the answer itself still serves. */
  private async refresh(requestKey: string): Promise<void> {
    try {
      await this.sign(parseOcspRequest(Buffer.from(requestKey, 'latin1')), requestKey);
    } catch (e) {
      // The cached answer serves until it expires; then a request signs on its own.
      this.log.error({ err: (e as Error).message }, 'OCSP answer refresh failed');
    }
  }

  private async sign(request: ReturnType<typeof parseOcspRequest>, requestKey: string | null): Promise<Signed> {
    const caIds = new Set<string>();
    for (const id of request.certIds) {
      const caId = await this.issuerOf(id.hashAlgorithm, id.issuerNameHash, id.issuerKeyHash);
      if (!caId) return refusal('unauthorized');
      caIds.add(caId);
    }
    // One response has one signer, and each CA has its own: mixed issuers cannot be answered.
    if (caIds.size !== 1) return refusal('unauthorized');
    const [caId] = caIds as unknown as [string];

    const readSeq = this.seq;
    const readAt = Date.now();
    const now = new Date(Math.floor(readAt / 1000) * 1000);
    const nextUpdate = new Date(now.getTime() + this.policy.validityMs);
    const responses = await Promise.all(
      request.certIds.map(async (id) => ({ certIdDer: id.der, certStatus: await this.statusOf(caId, id.serialHex), thisUpdate: now, nextUpdate })),
    );
    const signer = await this.signers.current(caId);
    const content = { producedAt: now, responses, nonce: request.nonce };
    const der =
      'byCa' in signer.signing
        ? await signer.signing.byCa(content)
        : buildOcspResponse({ ...content, responderKeyHash: signer.keyHash, signerCertDer: signer.certificateDer }, { key: signer.signing.key, algorithm: 'ec-p256' });
    const statuses = new Set(responses.map((r) => r.certStatus.status));
    const status = statuses.size === 1 ? (responses[0]?.certStatus.status as string) : 'mixed';
    // Not to be kept, here or by HTTP caches: answers that echo a nonce (single-use), answers
    // built from a status read before an invalidate() (already stale), and `unknown`, which may
    // be a CA created elsewhere since the CA records were last read (at most once a second).
    if (
      request.nonce !== null ||
      statuses.has('unknown') ||
      request.certIds.some((id) => this.invalidatedSince(readSeq, caId, certKey(caId, id.serialHex)))
    )
      return { answer: { der }, status };
    const lifetime = Math.min(this.policy.validityMs / 2, this.policy.cacheMaxAgeMs);
    const until = readAt + lifetime;
    const answer: OcspAnswer = { der, caching: { thisUpdate: now, nextUpdate, until } };
    const [only] = request.certIds;
    if (requestKey !== null && only && request.certIds.length === 1) {
      this.cache.delete(requestKey); // re-inserted at the end: eviction stays oldest-first
      if (this.cache.size >= this.policy.cacheEntries) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(requestKey, { answer, status, caId, certKey: certKey(caId, only.serialHex), readSeq, until, refreshAt: readAt + (lifetime * 3) / 4, refreshing: false });
    }
    return { answer, status };
  }

  private async statusOf(caId: string, serialHex: string): Promise<OcspCertStatus> {
    const cert = await this.reads.certificateBySerial(caId, serialHex);
    if (cert?.revokedAt) return { status: 'revoked', revokedAt: cert.revokedAt, reason: cert.revocationReason };
    if (cert || (await this.isCaCertificate(certKey(caId, serialHex)))) return { status: 'good' };
    return { status: 'unknown' };
  }

  private async issuerOf(hashOid: string, nameHash: Buffer, keyHash: Buffer): Promise<string | undefined> {
    if (!(hashOid in OCSP_HASH_ALGORITHMS)) return undefined;
    const key = `${hashOid}:${nameHash.toString('hex')}:${keyHash.toString('hex')}`;
    if (!this.issuers.has(key)) await this.reloadCas();
    return this.issuers.get(key);
  }

  private async isCaCertificate(key: string): Promise<boolean> {
    if (!this.caCertificates.has(key)) await this.reloadCas();
    return this.caCertificates.has(key);
  }

  /** A CA created after we last looked: read the CA records again, at most once a second. */
  private async reloadCas(): Promise<void> {
    if (Date.now() - this.issuersLoadedAt > 1000) await this.loadIssuers();
  }

  private async loadIssuers(): Promise<void> {
    const next = new Map<string, string>();
    const caCertificates = new Set<string>();
    for (const ca of await this.reads.caList()) {
      // Not an issuer we answer for: its CertIDs get `unauthorized` (RFC 6960 §2.3), as unknown issuers do.
      if (!capabilitiesOf(ca).ocsp) continue;
      const der = fromPem(ca.certificatePem, ['CERTIFICATE']);
      for (const hashOid of Object.keys(OCSP_HASH_ALGORITHMS)) {
        const { nameHash, keyHash } = issuerHashes(der, hashOid);
        next.set(`${hashOid}:${nameHash.toString('hex')}:${keyHash.toString('hex')}`, ca.id);
      }
      caCertificates.add(certKey(ca.parentId ?? ca.id, readCertificateBasics(der).serialHex));
    }
    this.issuers = next;
    this.caCertificates = caCertificates;
    this.issuersLoadedAt = Date.now();
  }
}
