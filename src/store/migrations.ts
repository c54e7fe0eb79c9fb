// Schema migrations, provided in code (no filesystem lookups) and written once for both SQLite and
// PostgreSQL: only portable column types (text, integer, bigint), constraints and indexes.
// Append new migrations to MIGRATIONS; never edit one that has shipped.
import { Migrator, SqliteAdapter, sql, type ColumnDefinitionBuilder, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { AUDIT_LOCK_KEY } from './audit.js';

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

/** The inventory's certificate counts are kept per day of valid_to: see inventoryQuery.ts. */
export const COUNT_BUCKET_MS = 86_400_000;

/**
 * What the inventory list needs to stay fast at a million certificates (see inventoryQuery.ts):
 * - indexes in the list's order (newest first), overall and per CA, that carry the columns the
 *   status, CA, source and expiry filters test, so a page (a deep one too) walks index entries,
 *   not rows; and one by valid_to for the expiry filter;
 * - certificate_counts: the live (not deleted) certificates per CA, product, source, revoked or
 *   not, and day of valid_to, kept by triggers in the same transaction as every change, so that
 *   the `total` of the broad filters is a sum over a few thousand rows instead of a count over a
 *   million (the day a filter's time bound falls in is counted exactly from the expiry index);
 * - a substring index for `search`: pg_trgm on PostgreSQL (when the extension can be installed;
 *   without it search still works, by scanning), an FTS5 trigram table on SQLite.
 */
const inventoryIndexes: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
    const live = sql.ref('deleted_at');
    await db.schema
      .createIndex('certificates_list_idx')
      .on('certificates')
      .columns(['created_at', 'id', 'ca_id', 'source', 'revoked_at', 'valid_to'])
      .where(live, 'is', null)
      .execute();
    await db.schema
      .createIndex('certificates_ca_list_idx')
      .on('certificates')
      .columns(['ca_id', 'created_at', 'id', 'source', 'revoked_at', 'valid_to'])
      .where(live, 'is', null)
      .execute();
    await db.schema
      .createIndex('certificates_live_expiry_idx')
      .on('certificates')
      .columns(['valid_to', 'ca_id', 'product_id', 'source'])
      .where((eb) => eb.and([eb(live, 'is', null), eb(sql.ref('revoked_at'), 'is', null)]))
      .execute();
    // Most certificates have no owner; those cost this index nothing.
    await db.schema
      .createIndex('certificates_owner_idx')
      .on('certificates')
      .columns(['owner', 'created_at', 'id'])
      .where((eb) => eb.and([eb(live, 'is', null), eb(sql.ref('owner'), 'is not', null)]))
      .execute();

    let counts = db.schema
      .createTable('certificate_counts')
      // '' for an imported certificate's missing CA and product: key columns cannot be NULL.
      .addColumn('ca_id', 'text', (c) => c.notNull())
      .addColumn('product_id', 'text', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('revoked', 'integer', (c) => c.notNull())
      .addColumn('valid_to_day', 'bigint', (c) => c.notNull())
      .addColumn('n', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('certificate_counts_pk', ['ca_id', 'product_id', 'source', 'revoked', 'valid_to_day']);
    // PostgreSQL: a bucket row is updated by every issuance; room left in its page lets the
    // update stay there (a HOT update, pruned without VACUUM) instead of growing the table.
    counts = counts.modifyEnd(sqlite ? sql`without rowid` : sql`with (fillfactor = 50)`);
    await counts.execute();
    const day = sql.lit(COUNT_BUCKET_MS);
    await sql`insert into certificate_counts (ca_id, product_id, source, revoked, valid_to_day, n)
      select coalesce(ca_id, ''), coalesce(product_id, ''), source, case when revoked_at is null then 0 else 1 end, valid_to / ${day}, count(*)
      from certificates where deleted_at is null
      group by coalesce(ca_id, ''), coalesce(product_id, ''), source, case when revoked_at is null then 0 else 1 end, valid_to / ${day}`.execute(db);

    if (sqlite) await sqliteCountTriggers(db);
    else await postgresCountTriggers(db);

    if (sqlite) {
      // The trigram index finds candidate rows; the list still applies its own LIKE to the
      // certificate's common name. Entries are only ever added: a common name is written with its
      // certificate and never changed, and an entry whose certificate is gone matches no row (so a
      // rowid that VACUUM renumbers is never relied on).
      await sql`create virtual table certificate_search using fts5(common_name, certificate_id unindexed, tokenize = 'trigram', detail = 'none')`.execute(db);
      await sql`insert into certificate_search (common_name, certificate_id) select common_name, id from certificates where common_name is not null`.execute(db);
      await sql`create trigger certificate_search_insert after insert on certificates when new.common_name is not null begin
        insert into certificate_search (common_name, certificate_id) values (new.common_name, new.id);
      end`.execute(db);
      await sql`create trigger certificate_search_rename after update of common_name on certificates
        when new.common_name is not null and new.common_name is not old.common_name begin
        insert into certificate_search (common_name, certificate_id) values (new.common_name, new.id);
      end`.execute(db);
    } else if (await installExtension(db, 'pg_trgm')) {
      await sql`create index certificates_common_name_trgm_idx on certificates using gin (lower(common_name) gin_trgm_ops) where deleted_at is null`.execute(db);
    }
  },
};

// The bucket of a certificate row (`r` is new or old), as SQL.
const bucketValues = (r: 'new' | 'old') =>
  sql.raw(`coalesce(${r}.ca_id, ''), coalesce(${r}.product_id, ''), ${r}.source, case when ${r}.revoked_at is null then 0 else 1 end, ${r}.valid_to / ${COUNT_BUCKET_MS}`);
const bucketMatches = (r: 'new' | 'old') =>
  sql.raw(
    `ca_id = coalesce(${r}.ca_id, '') and product_id = coalesce(${r}.product_id, '') and source = ${r}.source ` +
      `and revoked = case when ${r}.revoked_at is null then 0 else 1 end and valid_to_day = ${r}.valid_to / ${COUNT_BUCKET_MS}`,
  );
const COUNTED_COLUMNS = 'ca_id, product_id, source, revoked_at, valid_to, deleted_at';

async function sqliteCountTriggers(db: Kysely<unknown>): Promise<void> {
  const add = (r: 'new' | 'old', condition: string) => sql`insert into certificate_counts (ca_id, product_id, source, revoked, valid_to_day, n)
      select ${bucketValues(r)}, 1 where ${sql.raw(condition)}
      on conflict (ca_id, product_id, source, revoked, valid_to_day) do update set n = n + 1`;
  const remove = (r: 'new' | 'old', condition: string) => sql`update certificate_counts set n = n - 1 where ${sql.raw(condition)} and ${bucketMatches(r)}`;
  await sql`create trigger certificate_counts_insert after insert on certificates begin
    ${add('new', 'new.deleted_at is null')};
  end`.execute(db);
  await sql`create trigger certificate_counts_delete after delete on certificates begin
    ${remove('old', 'old.deleted_at is null')};
  end`.execute(db);
  await sql`create trigger certificate_counts_update after update of ${sql.raw(COUNTED_COLUMNS)} on certificates
    when (old.deleted_at is null) <> (new.deleted_at is null) or old.ca_id is not new.ca_id or old.product_id is not new.product_id
      or old.source <> new.source or (old.revoked_at is null) <> (new.revoked_at is null) or old.valid_to / ${sql.lit(COUNT_BUCKET_MS)} <> new.valid_to / ${sql.lit(COUNT_BUCKET_MS)}
    begin
    ${remove('old', 'old.deleted_at is null')};
    ${add('new', 'new.deleted_at is null')};
  end`.execute(db);
}

async function postgresCountTriggers(db: Kysely<unknown>): Promise<void> {
  await sql`create function certificate_counts_add(ca text, product text, src text, revoked_at bigint, valid_to bigint, delta integer) returns void language sql as $$
    insert into certificate_counts as t (ca_id, product_id, source, revoked, valid_to_day, n)
    values (coalesce(ca, ''), coalesce(product, ''), src, case when revoked_at is null then 0 else 1 end, valid_to / ${sql.lit(COUNT_BUCKET_MS)}, delta)
    on conflict (ca_id, product_id, source, revoked, valid_to_day) do update set n = t.n + excluded.n
  $$`.execute(db);
  // Transactions that change certificates in several buckets (a bulk insert, two certificates
  // moved in opposite directions) would lock the bucket rows in different orders and could
  // deadlock. So the counts change under one transaction-level lock: the audit trail's (see
  // AUDIT_LOCK_KEY in audit.ts), which every audited write of a certificate takes before it
  // commits anyway; taken here a little earlier, it orders these writers without a new lock.
  await sql`create function certificate_counts_track() returns trigger language plpgsql as $$
  begin
    perform pg_advisory_xact_lock(${sql.lit(AUDIT_LOCK_KEY)});
    if tg_op <> 'INSERT' and old.deleted_at is null then
      perform certificate_counts_add(old.ca_id, old.product_id, old.source, old.revoked_at, old.valid_to, -1);
    end if;
    if tg_op <> 'DELETE' and new.deleted_at is null then
      perform certificate_counts_add(new.ca_id, new.product_id, new.source, new.revoked_at, new.valid_to, 1);
    end if;
    return null;
  end
  $$`.execute(db);
  await sql`create trigger certificate_counts_insert_delete after insert or delete on certificates
    for each row execute function certificate_counts_track()`.execute(db);
  await sql`create trigger certificate_counts_update after update of ${sql.raw(COUNTED_COLUMNS)} on certificates for each row
    when ((old.deleted_at is null) <> (new.deleted_at is null) or old.ca_id is distinct from new.ca_id or old.product_id is distinct from new.product_id
      or old.source <> new.source or (old.revoked_at is null) <> (new.revoked_at is null) or old.valid_to / ${sql.lit(COUNT_BUCKET_MS)} <> new.valid_to / ${sql.lit(COUNT_BUCKET_MS)})
    execute function certificate_counts_track()`.execute(db);
}

/**
 * Installs a PostgreSQL extension if it is available and this user may (pg_trgm is a trusted
 * extension: the database's owner may install it); false when it could not be. Runs in a
 * savepoint, so that a refusal does not abort the migration's transaction.
 */
async function installExtension(db: Kysely<unknown>, name: 'pg_trgm'): Promise<boolean> {
  await sql`savepoint install_extension`.execute(db);
  try {
    await sql`create extension if not exists ${sql.id(name)}`.execute(db);
    await sql`release savepoint install_extension`.execute(db);
    return true;
  } catch {
    await sql`rollback to savepoint install_extension`.execute(db);
    return false;
  }
}

/** One imported record per issuer and serial, however many imports race (PostgreSQL runs them side by side). */
const importedUnique: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createIndex('certificates_imported_uq')
      .on('certificates')
      .columns(['issuer', 'serial_number'])
      .unique()
      .where(sql.ref('source'), '=', 'imported')
      .execute();
  },
};

