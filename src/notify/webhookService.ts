// Webhook subscriptions: made, listed, removed (each change audited with it), their delivery
// log, and the one way outside the audit trail to put an event in the outbox (dcv.failed).
// Who may do what is the caller's to ask (auth/authorize.ts, webhookResources) before it calls here.
import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import { AUDIT } from '../audit/actions.js';
import { badRequest, notFound } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Sealing, SecretSeal } from '../core/sealing.js';
import type { AuditContext } from '../core/types.js';
import type { Store } from '../store/types.js';
import type { AddressPolicy } from '../dcv/addressPolicy.js';
import { WEBHOOK_EVENT_TYPES, type WebhookEvent, type WebhookEventType } from './events.js';
import type { NotifyDatabase, WebhookAttemptTable, WebhookSubscriptionTable } from './schema.js';
import type { DeliveryAttempt, NewWebhook, WebhookSubscription } from './types.js';
import { urlRefusal } from './urlPolicy.js';

export type { DeliveryAttempt, NewWebhook, WebhookSubscription } from './types.js';

/** The sealing purpose of signing secrets: its own derived key (core/sealing.ts). */
export const WEBHOOK_SECRET_PURPOSE = 'webhook signing secrets';

/** The Standard Webhooks secret format: `whsec_` and the base64 of the key bytes. */
export const newSigningSecret = (): string => `whsec_${randomBytes(24).toString('base64')}`;

export function subscriptionFromRow(row: Selectable<WebhookSubscriptionTable>): WebhookSubscription {
  return {
    id: row.id,
    url: row.url,
    events: JSON.parse(row.events) as WebhookEventType[],
    productIds: row.product_ids === null ? null : (JSON.parse(row.product_ids) as string[]),
    owner: row.owner,
    description: row.description,
    createdAt: new Date(Number(row.created_at)),
  };
}

const attemptFromRow = (row: Selectable<WebhookAttemptTable>): DeliveryAttempt => ({
  deliveryId: row.delivery_id,
  eventId: row.event_id,
  eventType: row.event_type,
  attempt: row.attempt,
  statusCode: row.status_code,
  error: row.error,
  durationMs: row.duration_ms,
  at: new Date(Number(row.at)),
});

export class WebhookService {
  private readonly db: Kysely<NotifyDatabase>;
  private readonly seal: SecretSeal;

  constructor(
    private readonly store: Pick<Store, 'db' | 'write'>,
    sealing: Sealing,
    private readonly policy: AddressPolicy,
    private readonly now: () => number,
  ) {
    this.db = store.db as unknown as Kysely<NotifyDatabase>;
    this.seal = sealing.secrets(WEBHOOK_SECRET_PURPOSE);
  }

  /** Stores the subscription; the secret comes back here and never again. */
  async create(input: NewWebhook, owner: string, by: AuditContext): Promise<{ subscription: WebhookSubscription; secret: string }> {
    const refusal = urlRefusal(input.url, this.policy);
    if (refusal) throw badRequest(refusal);
    const unknown = input.events.filter((e) => !WEBHOOK_EVENT_TYPES.includes(e));
    if (unknown.length || input.events.length === 0) throw badRequest(`events: name one or more of ${WEBHOOK_EVENT_TYPES.join(', ')}`);
    const id = newId(this.now());
    const secret = newSigningSecret();
    const events = [...new Set(input.events)];
    const productIds = input.productIds === null ? null : [...new Set(input.productIds)];
    const row = await this.store.write(
      this.db
        .insertInto('webhook_subscriptions')
        .values({
          id,
          url: input.url,
          events: JSON.stringify(events),
          product_ids: productIds === null ? null : JSON.stringify(productIds),
          owner,
          description: input.description ?? null,
          secret: this.seal.seal(Buffer.from(secret), id),
          created_at: this.now(),
        })
        .returningAll(),
      () => ({ ...by, action: AUDIT.webhookCreate, target: id, outcome: 'success', detail: { url: input.url, events, products: productIds ?? '*', owner } }),
    );
    return { subscription: subscriptionFromRow(row as Selectable<WebhookSubscriptionTable>), secret };
  }

  async get(id: string): Promise<WebhookSubscription | undefined> {
    const row = await this.db.selectFrom('webhook_subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
    return row && subscriptionFromRow(row);
  }

  /** Oldest first; `owner` narrows to one maker's. */
  async list(filter: { owner?: string } = {}): Promise<WebhookSubscription[]> {
    const rows = await this.db
      .selectFrom('webhook_subscriptions')
      .selectAll()
      .$if(filter.owner !== undefined, (q) => q.where('owner', '=', filter.owner as string))
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(subscriptionFromRow);
  }

  /** Removes the subscription and its pending deliveries (their log stays readable until then). */
  async remove(id: string, by: AuditContext): Promise<WebhookSubscription> {
    const row = await this.store.write(this.db.deleteFrom('webhook_subscriptions').where('id', '=', id).returningAll(), (r) =>
      r ? { ...by, action: AUDIT.webhookDelete, target: id, outcome: 'success', detail: { url: r.url } } : null,
    );
    if (!row) throw notFound(`webhook ${id} not found`);
    await Promise.all([
      this.store.write(this.db.deleteFrom('webhook_deliveries').where('subscription_id', '=', id)),
      this.store.write(this.db.deleteFrom('webhook_attempts').where('subscription_id', '=', id)),
    ]);
    return subscriptionFromRow(row);
  }

  /** The delivery log, newest attempt first. */
  async attempts(subscriptionId: string, page: { limit: number; offset: number }): Promise<{ attempts: DeliveryAttempt[]; total: number }> {
    const base = this.db.selectFrom('webhook_attempts').where('subscription_id', '=', subscriptionId);
    const [rows, count] = await Promise.all([
      base.selectAll().orderBy('at', 'desc').orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
      base.select(sql<number | string>`count(*)`.as('n')).executeTakeFirst(),
    ]);
    return { attempts: rows.map(attemptFromRow), total: Number(count?.n ?? 0) };
  }

  /** The subscription's signing secret, for the delivery job (null: it does not open under this master key). */
  signingSecret(row: Pick<WebhookSubscriptionTable, 'id' | 'secret'>): string | null {
    return this.seal.open(row.secret, row.id)?.toString() ?? null;
  }

  /**
   * Puts an event in the outbox (events that leave no audit entry: a failed validation). An id
   * already there is kept as it is: emitting again is harmless. True when it was new.
   */
  async emit(event: Omit<WebhookEvent, 'id' | 'occurredAt'> & { id?: string }): Promise<boolean> {
    const row = await this.store.write(
      this.db
        .insertInto('webhook_events')
        .values({ id: event.id ?? `msg_e${newId(this.now())}`, type: event.type, product_id: event.productId, data: JSON.stringify(event.data), occurred_at: this.now(), fanned_out: 0 })
        .onConflict((oc) => oc.column('id').doNothing())
        .returning('id'),
    );
    return row !== undefined;
  }
}
