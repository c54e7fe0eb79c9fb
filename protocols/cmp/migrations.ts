// CMP's own tables, migrated under the protocol's name.
import type { Kysely, Migration } from 'kysely';

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

// CMP transactions (protocols/cmp/transactions.ts): who holds a transactionID, for which product and
// request, what it waits for next and the nonce it must return.
const transactions: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('cmp_transactions')
      // Hex of the header's transactionID: unique across senders (RFC 9483 §3.5 transactionIdInUse).
      .addColumn('transaction_id', 'text', (c) => c.primaryKey())
      // The requester the core's request carries (the credential's or certificate's principal).
      .addColumn('sender', 'text', (c) => c.notNull())
      .addColumn('product_id', 'text', (c) => c.notNull())
      // ir, cr, kur or p10cr: what the answers are (ip, cp, kup).
      .addColumn('body_type', 'text', (c) => c.notNull())
      .addColumn('cert_req_id', 'text', (c) => c.notNull())
      .addColumn('request_id', 'text')
      // open (being submitted), waiting (polls), confirm (certConf expected), done.
      .addColumn('state', 'text', (c) => c.notNull())
      // Hex of the senderNonce of certgate's last answer: the next message's recipNonce.
      .addColumn('expected_nonce', 'text', (c) => c.notNull())
      .addColumn('implicit_confirm', 'integer', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('cmp_transactions_expires_idx').on('cmp_transactions').column('expires_at').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('cmp_transactions').ifExists().execute();
  },
};

export const CMP_MIGRATIONS: Readonly<Record<string, Migration>> = { '0001_signers': signers, '0002_transactions': transactions };