/**
 * PostgreSQL: 0006's counts change at commit (deferred constraint triggers), when an audited
 * write already holds the audit trail's lock, instead of taking that lock at the certificate's
 * insert and holding it through the rest of the transaction. certificate_counts_track still takes
 * the lock first, so every writer of the counts holds it and bucket rows are never locked in two
 * orders. SQLite, one writer at a time, is left as it is. The store's issuance writes (request,
 * claim, certificate with their audit entries; 16 writers, alternating runs on one 2-core machine):
 * 218 a second before 0006, 171 with its triggers, 201 with these.
 */
const deferredCounts: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    if (db.getExecutor().adapter instanceof SqliteAdapter) return;
    await sql`drop trigger certificate_counts_insert_delete on certificates`.execute(db);
    await sql`drop trigger certificate_counts_update on certificates`.execute(db);
    await sql`create constraint trigger certificate_counts_insert_delete after insert or delete on certificates
      deferrable initially deferred for each row execute function certificate_counts_track()`.execute(db);
    await sql`create constraint trigger certificate_counts_update after update of ${sql.raw(COUNTED_COLUMNS)} on certificates
      deferrable initially deferred for each row
      when ((old.deleted_at is null) <> (new.deleted_at is null) or old.ca_id is distinct from new.ca_id or old.product_id is distinct from new.product_id
        or old.source <> new.source or (old.revoked_at is null) <> (new.revoked_at is null) or old.valid_to / ${sql.lit(COUNT_BUCKET_MS)} <> new.valid_to / ${sql.lit(COUNT_BUCKET_MS)})
      execute function certificate_counts_track()`.execute(db);
  },
};

