// SCEP's own tables: the RA certificates (one current per CA, older ones kept until they expire so
// that requests encrypted to them still open) and the one-time challenges minted over REST.
import type { Kysely, Migration } from 'kysely';

const initial: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('scep_ra_certificates')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('ca_id', 'text', (c) => c.notNull())
      .addColumn('serial_hex', 'text', (c) => c.notNull())
      .addColumn('certificate_pem', 'text', (c) => c.notNull())
      // The ca/keyProtection envelope under the master key, as CA keys are kept.
      .addColumn('encrypted_key', 'text', (c) => c.notNull())
      .addColumn('not_before', 'bigint', (c) => c.notNull())
      .addColumn('not_after', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('scep_ra_certificates_ca_idx').on('scep_ra_certificates').columns(['ca_id', 'not_after']).execute();
    await db.schema
      .createTable('scep_challenges')
      .addColumn('id', 'text', (c) => c.primaryKey())
      // SHA-256 of the challenge: the challenge itself is shown once and never stored.
      .addColumn('challenge_hash', 'text', (c) => c.notNull().unique())
      .addColumn('product_id', 'text', (c) => c.notNull())
      .addColumn('subject', 'text')
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .addColumn('used_by', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('scep_challenges_expires_idx').on('scep_challenges').column('expires_at').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    for (const t of ['scep_challenges', 'scep_ra_certificates']) await db.schema.dropTable(t).ifExists().execute();
  },
};

// An RA key in a PKCS#11 token: the row keeps its reference (JSON: label and CKA_ID) and an
// empty encrypted_key.
const raKeys: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('scep_ra_certificates').addColumn('key_ref', 'text').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('scep_ra_certificates').dropColumn('key_ref').execute();
  },
};

export const SCEP_MIGRATIONS: Readonly<Record<string, Migration>> = { '0001_initial': initial, '0002_scep_ra_keys': raKeys };
