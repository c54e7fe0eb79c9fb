// Answers OCSP requests (RFC 6960) for every CA we hold. Answers without a nonce are cached per
// CertID until half their validity has passed (or cacheMaxAgeMs, so a revocation made by another
// process shows within that bound); a revocation in this process drops its CA's cache at once.
// Nonce requests are signed fresh, as the nonce must be echoed.
import type { Logger } from 'pino';
import { buildOcspResponse, issuerHashes, OCSP_HASH_ALGORITHMS, OcspRequestError, ocspErrorResponse, parseOcspRequest, type OcspCertStatus } from '../pki/ocsp.js';
import { fromPem } from '../pki/pem.js';
import type { Store } from '../store/types.js';
import type { OcspSigners } from './ocspSigners.js';

export interface OcspPolicy {
  /** nextUpdate - thisUpdate of each answer. */
  validityMs: number;
  /** Upper bound on how long a cached answer is served. */
  cacheMaxAgeMs: number;
  /** Cached answers per CA, at most. */
  cacheEntries: number;
}

interface CachedAnswer {
  der: Buffer;
  until: number;
}

export class OcspResponder {
  /** `${hashOid}:${nameHash}:${keyHash}` (hex) → CA id. */
  private issuers = new Map<string, string>();
  private issuersLoadedAt = 0;
  private readonly cache = new Map<string, Map<string, CachedAnswer>>();
  /** Bumped by invalidate(), so an answer built from a status read before it is not cached. */
  private readonly generations = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly signers: OcspSigners,
    private readonly policy: OcspPolicy,
    private readonly log: Logger,
  ) {}

  /** Forget cached answers for a CA whose revocation list changed. */
  invalidate(caId: string): void {
    this.cache.delete(caId);
    this.generations.set(caId, (this.generations.get(caId) ?? 0) + 1);
  }

  /** An OCSPResponse (DER) for any input; never throws. */
  async respond(requestDer: Buffer): Promise<Buffer> {
    let request;
    try {
      request = parseOcspRequest(requestDer);
    } catch (e) {
      if (e instanceof OcspRequestError) return ocspErrorResponse('malformedRequest');
      throw e;
    }
    try {
      return await this.answer(request);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'OCSP answer failed');
      return ocspErrorResponse('internalError');
    }
  }

  private async answer(request: ReturnType<typeof parseOcspRequest>): Promise<Buffer> {
    const caIds = new Set<string>();
    for (const id of request.certIds) {
      const caId = await this.issuerOf(id.hashAlgorithm, id.issuerNameHash, id.issuerKeyHash);
      if (!caId) return ocspErrorResponse('unauthorized');
      caIds.add(caId);
    }
    // One response has one signer, and each CA has its own: mixed issuers cannot be answered.
    if (caIds.size !== 1) return ocspErrorResponse('unauthorized');
    const [caId] = caIds as unknown as [string];

    const cacheKey = request.nonce === null && request.certIds.length === 1 ? (request.certIds[0]?.der.toString('hex') ?? null) : null;
    const caCache = this.cache.get(caId);
    const hit = cacheKey !== null ? caCache?.get(cacheKey) : undefined;
    if (hit && hit.until > Date.now()) return hit.der;

    const generation = this.generations.get(caId) ?? 0;
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const nextUpdate = new Date(now.getTime() + this.policy.validityMs);
    const responses = await Promise.all(
      request.certIds.map(async (id) => ({ certIdDer: id.der, certStatus: await this.statusOf(caId, id.serialHex), thisUpdate: now, nextUpdate })),
    );
    const signer = await this.signers.current(caId);
    const der = buildOcspResponse(
      { responderKeyHash: signer.keyHash, producedAt: now, responses, nonce: request.nonce, signerCertDer: signer.certificateDer },
      { key: signer.key, algorithm: 'ec-p256' },
    );
    if (cacheKey !== null && generation === (this.generations.get(caId) ?? 0)) {
      let map = this.cache.get(caId);
      if (!map) this.cache.set(caId, (map = new Map()));
      if (map.size >= this.policy.cacheEntries) map.delete(map.keys().next().value as string);
      map.set(cacheKey, { der, until: Date.now() + Math.min(this.policy.validityMs / 2, this.policy.cacheMaxAgeMs) });
    }
    return der;
  }

  private async statusOf(caId: string, serialHex: string): Promise<OcspCertStatus> {
    const cert = await this.store.certificates.getBySerial(caId, serialHex);
    if (!cert) return { status: 'unknown' };
    if (cert.revokedAt) return { status: 'revoked', revokedAt: cert.revokedAt, reason: cert.revocationReason };
    return { status: 'good' };
  }

  private async issuerOf(hashOid: string, nameHash: Buffer, keyHash: Buffer): Promise<string | undefined> {
    if (!(hashOid in OCSP_HASH_ALGORITHMS)) return undefined;
    const key = `${hashOid}:${nameHash.toString('hex')}:${keyHash.toString('hex')}`;
    let caId = this.issuers.get(key);
    // A CA created after we last looked: reload, at most once a second.
    if (!caId && Date.now() - this.issuersLoadedAt > 1000) {
      await this.loadIssuers();
      caId = this.issuers.get(key);
    }
    return caId;
  }

  private async loadIssuers(): Promise<void> {
    const next = new Map<string, string>();
    for (const ca of await this.store.cas.list()) {
      const der = fromPem(ca.certificatePem, ['CERTIFICATE']);
      for (const hashOid of Object.keys(OCSP_HASH_ALGORITHMS)) {
        const { nameHash, keyHash } = issuerHashes(der, hashOid);
        next.set(`${hashOid}:${nameHash.toString('hex')}:${keyHash.toString('hex')}`, ca.id);
      }
    }
    this.issuers = next;
    this.issuersLoadedAt = Date.now();
  }
}
