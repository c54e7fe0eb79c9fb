// Turns what happened into deliveries, in every process that works jobs:
//   1. the audit trail is the outbox of state changes: each change commits its entry in its own
//      transaction, so an event cannot be lost between commit and enqueue. A tail reads the trail
//      after a shared cursor and writes the entries that are events to webhook_events (their id is
//      the entry's sequence number, so two processes reading the same entries write each once);
//   2. the expiry scan writes `certificate.expiring` events whose id names the certificate and the
//      threshold: the primary key makes each one once, whichever process finds it first;
//   3. a fan-out makes one delivery per matching subscription (unique per subscription and event)
//      and queues a job per delivery; the sweep queues again what is still pending (the queue
//      drops an id it already holds), so a job lost with a process is done by another.
// Nothing here touches the issuance path: with no subscription the tail only moves its cursor.
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AddressPolicy } from '../dcv/addressPolicy.js';
import { newId } from '../core/ids.js';
import { readProductTemplate } from '../policy/productSchema.js';
import type { JobHandler } from '../queue/types.js';
import type { Database } from '../store/schema.js';
import type { Store } from '../store/types.js';
import { deliver, signedHeaders } from './delivery.js';
import { certificateData, EVENT_OF_AUDIT_ACTION, eventOfAuditEntry, expiryEventId, type WebhookEventType } from './events.js';
import type { NotifyDatabase } from './schema.js';
import { subscriptionFromRow, type WebhookService, type WebhookSubscription } from './webhookService.js';

const AUDIT_CURSOR = 'audit';
/** Audit entries read per step of the tail. */
const TAIL_PAGE = 500;
const FAN_OUT_PAGE = 200;
const DAY_MS = 86_400_000;

export interface NotifierOptions {
  store: Pick<Store, 'db' | 'write' | 'audit' | 'certificates' | 'requests' | 'products'>;
  webhooks: WebhookService;
  policy: AddressPolicy;
  log: Logger;
  now: () => number;
  /** Days before notAfter at which `certificate.expiring` is sent, unless the product says otherwise. */
  expiryThresholdsDays: readonly number[];
  deliveryTimeoutMs: number;
  /** A pending delivery untouched this long is queued again by the sweep. */
  sweepAfterMs: number;
}

export class Notifier {
  private readonly db: Kysely<NotifyDatabase>;
  private readonly core: Kysely<Database>;
  private ticking: Promise<void> | undefined;
  private scanning: Promise<number> | undefined;

  constructor(private readonly o: NotifierOptions) {
    this.db = o.store.db as unknown as Kysely<NotifyDatabase>;
    this.core = o.store.db;
  }

  /**
   * One pass: the audit trail's new entries into events, events into deliveries, and every
   * pending delivery (new, or lost with a process) handed to `enqueue`. Passes in one process do
   * not overlap; across processes they may, harmlessly.
   */
  tick(enqueue: (deliveryId: string) => Promise<void>): Promise<void> {
    this.ticking ??= (async () => {
      try {
        await this.tailAudit();
        await this.fanOut();
        await this.queuePending(enqueue);
      } finally {
        this.ticking = undefined;
      }
    })();
    return this.ticking;
  }

  /** Resolves once the pass and the scan under way (if any) are over: close() waits for them before the store goes. */
  async settled(): Promise<void> {
    await Promise.all([this.ticking?.catch(() => undefined), this.scanning?.catch(() => undefined)]);
  }

  private async cursor(): Promise<number | undefined> {
    const row = await this.db.selectFrom('webhook_cursor').select('seq').where('name', '=', AUDIT_CURSOR).executeTakeFirst();
    return row && Number(row.seq);
  }

  private async moveCursor(seq: number): Promise<void> {
    // Never backwards: a slower process finishing an older page must not undo a faster one.
    await this.o.store.write(
      this.db
        .insertInto('webhook_cursor')
        .values({ name: AUDIT_CURSOR, seq })
        .onConflict((oc) => oc.column('name').doUpdateSet({ seq: sql`case when webhook_cursor.seq < excluded.seq then excluded.seq else webhook_cursor.seq end` })),
    );
  }

  /**
   * Who listens is read after what it is matched with (the head, a page of entries, a page of
   * events): a subscription made after that read hears of nothing in it (it hears of what happens
   * once it exists), and one made before is seen. Read the other way round, a subscription made
   * in between missed events it should have had.
   */
  private subscriptions(): Promise<WebhookSubscription[]> {
    return this.db
      .selectFrom('webhook_subscriptions')
      .selectAll()
      .execute()
      .then((rows) => rows.map(subscriptionFromRow));
  }

