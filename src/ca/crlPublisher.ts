// Builds, numbers and stores each CA's CRL. Publishing is safe from several processes at once:
// the store keeps a CRL only if its number is higher than the stored one, so numbers only grow.
import type { Logger } from 'pino';
import { capabilitiesOf, requireCapability } from '../core/caCapabilities.js';
import { notFound } from '../core/errors.js';
import type { CaRecord, CrlHeader, CrlRecord } from '../core/types.js';
import type { Store } from '../store/types.js';
import type { CaRegistry } from './registry.js';

export interface CrlPolicy {
  /** nextUpdate - thisUpdate. */
  validityMs: number;
}

const OWN_NUMBERS_KEPT = 64;

function numbersFor(map: Map<string, Set<number>>, caId: string): Set<number> {
  let numbers = map.get(caId);
  if (!numbers) map.set(caId, (numbers = new Set()));
  return numbers;
}

export class CrlPublisher {
  /** The last CRL served or published per CA, so serving a big CRL does not re-read it each time. */
  private readonly served = new Map<string, CrlRecord>();
  /** The numbers of the CRLs this process is storing, per CA. */
  private readonly storing = new Map<string, Set<number>>();
  /** The numbers of the last OWN_NUMBERS_KEPT CRLs this process stored, per CA, in the order stored. */
  private readonly stored = new Map<string, Set<number>>();
  private readonly backends = new Map<string, Pick<CaRecord, 'name' | 'backend'>>();

  constructor(
    private readonly store: Store,
    private readonly cas: CaRegistry,
    private readonly policy: CrlPolicy,
    private readonly log: Logger,
  ) {}

  /** The CA's name and backend; a CA's backend never changes, so each is read once. */
  private async caOf(caId: string): Promise<Pick<CaRecord, 'name' | 'backend'>> {
    let ca = this.backends.get(caId);
    if (!ca) {
      const record = await this.store.cas.get(caId);
      if (!record) throw notFound(`CA ${caId} not found`);
      ca = { name: record.name, backend: record.backend };
      this.backends.set(caId, ca);
    }
    return ca;
  }

  /** Whether certgate publishes this CA's CRL (an upstream CA publishes its own). */
  async publishesFor(caId: string): Promise<boolean> {
    return capabilitiesOf(await this.caOf(caId)).crl;
  }

  private async requireCrl(caId: string): Promise<void> {
    requireCapability(await this.caOf(caId), 'crl');
  }

  /** Builds and stores a new CRL for the CA and returns whichever CRL is now the newest. */
  async publish(caId: string): Promise<CrlRecord> {
    await this.requireCrl(caId);
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
    crl.der = await ca.signCrl({
      crlNumber: BigInt(crl.crlNumber),
      thisUpdate: crl.thisUpdate,
      nextUpdate: crl.nextUpdate,
      entries: revoked.map((r) => ({ serialHex: r.serialNumber, revokedAt: r.revokedAt, reason: r.reason, invalidityDate: r.invalidityDate })),
    });
    // Marked as being stored until it is known to be ours or not, so a watcher that sees the
    // stored CRL first never takes it for another process's.
    const storing = numbersFor(this.storing, caId).add(crl.crlNumber);
    try {
      if (await this.store.crls.save(crl)) {
        this.served.set(caId, crl);
        const stored = numbersFor(this.stored, caId).add(crl.crlNumber);
        if (stored.size > OWN_NUMBERS_KEPT) stored.delete(stored.values().next().value as number);
        this.log.info({ caId, crlNumber: crl.crlNumber, entries: revoked.length, ms: Math.round(performance.now() - started) }, 'published CRL');
        return crl;
      }
    } finally {
      storing.delete(crl.crlNumber);
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
    await this.requireCrl(caId);
    const header = await this.store.crls.latestHeader(caId);
    if (!header || header.nextUpdate.getTime() <= Date.now()) return this.publish(caId);
    const held = this.served.get(caId);
    if (held?.crlNumber === header.crlNumber) return held;
    const latest = await this.store.crls.latest(caId);
    if (!latest) return this.publish(caId);
    this.served.set(caId, latest);
    return latest;
  }

  /**
   * Who stored the CA's CRL with this number: this process, another one, or, while this process is
   * storing a CRL with that number, not known yet. Only this process's last OWN_NUMBERS_KEPT CRLs
   * are remembered; an older number counts as another process's.
   */
  origin(caId: string, crlNumber: number): 'here' | 'elsewhere' | 'undecided' {
    if (this.storing.get(caId)?.has(crlNumber)) return 'undecided';
    return this.stored.get(caId)?.has(crlNumber) ? 'here' : 'elsewhere';
  }

  /** True once half of a CRL's life has passed: time to publish its successor. */
  static isDue(crl: CrlHeader | undefined, now = Date.now()): boolean {
    if (!crl) return true;
    const t = crl.thisUpdate.getTime();
    return now >= t + (crl.nextUpdate.getTime() - t) / 2;
  }
}