/** A credential's reach within its products (issue 19): every existing credential keeps seeing its whole products. */
const credentialScope: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('credentials').addColumn('scope', 'text', (c) => c.notNull().defaultTo('product')).execute();
  },
};

/**
 * Domain control validation for every protocol, and organization validation (issue 23): the
 * registry of domains and organizations, which names a request waits for, and the credential a
 * request came with (whose owner a validation must share).
 */
/** Which backend signs for a CA, and its settings (a PKCS#11 key reference, an upstream ACME account). */
const upstreamOrders: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    // One upstream ACME order per enrollment request, recorded before it is finalized, so a
    // retried or re-claimed job resumes it instead of placing a second one.
    await db.schema
      .createTable('upstream_orders')
      .addColumn('request_id', 'text', (c) => c.primaryKey())
      .addColumn('ca_id', 'text', (c) => c.notNull())
      .addColumn('order_url', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('chain_pem', 'text')
      // The upstream's suggested renewal window (ARI, RFC 9773) for the certificate, when it offers one.
      .addColumn('renewal_start', 'bigint')
      .addColumn('renewal_end', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    // http-01 key authorizations of upstream orders in progress, read by whichever process serves
    // /.well-known/acme-challenge/ (not necessarily the worker that placed the order).
    await db.schema
      .createTable('upstream_http_challenges')
      .addColumn('token', 'text', (c) => c.primaryKey())
      .addColumn('key_authorization', 'text', (c) => c.notNull())
      .addColumn('request_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('upstream_http_challenges_request').on('upstream_http_challenges').column('request_id').execute();
  },
};

const caBackends: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('cas').addColumn('backend', 'text', (c) => c.notNull().defaultTo('local')).execute();
    await db.schema.alterTable('cas').addColumn('backend_config', 'text').execute();
  },
};

