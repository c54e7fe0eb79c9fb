// CMP's records and the statements on its tables (tables.db to read, tables.write for each write).
import type { Kysely, Selectable } from 'kysely';
import type { ProtocolTables } from '../../src/core/protocol.js';

interface Schema {
  cmp_signers: {
    id: string;
    ca_id: string;
    serial_hex: string;
    certificate_pem: string;
    encrypted_key: string;
    not_before: number | string;
    not_after: number | string;
    created_at: number | string;
  };
}

export interface SignerRecord {
  id: string;
  caId: string;
  serialHex: string;
  certificatePem: string;
  /** The key's envelope under the master key (core.sealing). */
  encryptedKey: string;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
}

const ms = (v: number | string): Date => new Date(Number(v));

const signerOf = (r: Selectable<Schema['cmp_signers']>): SignerRecord => ({
  id: r.id,
  caId: r.ca_id,
  serialHex: r.serial_hex,
  certificatePem: r.certificate_pem,
  encryptedKey: r.encrypted_key,
  notBefore: ms(r.not_before),
  notAfter: ms(r.not_after),
  createdAt: ms(r.created_at),
});

/**
 * `certgate master-key rotate`: every CMP signer key (expired ones too, until they are removed)
 * opened under the current master key and sealed under the new one, through `db` (the rotation's
 * transaction).
 */
export async function resealSignerKeys(db: Kysely<unknown>, reseal: (envelope: string, id: string) => string): Promise<number> {
  const own = db as Kysely<Schema>;
  const rows = await own.selectFrom('cmp_signers').select(['id', 'encrypted_key']).execute();
  for (const r of rows) await own.updateTable('cmp_signers').set({ encrypted_key: reseal(r.encrypted_key, r.id) }).where('id', '=', r.id).execute();
  return rows.length;
}

export class CmpDb {
  private readonly db: Kysely<Schema>;
  private readonly write: ProtocolTables<Schema>['write'];

  constructor(tables: ProtocolTables<Schema>) {
    this.db = tables.db;
    this.write = (statement) => tables.write(statement);
  }

  /** The CA's signer certificates that have not expired, newest first. */
  async liveSigners(caId: string, now: number): Promise<SignerRecord[]> {
    const rows = await this.db.selectFrom('cmp_signers').selectAll().where('ca_id', '=', caId).where('not_after', '>', now).orderBy('not_before', 'desc').orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
    return rows.map(signerOf);
  }

  async insertSigner(r: SignerRecord): Promise<void> {
    await this.write(
      this.db.insertInto('cmp_signers').values({
        id: r.id,
        ca_id: r.caId,
        serial_hex: r.serialHex,
        certificate_pem: r.certificatePem,
        encrypted_key: r.encryptedKey,
        not_before: r.notBefore.getTime(),
        not_after: r.notAfter.getTime(),
        created_at: r.createdAt.getTime(),
      }),
    );
  }

  /** Forgets signer certificates that expired more than `keptMs` ago. */
  async removeExpiredSigners(now: number, keptMs: number): Promise<void> {
    await this.write(this.db.deleteFrom('cmp_signers').where('not_after', '<', now - keptMs));
  }
}
