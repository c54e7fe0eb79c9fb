// EST's own table: the keys serverkeygen made, kept (encrypted) so that the same request, sent
// again while it waits for approval or after a lost answer, gets the same key and certificate.
import type { Kysely, Migration } from 'kysely';

const initial: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('est_server_keys')
      .addColumn('requester', 'text', (c) => c.notNull())
      .addColumn('transaction_id', 'text', (c) => c.notNull())
      // AES-256-GCM under a key derived from the master key; the requester and transaction are its AAD.
      .addColumn('key_envelope', 'text', (c) => c.notNull())
      // The PKCS#10 request certgate made for the key (base64 DER): what is submitted, every time.
      .addColumn('csr', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('est_server_keys_pk', ['requester', 'transaction_id'])
      .execute();
    await db.schema.createIndex('est_server_keys_created_idx').on('est_server_keys').column('created_at').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('est_server_keys').ifExists().execute();
  },
};

export const EST_MIGRATIONS: Readonly<Record<string, Migration>> = { '0001_server_keys': initial };