const dcvRegistry: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('enrollment_requests').addColumn('credential_id', 'text').execute();
    await db.schema
      .createTable('domains')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('holder', 'text', (c) => c.notNull())
      .addColumn('token', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('method', 'text')
      .addColumn('validated_at', 'bigint')
      .addColumn('expires_at', 'bigint')
      .addColumn('last_error', 'text')
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    // One record per name and holder: a request waiting on a name finds the one the owner registered.
    await db.schema.createIndex('domains_name_holder_uq').unique().on('domains').columns(['name', 'holder']).execute();
    await db.schema
      .createTable('domain_requests')
      .addColumn('request_id', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('domain_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('domain_requests_pk', ['request_id', 'name'])
      .execute();
    await db.schema.createIndex('domain_requests_domain_idx').on('domain_requests').column('domain_id').execute();
    await db.schema
      .createTable('organizations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('holder', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('unit', 'text')
      .addColumn('country', 'text')
      .addColumn('state', 'text')
      .addColumn('locality', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('decided_by', 'text')
      .addColumn('decided_at', 'bigint')
      .addColumn('expires_at', 'bigint')
      .addColumn('reason', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('organizations_holder_name_idx').on('organizations').columns(['holder', 'name']).execute();
  },
};

export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001_initial': initial,
  '0002_revocation': revocation,
  '0003_claims': claims,
  '0004_credentials_audit': credentialsAndAudit,
  '0005_inventory': inventory,
  '0006_inventory_indexes': inventoryIndexes,
  '0007_imported_unique': importedUnique,
  '0008_deferred_counts': deferredCounts,
  '0009_credential_scope': credentialScope,
  '0010_dcv_registry': dcvRegistry,
  '0011_ca_backends': caBackends,
  '0013_upstream_orders': upstreamOrders,
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
