// Gauges that are facts of the deployment, not of a process: read from the store and the queue's
// Redis when a scrape asks (never on a request's path), kept for FACTS_CACHE_MS so that scrapes
// from several Prometheus servers cost one read. Any process reads the same facts, so the answer
// does not depend on which process takes the scrape.
import { sql } from 'kysely';
import * as pkijs from 'pkijs';
import { Gauge, Registry } from 'prom-client';
import { SYSTEM_PRODUCT_ID_PATTERN } from '../core/systemProducts.js';
import type { Store } from '../store/types.js';
import { UNKNOWN_PRODUCT } from './types.js';

const FACTS_CACHE_MS = 5_000;
const DAY_MS = 86_400_000;
/** The expiry windows reported per product, in days. */
const EXPIRY_WINDOWS = [7, 30] as const;
// The gateway's own certificates (OCSP signers, its TLS certificate) are short-lived by design and
// renewed by the gateway: they are left out of the expiry gauges, which are for operators to act on.

export interface FactSources {
  store: Store;
  /** Pings the queue's Redis; absent without Redis. */
  redisPing?: () => Promise<void>;
  /** The deployment's clock (ms), as the store stamps with it. */
  now: () => number;
}

interface Facts {
  storeUp: boolean;
  redisUp: boolean | null;
  queueDepth: number;
  oldestQueuedSeconds: number;
  approvals: { product: string; count: number }[];
  expiring: { product: string; days: number; count: number }[];
  crls: { ca: string; ageSeconds: number; bytes: number; entries: number }[];
}

async function up(ping: () => Promise<void>): Promise<boolean> {
  try {
    await ping();
    return true;
  } catch {
    return false;
  }
}

export class DeploymentFacts {
  private cached: { at: number; facts: Facts } | null = null;
  private reading: Promise<Facts> | null = null;
  /** Entries per CRL, by `caId/crlNumber`: a CRL is parsed once, not at every scrape. */
  private readonly crlEntries = new Map<string, number>();

  constructor(private readonly sources: FactSources) {}

