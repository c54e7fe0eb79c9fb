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

/**
 * Kept keys belong to the credential (its id) that asked, not to its name: a name is free again
 * once its credential is revoked, and a new credential under it must never receive the old one's
 * keys. The keys kept under 0001 were filed by name alone, so no credential can be shown to own
 * them: they are dropped (a request still waiting for approval then gets a new key, and its
 * client is told to send a new request).
 */
const perCredential: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('est_credential_keys')
      // The credential id (or, for a certificate login, the certificate's principal) that asked.
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('transaction_id', 'text', (c) => c.notNull())
      // AES-256-GCM under a key derived from the master key; owner and transaction are its AAD.
      .addColumn('key_envelope', 'text', (c) => c.notNull())
      .addColumn('csr', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      // When the key first left certgate with its certificate; every later delivery is audited.
      .addColumn('delivered_at', 'bigint')
      .addPrimaryKeyConstraint('est_credential_keys_pk', ['owner', 'transaction_id'])
      .execute();
    await db.schema.createIndex('est_credential_keys_created_idx').on('est_credential_keys').column('created_at').execute();
    await db.schema.dropTable('est_server_keys').ifExists().execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('est_credential_keys').ifExists().execute();
    await initial.up(db);
  },
};

export const EST_MIGRATIONS: Readonly<Record<string, Migration>> = { '0001_server_keys': initial, '0002_keys_per_credential': perCredential };