  private async tailAudit(): Promise<void> {
    let seq = await this.cursor();
    const head = (await this.o.store.audit.head())?.seq ?? 0;
    if (seq === undefined || (await this.subscriptions()).length === 0) {
      // Nobody listens (or this is the first pass): what happened until now is nobody's event.
      await this.moveCursor(head);
      return;
    }
    const sources = { certificate: (id: string) => this.o.store.certificates.get(id), request: (id: string) => this.o.store.requests.get(id) };
    for (;;) {
      const entries = await this.o.store.audit.after(seq, TAIL_PAGE);
      if (entries.length === 0) return;
      const wanted = new Set((await this.subscriptions()).flatMap((s) => s.events));
      const events = [];
      for (const entry of entries) {
        // Only entries some subscription wants cost a read of their subject.
        const type = EVENT_OF_AUDIT_ACTION[entry.action];
        const event = type && wanted.has(type) ? await eventOfAuditEntry(entry, sources) : null;
        if (event) events.push(event);
      }
      if (events.length) {
        await this.o.store.write(
          this.db
            .insertInto('webhook_events')
            .values(events.map((e) => ({ id: e.id, type: e.type, product_id: e.productId, data: JSON.stringify(e.data), occurred_at: e.occurredAt.getTime(), fanned_out: 0 })))
            .onConflict((oc) => oc.column('id').doNothing()),
        );
      }
      seq = (entries.at(-1) as { seq: number }).seq;
      await this.moveCursor(seq);
      if (entries.length < TAIL_PAGE) return;
    }
  }

  private async fanOut(): Promise<void> {
    for (;;) {
      const events = await this.db.selectFrom('webhook_events').selectAll().where('fanned_out', '=', 0).orderBy('occurred_at').limit(FAN_OUT_PAGE).execute();
      if (events.length === 0) return;
      const subscriptions = await this.subscriptions();
      const now = this.o.now();
      const deliveries = events.flatMap((e) =>
        subscriptions
          // A subscription hears of what happens once it exists.
          .filter((s) => s.events.includes(e.type as WebhookEventType) && (s.productIds === null || (e.product_id !== null && s.productIds.includes(e.product_id))) && Number(e.occurred_at) >= s.createdAt.getTime())
          .map((s) => ({ id: newId(now), subscription_id: s.id, event_id: e.id, event_type: e.type, status: 'pending', attempts: 0, created_at: now, updated_at: now })),
      );
      if (deliveries.length) {
        await this.o.store.write(this.db.insertInto('webhook_deliveries').values(deliveries).onConflict((oc) => oc.columns(['subscription_id', 'event_id']).doNothing()));
      }
      await this.o.store.write(
        this.db
          .updateTable('webhook_events')
          .set({ fanned_out: 1 })
          .where('id', 'in', events.map((e) => e.id)),
      );
      if (events.length < FAN_OUT_PAGE) return;
    }
  }

  /** New deliveries, and those whose job was lost (untouched for sweepAfterMs), to the queue. */
  private async queuePending(enqueue: (deliveryId: string) => Promise<void>): Promise<void> {
    const stale = this.o.now() - this.o.sweepAfterMs;
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('status', '=', 'pending')
      .where((w) => w.or([w('attempts', '=', 0), w('updated_at', '<', stale)]))
      .orderBy('created_at')
      .limit(1000)
      .execute();
    for (const r of rows) await enqueue(r.id);
  }

  /**
   * Finds certificates within a threshold of expiring and writes one `certificate.expiring` each:
   * for the nearest threshold crossed (a certificate first seen 10 days out is told "14", not
   * "30" too). Returns how many events were new. Scans in one process do not overlap; across
   * processes they may, and the event's id keeps each notice one.
   */
  scanExpiry(): Promise<number> {
    this.scanning ??= this.scan().finally(() => {
      this.scanning = undefined;
    });
    return this.scanning;
  }

