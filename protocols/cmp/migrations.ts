// CMP's own tables, migrated under the protocol's name.
import type { Kysely, Migration } from 'kysely';
import { transactionsMigration } from './transactions.js';

// The CMP signer certificates: one current per CA, older ones kept until they expire (a client may
// have pinned one from an earlier answer).
const signers: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('cmp_signers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('ca_id', 'text', (c) => c.notNull())
      .addColumn('serial_hex', 'text', (c) => c.notNull())
      .addColumn('certificate_pem', 'text', (c) => c.notNull())
      // The key's envelope under the master key (core.sealing), as CA keys are kept.
      .addColumn('encrypted_key', 'text', (c) => c.notNull())
      .addColumn('not_before', 'bigint', (c) => c.notNull())
      .addColumn('not_after', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('cmp_signers_ca_idx').on('cmp_signers').columns(['ca_id', 'not_after']).execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('cmp_signers').ifExists().execute();
  },
};

export const CMP_MIGRATIONS: Readonly<Record<string, Migration>> = { '0001_signers': signers, '0002_transactions': transactionsMigration };