  /** A registry of this moment's gauges (at most FACTS_CACHE_MS old). */
  async registry(): Promise<Registry> {
    const facts = await this.facts();
    const registry = new Registry();
    const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [registry] });
    gauge('certgate_store_up', 'Whether the store (SQLite or PostgreSQL) answers: 1 or 0.').set(facts.storeUp ? 1 : 0);
    if (facts.redisUp !== null) gauge('certgate_redis_up', 'Whether Redis (queue, shared counters) answers: 1 or 0.').set(facts.redisUp ? 1 : 0);
    if (!facts.storeUp) return registry;
    gauge('certgate_queue_depth', 'Enrollment requests waiting for the CA worker or being signed.').set(facts.queueDepth);
    gauge('certgate_queue_oldest_age_seconds', 'How long the longest-waiting request has waited for the CA worker (0: none waits).').set(facts.oldestQueuedSeconds);
    const approvals = gauge('certgate_approvals_waiting', 'Requests waiting for an operator to approve them, by product.', ['product']);
    for (const a of facts.approvals) approvals.set({ product: a.product }, a.count);
    const expiring = gauge('certgate_certificates_expiring', 'Valid certificates (not revoked) that expire within the next `within_days` days, by product.', ['product', 'within_days']);
    for (const e of facts.expiring) expiring.set({ product: e.product, within_days: String(e.days) }, e.count);
    const age = gauge('certgate_crl_age_seconds', 'Time since the thisUpdate of the CA\'s current CRL.', ['ca']);
    const size = gauge('certgate_crl_size_bytes', 'Size of the CA\'s current CRL (DER).', ['ca']);
    const entries = gauge('certgate_crl_entries', 'Revoked certificates listed in the CA\'s current CRL.', ['ca']);
    for (const c of facts.crls) {
      age.set({ ca: c.ca }, c.ageSeconds);
      size.set({ ca: c.ca }, c.bytes);
      entries.set({ ca: c.ca }, c.entries);
    }
    return registry;
  }

  private async facts(): Promise<Facts> {
    const now = this.sources.now();
    if (this.cached && now - this.cached.at < FACTS_CACHE_MS) return this.cached.facts;
    // Concurrent scrapes share one read.
    this.reading ??= this.read(now).finally(() => (this.reading = null));
    const facts = await this.reading;
    // A store that is down is reported at once when it is back: a failed read is not kept.
    if (facts.storeUp) this.cached = { at: now, facts };
    return facts;
  }

  private async read(now: number): Promise<Facts> {
    const { store, redisPing } = this.sources;
    const [storeUp, redisUp] = await Promise.all([up(() => store.ping()), redisPing ? up(redisPing) : Promise.resolve(null)]);
    const facts: Facts = { storeUp, redisUp, queueDepth: 0, oldestQueuedSeconds: 0, approvals: [], expiring: [], crls: [] };
    if (!storeUp) return facts;
    try {
      const [productNames, waiting, expiring, crls] = await Promise.all([this.productNames(), this.waiting(), this.expiring(now), this.crls(now)]);
      const name = (id: string): string => productNames.get(id) ?? UNKNOWN_PRODUCT;
      for (const row of waiting) {
        if (row.status === 'pending_approval') facts.approvals.push({ product: name(row.product_id), count: Number(row.n) });
        else {
          facts.queueDepth += Number(row.n);
          const waited = (now - Number(row.oldest)) / 1000;
          facts.oldestQueuedSeconds = Math.max(facts.oldestQueuedSeconds, waited);
        }
      }
      for (const row of expiring) {
        for (const days of EXPIRY_WINDOWS) facts.expiring.push({ product: name(row.product_id), days, count: Number(row[`d${days}`] ?? 0) });
      }
      facts.crls = crls;
    } catch {
      // The ping passed but a read failed (a connection lost in between): say the store is down.
      return { ...facts, storeUp: false };
    }
    return facts;
  }

  private async productNames(): Promise<Map<string, string>> {
    return new Map((await this.sources.store.products.list()).map((p) => [p.id, p.name]));
  }

  private async waiting(): Promise<{ status: string; product_id: string; n: number | string; oldest: number | string }[]> {
    const { rows } = await sql<{ status: string; product_id: string; n: number | string; oldest: number | string }>`
      select status, product_id, count(*) as n, min(updated_at) as oldest from enrollment_requests
      where status in ('queued', 'signing', 'pending_approval') group by status, product_id`.execute(this.sources.store.db);
    return rows;
  }

  private async expiring(now: number): Promise<({ product_id: string } & Record<string, string | number>)[]> {
    const [d7, d30] = EXPIRY_WINDOWS.map((d) => now + d * DAY_MS) as [number, number];
    const { rows } = await sql<{ product_id: string } & Record<string, string | number>>`
      select product_id, sum(case when valid_to <= ${d7} then 1 else 0 end) as d7, count(*) as d30 from certificates
      where valid_to > ${now} and valid_to <= ${d30} and revoked_at is null and deleted_at is null and product_id is not null
        and product_id not like ${SYSTEM_PRODUCT_ID_PATTERN}
      group by product_id`.execute(this.sources.store.db);
    return rows;
  }

  private async crls(now: number): Promise<Facts['crls']> {
    const { store } = this.sources;
    const out: Facts['crls'] = [];
    for (const ca of await store.cas.list()) {
      const crl = await store.crls.latest(ca.id);
      if (!crl) continue;
      out.push({ ca: ca.name, ageSeconds: Math.max(0, (now - crl.thisUpdate.getTime()) / 1000), bytes: crl.der.length, entries: this.entriesOf(ca.id, crl.crlNumber, crl.der) });
    }
    return out;
  }

  private entriesOf(caId: string, crlNumber: number, der: Buffer): number {
    const key = `${caId}/${crlNumber}`;
    let n = this.crlEntries.get(key);
    if (n === undefined) {
      const parsed = pkijs.CertificateRevocationList.fromBER(new Uint8Array(der));
      n = parsed.revokedCertificates?.length ?? 0;
      for (const k of this.crlEntries.keys()) if (k.startsWith(`${caId}/`)) this.crlEntries.delete(k);
      this.crlEntries.set(key, n);
    }
    return n;
  }
}