  private async scan(): Promise<number> {
    // Nobody listens: nothing is recorded, so a subscription made later still hears of what is near.
    const listening = await this.db.selectFrom('webhook_subscriptions').select('events').execute();
    if (!listening.some((s) => (JSON.parse(s.events) as string[]).includes('certificate.expiring'))) return 0;
    const now = this.o.now();
    const products = await this.o.store.products.list();
    const thresholdsOf = new Map(products.map((p) => [p.id, [...(readProductTemplate(p.template)?.expiryNoticeDays ?? this.o.expiryThresholdsDays)].sort((a, b) => a - b)]));
    const furthest = Math.max(0, ...[...thresholdsOf.values()].flat(), ...this.o.expiryThresholdsDays);
    let created = 0;
    let after = { validTo: now, id: '' };
    for (;;) {
      const rows = await this.core
        .selectFrom('certificates')
        .select(['id', 'product_id', 'valid_to'])
        .where('source', '=', 'issued')
        .where('revoked_at', 'is', null)
        .where('deleted_at', 'is', null)
        .where('renewed_by', 'is', null)
        .where('product_id', 'not like', 'system-%')
        .where('valid_to', '<=', now + furthest * DAY_MS)
        .where((w) => w.or([w('valid_to', '>', after.validTo), w.and([w('valid_to', '=', after.validTo), w('id', '>', after.id)])]))
        .orderBy('valid_to')
        .orderBy('id')
        .limit(500)
        .execute();
      const due = rows.flatMap((row) => {
        const left = Number(row.valid_to) - now;
        const days = (thresholdsOf.get(row.product_id ?? '') ?? this.o.expiryThresholdsDays).find((d) => left <= d * DAY_MS);
        return days === undefined ? [] : [{ id: row.id, days, left, eventId: expiryEventId(row.id, days) }];
      });
      // Each scan finds the same certificates again until their next threshold: skip those told.
      const told = due.length ? new Set((await this.db.selectFrom('webhook_events').select('id').where('id', 'in', due.map((d) => d.eventId)).execute()).map((r) => r.id)) : new Set<string>();
      for (const { id, days, left, eventId } of due) {
        if (told.has(eventId)) continue;
        const certificate = await this.o.store.certificates.get(id);
        if (!certificate) continue;
        const fresh = await this.o.webhooks.emit({
          id: eventId,
          type: 'certificate.expiring',
          productId: certificate.productId,
          data: { certificate: certificateData(certificate), thresholdDays: days, daysLeft: Math.floor(left / DAY_MS) },
        });
        if (fresh) created++;
      }
      if (rows.length < 500) return created;
      const last = rows.at(-1) as { id: string; valid_to: number | string };
      after = { validTo: Number(last.valid_to), id: last.id };
    }
  }

  /** The job that makes one delivery attempt; a failed one throws, and the queue retries it with backoff. */
  readonly handler: JobHandler = {
    process: async (deliveryId) => {
      // One read for what an attempt needs; a delivery whose subscription or event is gone has nothing to send.
      const job = await this.db
        .selectFrom('webhook_deliveries as d')
        .innerJoin('webhook_subscriptions as s', 's.id', 'd.subscription_id')
        .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
        .select(['d.status', 'd.attempts', 's.id as subscriptionId', 's.url', 's.secret', 'e.id as eventId', 'e.type', 'e.occurred_at', 'e.data'])
        .where('d.id', '=', deliveryId)
        .executeTakeFirst();
      if (!job || job.status !== 'pending') return;
      const secret = this.o.webhooks.signingSecret({ id: job.subscriptionId, secret: job.secret });
      if (secret === null) throw new Error(`the signing secret of webhook ${job.subscriptionId} does not open under this master key`);
      const body = JSON.stringify({ type: job.type, timestamp: new Date(Number(job.occurred_at)).toISOString(), data: JSON.parse(job.data) as unknown });
      const result = await deliver(job.url, signedHeaders(secret, job.eventId, new Date(), body), body, this.o.policy, this.o.deliveryTimeoutMs);
      const ok = result.error === null;
      const now = this.o.now();
      // The attempt is counted after it, with its outcome: while it runs, the queue holds the job's
      // id, so a pass that sees the delivery still new cannot queue it a second time.
      await Promise.all([
        this.o.store.write(
          this.db.insertInto('webhook_attempts').values({
            id: newId(now),
            delivery_id: deliveryId,
            subscription_id: job.subscriptionId,
            event_id: job.eventId,
            event_type: job.type,
            attempt: job.attempts + 1,
            status_code: result.statusCode,
            error: result.error,
            duration_ms: result.durationMs,
            at: now,
          }),
        ),
        this.o.store.write(
          this.db
            .updateTable('webhook_deliveries')
            .set({ attempts: sql`attempts + 1`, updated_at: now, ...(ok ? { status: 'delivered' } : {}) })
            .where('id', '=', deliveryId),
        ),
      ]);
      if (!ok) throw new Error(`webhook ${job.subscriptionId}: ${result.error}`);
    },
    onExhausted: async (deliveryId, error) => {
      this.o.log.warn({ delivery: deliveryId, err: error.message }, 'webhook delivery failed on every attempt');
      await this.o.store.write(this.db.updateTable('webhook_deliveries').set({ status: 'failed', updated_at: this.o.now() }).where('id', '=', deliveryId));
    },
  };
}
