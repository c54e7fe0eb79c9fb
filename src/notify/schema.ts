// The notification tables as Kysely sees them (migrations.ts makes them).
export interface WebhookSubscriptionTable {
  id: string;
  url: string;
  events: string;
  product_ids: string | null;
  owner: string;
  description: string | null;
  secret: string;
  created_at: number | string;
}

export interface WebhookEventTable {
  id: string;
  type: string;
  product_id: string | null;
  data: string;
  occurred_at: number | string;
  fanned_out: number;
}

export interface WebhookDeliveryTable {
  id: string;
  subscription_id: string;
  event_id: string;
  event_type: string;
  status: string;
  attempts: number;
  created_at: number | string;
  updated_at: number | string;
}

export interface WebhookAttemptTable {
  id: string;
  delivery_id: string;
  subscription_id: string;
  event_id: string;
  event_type: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  at: number | string;
}

export interface WebhookCursorTable {
  name: string;
  seq: number | string;
}

export interface NotifyDatabase {
  webhook_subscriptions: WebhookSubscriptionTable;
  webhook_events: WebhookEventTable;
  webhook_deliveries: WebhookDeliveryTable;
  webhook_attempts: WebhookAttemptTable;
  webhook_cursor: WebhookCursorTable;
}
