// The notification tables, migrated under their own owner ('notify') beside the core's. Portable
// column types only (text, integer, bigint), as the core's migrations.
import type { Kysely, Migration } from 'kysely';

export const NOTIFY_MIGRATION_OWNER = 'notify';

const webhooks: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('webhook_subscriptions')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('url', 'text', (c) => c.notNull())
      // JSON arrays: the event types wanted, and the products (null: every product).
      .addColumn('events', 'text', (c) => c.notNull())
      .addColumn('product_ids', 'text')
      // The credential that made it (`cli` for the console): who besides admins may see and remove it.
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      // Sealed under the master key, bound to the subscription's id.
      .addColumn('secret', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();

    // The outbox. An event's id is its Standard Webhooks message id (webhook-id), the same on every
    // attempt and for every subscriber; for `certificate.expiring` it is made of the certificate and
    // the threshold, so this primary key is what makes the expiry notice once per threshold.
    await db.schema
      .createTable('webhook_events')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('product_id', 'text')
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('occurred_at', 'bigint', (c) => c.notNull())
      // 0 until a process has made its deliveries (one per matching subscription).
      .addColumn('fanned_out', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.createIndex('webhook_events_fanned_out_idx').ifNotExists().on('webhook_events').columns(['fanned_out', 'occurred_at']).execute();

    await db.schema
      .createTable('webhook_deliveries')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('subscription_id', 'text', (c) => c.notNull())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('event_type', 'text', (c) => c.notNull())
      // pending, delivered, failed (every attempt spent)
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('webhook_deliveries_uq', ['subscription_id', 'event_id'])
      .execute();
    await db.schema.createIndex('webhook_deliveries_status_idx').ifNotExists().on('webhook_deliveries').columns(['status', 'updated_at']).execute();

    // The delivery log: one row per attempt.
    await db.schema
      .createTable('webhook_attempts')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('delivery_id', 'text', (c) => c.notNull())
      .addColumn('subscription_id', 'text', (c) => c.notNull())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('event_type', 'text', (c) => c.notNull())
      .addColumn('attempt', 'integer', (c) => c.notNull())
      .addColumn('status_code', 'integer')
      .addColumn('error', 'text')
      .addColumn('duration_ms', 'integer', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('webhook_attempts_subscription_idx').ifNotExists().on('webhook_attempts').columns(['subscription_id', 'at']).execute();

    // How far the audit trail has been turned into events (one row, name 'audit').
    await db.schema
      .createTable('webhook_cursor')
      .ifNotExists()
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('seq', 'bigint', (c) => c.notNull())
      .execute();
  },
};

export const NOTIFY_MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001_webhooks': webhooks,
};
