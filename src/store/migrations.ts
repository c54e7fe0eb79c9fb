// Schema migrations, provided in code (no filesystem lookups) and written once for both SQLite and
// PostgreSQL: only portable column types (text, integer, bigint), constraints and indexes.
// Append new migrations to MIGRATIONS; never edit one that has shipped.
import { Migrator, SqliteAdapter, sql, type ColumnDefinitionBuilder, type Kysely, type Migration, type MigrationProvider } from 'kysely';

const initial: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('cas')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('parent_id', 'text', (c) => c.references('cas.id'))
      .addColumn('key_algorithm', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('certificate_pem', 'text', (c) => c.notNull())
      .addColumn('encrypted_key', 'text', (c) => c.notNull())
      .addColumn('not_before', 'bigint', (c) => c.notNull())
      .addColumn('not_after', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('cas_name_uq', ['name'])
      .execute();

    await db.schema
      .createTable('products')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('ca_id', 'text', (c) => c.notNull().references('cas.id'))
      .addColumn('template', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('products_name_uq', ['name'])
      .execute();

    await db.schema
      .createTable('enrollment_requests')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('product_id', 'text', (c) => c.notNull().references('products.id'))
      .addColumn('ca_id', 'text', (c) => c.notNull().references('cas.id'))
      .addColumn('requester', 'text', (c) => c.notNull())
      .addColumn('protocol', 'text', (c) => c.notNull())
      .addColumn('csr_pem', 'text', (c) => c.notNull())
      .addColumn('validity_days', 'integer')
      // NULLs are distinct in unique constraints on both databases: only keyed requests collide.
      .addColumn('idempotency_key', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('status_reason', 'text')
      // No foreign key: certificates already reference requests, and a cycle would complicate inserts.
      .addColumn('certificate_id', 'text')
      .addColumn('approved_by', 'text')
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('enrollment_requests_idempotency_uq', ['requester', 'idempotency_key'])
      .execute();
    await db.schema
      .createIndex('enrollment_requests_status_created_idx')
      .ifNotExists()
      .on('enrollment_requests')
      .columns(['status', 'created_at'])
      .execute();

    await db.schema
      .createTable('certificates')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('ca_id', 'text', (c) => c.notNull().references('cas.id'))
      .addColumn('product_id', 'text', (c) => c.notNull().references('products.id'))
      .addColumn('request_id', 'text', (c) => c.references('enrollment_requests.id'))
      .addColumn('serial_number', 'text', (c) => c.notNull())
      .addColumn('common_name', 'text')
      .addColumn('san_dns', 'text', (c) => c.notNull())
      .addColumn('san_ip', 'text', (c) => c.notNull())
      .addColumn('san_email', 'text', (c) => c.notNull())
      .addColumn('san_uri', 'text', (c) => c.notNull())
      .addColumn('key_algorithm', 'text', (c) => c.notNull())
      .addColumn('valid_from', 'bigint', (c) => c.notNull())
      .addColumn('valid_to', 'bigint', (c) => c.notNull())
      .addColumn('certificate_pem', 'text', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .addColumn('revocation_reason', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('certificates_ca_serial_uq', ['ca_id', 'serial_number'])
      // The guarantee that one request is never issued twice.
      .addUniqueConstraint('certificates_request_uq', ['request_id'])
      .execute();
    await db.schema
      .createIndex('certificates_ca_created_idx')
      .ifNotExists()
      .on('certificates')
      .columns(['ca_id', 'created_at'])
      .execute();
    await db.schema
      .createIndex('certificates_created_idx')
      .ifNotExists()
      .on('certificates')
      .column('created_at')
      .execute();

    await db.schema
      .createTable('api_keys')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('secret_hash', 'text', (c) => c.notNull())
      .addColumn('permissions', 'text', (c) => c.notNull())
      .addColumn('admin', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    for (const table of ['api_keys', 'certificates', 'enrollment_requests', 'products', 'cas']) {
      await db.schema.dropTable(table).ifExists().execute();
    }
  },
};

const revocation: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('certificates').addColumn('invalidity_date', 'bigint').execute();
    // CRL builds read only the revoked rows of one CA.
    await db.schema
      .createIndex('certificates_revoked_idx')
      .ifNotExists()
      .on('certificates')
      .columns(['ca_id', 'revoked_at'])
      .where(sql.ref('revoked_at'), 'is not', null)
      .execute();
    await db.schema
      .createTable('crls')
      .ifNotExists()
      .addColumn('ca_id', 'text', (c) => c.primaryKey().references('cas.id'))
      .addColumn('crl_number', 'bigint', (c) => c.notNull())
      .addColumn('this_update', 'bigint', (c) => c.notNull())
      .addColumn('next_update', 'bigint', (c) => c.notNull())
      .addColumn('der', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('ocsp_signers')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('ca_id', 'text', (c) => c.notNull().references('cas.id'))
      .addColumn('certificate_pem', 'text', (c) => c.notNull())
      .addColumn('encrypted_key', 'text', (c) => c.notNull())
      .addColumn('not_before', 'bigint', (c) => c.notNull())
      .addColumn('not_after', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('ocsp_signers_ca_idx').ifNotExists().on('ocsp_signers').columns(['ca_id', 'not_after']).execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('ocsp_signers').ifExists().execute();
    await db.schema.dropTable('crls').ifExists().execute();
    await db.schema.dropIndex('certificates_revoked_idx').ifExists().execute();
    await db.schema.alterTable('certificates').dropColumn('invalidity_date').execute();
  },
};

// What a claim, a protocol transaction and a structured refusal need on the request row.
const claims: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    // SQLite adds one column per ALTER TABLE; so does this, on both databases.
    const columns: [string, 'text' | 'bigint', ((c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder)?][] = [
      ['transaction_id', 'text'],
      // Rows written before this migration carry no constraints and no fingerprint.
      ['constraints', 'text', (c) => c.notNull().defaultTo('[]')],
      ['fingerprint', 'text', (c) => c.notNull().defaultTo('')],
      ['rejection', 'text'],
      ['serial_number', 'text'],
      ['lease_expires_at', 'bigint'],
    ];
    for (const [name, type, build] of columns) {
      await db.schema.alterTable('enrollment_requests').addColumn(name, type, build).execute();
    }
    // Only requests that carry a transaction id can collide (NULLs are distinct), so only they
    // are indexed: most requests have none and then cost no index write.
    await db.schema
      .createIndex('enrollment_requests_transaction_uq')
      .unique()
      .on('enrollment_requests')
      .columns(['requester', 'transaction_id'])
      .where(sql.ref('transaction_id'), 'is not', null)
      .execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('enrollment_requests_transaction_uq').ifExists().execute();
    for (const name of ['lease_expires_at', 'serial_number', 'rejection', 'fingerprint', 'constraints', 'transaction_id']) {
      await db.schema.alterTable('enrollment_requests').dropColumn(name).execute();
    }
  },
};

// One credential model for every protocol (API keys become `rest` credentials, same ids and
// secrets), and the hash-chained audit trail.
const credentialsAndAudit: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('credentials')
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('products', 'text', (c) => c.notNull())
      .addColumn('owner_user', 'text')
      .addColumn('owner_group', 'text')
      .addColumn('expires_at', 'bigint')
      .addColumn('allow_ips', 'text', (c) => c.notNull())
      .addColumn('permissions', 'text', (c) => c.notNull())
      .addColumn('admin', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('secret', 'text', (c) => c.notNull())
      .addColumn('previous_secret', 'text')
      .addColumn('previous_secret_until', 'bigint')
      .addColumn('secret_version', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('revoked_at', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('last_used_at', 'bigint')
      .addColumn('use_count', 'bigint', (c) => c.notNull().defaultTo(0))
      .execute();
    // EST finds its credential by username; two live ones with one name could not be told apart.
    await db.schema
      .createIndex('credentials_live_name_uq')
      .unique()
      .on('credentials')
      .columns(['type', 'name'])
      .where(sql.ref('revoked_at'), 'is', null)
      .execute();
    await sql`insert into credentials (id, type, name, products, allow_ips, permissions, admin, secret, secret_version, enabled, revoked_at, created_at, use_count)
      select id, 'rest', name, '"*"', '[]', permissions, admin, secret_hash, 1, 1, revoked_at, created_at, 0 from api_keys`.execute(db);
    await db.schema.dropTable('api_keys').execute();

    await db.schema
      .createTable('audit_log')
      .ifNotExists()
      .addColumn('seq', 'bigint', (c) => c.primaryKey())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('protocol', 'text', (c) => c.notNull())
      .addColumn('source_ip', 'text')
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('target', 'text', (c) => c.notNull())
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('detail', 'text', (c) => c.notNull())
      .addColumn('prev_hash', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('audit_log_at_idx').ifNotExists().on('audit_log').column('at').execute();
    await db.schema.createIndex('audit_log_target_idx').ifNotExists().on('audit_log').columns(['target', 'seq']).execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('audit_log').ifExists().execute();
    await db.schema
      .createTable('api_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('secret_hash', 'text', (c) => c.notNull())
      .addColumn('permissions', 'text', (c) => c.notNull())
      .addColumn('admin', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .execute();
    await sql`insert into api_keys (id, name, secret_hash, permissions, admin, created_at, revoked_at)
      select id, name, secret, permissions, admin, created_at, revoked_at from credentials where type = 'rest'`.execute(db);
    await db.schema.dropTable('credentials').execute();
  },
};

/**
 * The inventory: certificates imported from other CAs (no CA or product of ours, hence nullable
 * ca_id and product_id), editable owner/notes/custom fields, deployment locations, and what a
 * REST request carries besides its CSR (managed keys, escrow, custom fields, the certificate it
 * supersedes).
 */
const inventory: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const requestColumns: [string, 'text' | 'bigint', (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder][] = [
      ['key_source', 'text', (c) => c.notNull().defaultTo('csr')],
      ['escrowed_key', 'text', (c) => c],
      ['custom_fields', 'text', (c) => c.notNull().defaultTo('{}')],
      ['owner', 'text', (c) => c],
      ['notes', 'text', (c) => c],
      ['supersedes', 'text', (c) => c],
    ];
    for (const [name, type, build] of requestColumns) {
      await db.schema.alterTable('enrollment_requests').addColumn(name, type, build).execute();
    }

    const certificateColumns: [string, 'text' | 'bigint', (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder][] = [
      ['source', 'text', (c) => c.notNull().defaultTo('issued')],
      ['issuer', 'text', (c) => c],
      ['owner', 'text', (c) => c],
      ['notes', 'text', (c) => c],
      ['custom_fields', 'text', (c) => c.notNull().defaultTo('{}')],
      ['supersedes', 'text', (c) => c],
      ['renewed_by', 'text', (c) => c],
      ['deleted_at', 'bigint', (c) => c],
    ];
    if (db.getExecutor().adapter instanceof SqliteAdapter) {
      // SQLite cannot drop a NOT NULL: the table is rebuilt (nothing references it by foreign key).
      let table = db.schema
        .createTable('certificates_v5')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('ca_id', 'text', (c) => c.references('cas.id'))
        .addColumn('product_id', 'text', (c) => c.references('products.id'))
        .addColumn('request_id', 'text', (c) => c.references('enrollment_requests.id'))
        .addColumn('serial_number', 'text', (c) => c.notNull())
        .addColumn('common_name', 'text')
        .addColumn('san_dns', 'text', (c) => c.notNull())
        .addColumn('san_ip', 'text', (c) => c.notNull())
        .addColumn('san_email', 'text', (c) => c.notNull())
        .addColumn('san_uri', 'text', (c) => c.notNull())
        .addColumn('key_algorithm', 'text', (c) => c.notNull())
        .addColumn('valid_from', 'bigint', (c) => c.notNull())
        .addColumn('valid_to', 'bigint', (c) => c.notNull())
        .addColumn('certificate_pem', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .addColumn('revocation_reason', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('invalidity_date', 'bigint');
      for (const [name, type, build] of certificateColumns) table = table.addColumn(name, type, build);
      await table
        .addUniqueConstraint('certificates_ca_serial_uq', ['ca_id', 'serial_number'])
        .addUniqueConstraint('certificates_request_uq', ['request_id'])
        .execute();
      await sql`insert into certificates_v5 (id, ca_id, product_id, request_id, serial_number, common_name, san_dns, san_ip, san_email, san_uri,
        key_algorithm, valid_from, valid_to, certificate_pem, revoked_at, revocation_reason, created_at, invalidity_date)
        select id, ca_id, product_id, request_id, serial_number, common_name, san_dns, san_ip, san_email, san_uri,
        key_algorithm, valid_from, valid_to, certificate_pem, revoked_at, revocation_reason, created_at, invalidity_date from certificates`.execute(db);
      await db.schema.dropTable('certificates').execute();
      await db.schema.alterTable('certificates_v5').renameTo('certificates').execute();
      await db.schema.createIndex('certificates_ca_created_idx').on('certificates').columns(['ca_id', 'created_at']).execute();
      await db.schema.createIndex('certificates_created_idx').on('certificates').column('created_at').execute();
      await db.schema
        .createIndex('certificates_revoked_idx')
        .on('certificates')
        .columns(['ca_id', 'revoked_at'])
        .where(sql.ref('revoked_at'), 'is not', null)
        .execute();
    } else {
      await sql`alter table certificates alter column ca_id drop not null, alter column product_id drop not null`.execute(db);
      for (const [name, type, build] of certificateColumns) await db.schema.alterTable('certificates').addColumn(name, type, build).execute();
    }

    await db.schema
      .createTable('certificate_locations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('certificate_id', 'text', (c) => c.notNull().references('certificates.id').onDelete('cascade'))
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('port', 'integer')
      .addColumn('path', 'text')
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('notes', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('certificate_locations_certificate_idx').on('certificate_locations').column('certificate_id').execute();
  },
};

export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001_initial': initial,
  '0002_revocation': revocation,
  '0003_claims': claims,
  '0004_credentials_audit': credentialsAndAudit,
  '0005_inventory': inventory,
};

/** Brings the core schema up to date. Safe to call on every start, from several processes (PostgreSQL locks). */
export async function migrateToLatest(db: Kysely<unknown>): Promise<void> {
  await runMigrator(new Migrator({ db, provider: providerOf(MIGRATIONS) }));
}

/**
 * Brings a protocol's own tables up to date. Its migrations are recorded in tables of its own,
 * so its names never clash with the core's (or another protocol's), and the core's migrator
 * never sees a migration it does not know (which it would refuse as missing).
 */
export async function migrateOwnerToLatest(
  db: Kysely<unknown>,
  owner: string,
  migrations: Readonly<Record<string, Migration>>,
): Promise<void> {
  // The owner becomes part of table names: keep it to what needs no quoting anywhere.
  if (!/^[a-z][a-z0-9_]{0,39}$/.test(owner)) throw new Error(`invalid migration owner ${JSON.stringify(owner)}`);
  await runMigrator(
    new Migrator({
      db,
      provider: providerOf(migrations),
      migrationTableName: `certgate_migrations_${owner}`,
      migrationLockTableName: `certgate_migrations_${owner}_lock`,
    }),
  );
}

function providerOf(migrations: Readonly<Record<string, Migration>>): MigrationProvider {
  return { getMigrations: async () => ({ ...migrations }) };
}

async function runMigrator(migrator: Migrator): Promise<void> {
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`database migration ${failed ?? ''} failed: ${detail}`, { cause: error });
  }
}
