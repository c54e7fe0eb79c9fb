// ACME's own tables: accounts, orders, authorizations and challenges (RFC 8555 §7.1).
import { sql, type Kysely, type Migration } from 'kysely';

const initial: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('acme_accounts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      // RFC 7638 thumbprint of the account key: one account per key.
      .addColumn('thumbprint', 'text', (c) => c.notNull().unique())
      .addColumn('jwk', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('contact', 'text', (c) => c.notNull())
      .addColumn('eab_credential_id', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('acme_orders')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('product_id', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('identifiers', 'text', (c) => c.notNull())
      .addColumn('not_before', 'bigint')
      .addColumn('not_after', 'bigint')
      .addColumn('expires', 'bigint', (c) => c.notNull())
      .addColumn('error', 'text')
      .addColumn('request_id', 'text')
      .addColumn('certificate_id', 'text')
      .addColumn('replaces', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('acme_orders_account_idx').on('acme_orders').columns(['account_id', 'status']).execute();
    await db.schema.createIndex('acme_orders_certificate_idx').on('acme_orders').column('certificate_id').where(sql.ref('certificate_id'), 'is not', null).execute();
    await db.schema
      .createTable('acme_authorizations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('order_id', 'text', (c) => c.notNull())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('identifier_type', 'text', (c) => c.notNull())
      .addColumn('identifier_value', 'text', (c) => c.notNull())
      .addColumn('wildcard', 'integer', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('expires', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('acme_authorizations_order_idx').on('acme_authorizations').column('order_id').execute();
    await db.schema.createIndex('acme_authorizations_account_idx').on('acme_authorizations').columns(['account_id', 'status']).execute();
    await db.schema
      .createTable('acme_challenges')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('authz_id', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('token', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('validated_at', 'bigint')
      .addColumn('error', 'text')
      .execute();
    await db.schema.createIndex('acme_challenges_authz_idx').on('acme_challenges').column('authz_id').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    for (const t of ['acme_challenges', 'acme_authorizations', 'acme_orders', 'acme_accounts']) await db.schema.dropTable(t).ifExists().execute();
  },
};

export const ACME_MIGRATIONS: Readonly<Record<string, Migration>> = { '0001_initial': initial };
