// Builds, numbers and stores each CA's CRL. Publishing is safe from several processes at once:
// the store keeps a CRL only if its number is higher than the stored one, so numbers only grow.
import type { Logger } from 'pino';
import type { CrlHeader, CrlRecord } from '../core/types.js';
import type { Store } from '../store/types.js';
import type { CaRegistry } from './registry.js';

export interface CrlPolicy {
  /** nextUpdate - thisUpdate. */
  validityMs: number;
}

export class CrlPublisher {
  /** The last CRL served or published per CA, so serving a big CRL does not re-read it each time. */
  private readonly served = new Map<string, CrlRecord>();
  /** The number of the last CRL this process stored, per CA. */
  private readonly published = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly cas: CaRegistry,
    private readonly policy: CrlPolicy,
    private readonly log: Logger,
  ) {}

  /** Builds and stores a new CRL for the CA and returns whichever CRL is now the newest. */
  async publish(caId: string): Promise<CrlRecord> {
    const [ca, latest, revoked] = await Promise.all([this.cas.get(caId), this.store.crls.latestHeader(caId), this.store.certificates.listRevoked(caId)]);
    const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000);
    const crl: CrlRecord = {
      caId,
      crlNumber: (latest?.crlNumber ?? 0) + 1,
      thisUpdate,
      nextUpdate: new Date(thisUpdate.getTime() + this.policy.validityMs),
      der: Buffer.alloc(0),
    };
    const started = performance.now();
    crl.der = ca.signCrl({
      crlNumber: BigInt(crl.crlNumber),
      thisUpdate: crl.thisUpdate,
      nextUpdate: crl.nextUpdate,
      entries: revoked.map((r) => ({ serialHex: r.serialNumber, revokedAt: r.revokedAt, reason: r.reason, invalidityDate: r.invalidityDate })),
    });
    if (await this.store.crls.save(crl)) {
      this.served.set(caId, crl);
      this.published.set(caId, crl.crlNumber);
      this.log.info({ caId, crlNumber: crl.crlNumber, entries: revoked.length, ms: Math.round(performance.now() - started) }, 'published CRL');
      return crl;
    }
    // Another process published a newer one meanwhile; that one stands.
    return (await this.store.crls.latest(caId)) as CrlRecord;
  }

  /**
   * The CA's current CRL, building one if there is none or the stored one has expired. Each call
   * reads only the stored CRL's header; the body is read again only when another process (or
   * this one) has published a newer CRL.
   */
  async current(caId: string): Promise<CrlRecord> {
    const header = await this.store.crls.latestHeader(caId);
    if (!header || header.nextUpdate.getTime() <= Date.now()) return this.publish(caId);
    const held = this.served.get(caId);
    if (held?.crlNumber === header.crlNumber) return held;
    const latest = await this.store.crls.latest(caId);
    if (!latest) return this.publish(caId);
    this.served.set(caId, latest);
    return latest;
  }

  /** The number of the last CRL this process published for the CA, if any. */
  lastPublishedHere(caId: string): number | undefined {
    return this.published.get(caId);
  }

  /** True once half of a CRL's life has passed: time to publish its successor. */
  static isDue(crl: CrlHeader | undefined, now = Date.now()): boolean {
    if (!crl) return true;
    const t = crl.thisUpdate.getTime();
    return now >= t + (crl.nextUpdate.getTime() - t) / 2;
  }
}
