import type { Kysely, Selectable } from 'kysely';
import type { OcspSignerRecord } from '../core/types.js';
import { fromMs, toMs, type Database, type OcspSignersTable } from './schema.js';
import type { NewOcspSigner, OcspSignerStore } from './types.js';
import { firstRecord } from './rows.js';
import { realTimeMs } from './clock.js';

function fromRow(row: Selectable<OcspSignersTable>): OcspSignerRecord {
  return {
    id: row.id,
    caId: row.ca_id,
    certificatePem: row.certificate_pem,
    encryptedKey: row.encrypted_key,
    notBefore: fromMs(row.not_before),
    notAfter: fromMs(row.not_after),
    createdAt: fromMs(row.created_at),
  };
}

export class KyselyOcspSignerStore implements OcspSignerStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = realTimeMs,
  ) {}

  async latest(caId: string): Promise<OcspSignerRecord | undefined> {
    return firstRecord(this.db.selectFrom('ocsp_signers').selectAll().where('ca_id', '=', caId).orderBy('not_after', 'desc').limit(1), fromRow);
  }

  async insert(signer: NewOcspSigner): Promise<OcspSignerRecord> {
    const now = this.now();
    await this.db
      .insertInto('ocsp_signers')
      .values({
        id: signer.id,
        ca_id: signer.caId,
        certificate_pem: signer.certificatePem,
        encrypted_key: signer.encryptedKey,
        not_before: toMs(signer.notBefore),
        not_after: toMs(signer.notAfter),
        created_at: now,
      })
      .execute();
    return { ...signer, createdAt: new Date(now) };
  }
}
