// Webhook subscriptions and their delivery log as callers see them (REST, the CLI), and the one
// JSON rendering of each: no store, no secret.
import type { WebhookEventType } from './events.js';

export interface WebhookSubscription {
  id: string;
  url: string;
  events: WebhookEventType[];
  /** Null: every product. */
  productIds: string[] | null;
  /** Who made it: a REST credential's principal (`apikey:<id>`) or `cli`. */
  owner: string;
  description: string | null;
  createdAt: Date;
}

export interface NewWebhook {
  url: string;
  events: readonly WebhookEventType[];
  productIds: readonly string[] | null;
  description?: string | null;
}

export interface DeliveryAttempt {
  deliveryId: string;
  eventId: string;
  eventType: string;
  attempt: number;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  at: Date;
}

/** A subscription as REST and `certgate webhook --json` show it. */
export const webhookJson = (w: WebhookSubscription) => ({
  id: w.id,
  url: w.url,
  events: w.events,
  products: w.productIds ?? ('*' as const),
  owner: w.owner,
  description: w.description,
  created_at: w.createdAt.toISOString(),
});

/** One attempt of the delivery log, as REST and the CLI show it. */
export const attemptJson = (a: DeliveryAttempt) => ({
  delivery_id: a.deliveryId,
  event_id: a.eventId,
  event_type: a.eventType,
  attempt: a.attempt,
  status_code: a.statusCode,
  error: a.error,
  duration_ms: a.durationMs,
  at: a.at.toISOString(),
});
