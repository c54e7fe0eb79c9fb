import type { Selectable } from 'kysely';
import type { AuditEntryInput, CaRecord } from '../core/types.js';
import { KyselyAggregate } from './kyselyWriter.js';
import { caById, insertCa } from './queries.js';
import { fromMs, toMs, type CasTable } from './schema.js';
import type { CaStore, NewCa } from './types.js';
import { firstRecord } from './rows.js';

export function caFromRow(row: Selectable<CasTable>): CaRecord {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind as CaRecord['kind'],
    parentId: row.parent_id,
    keyAlgorithm: row.key_algorithm as CaRecord['keyAlgorithm'],
    subject: row.subject,
    certificatePem: row.certificate_pem,
    encryptedKey: row.encrypted_key === '' ? null : row.encrypted_key,
    backend: row.backend as CaRecord['backend'],
    backendConfig: row.backend_config === null ? null : (JSON.parse(row.backend_config) as Record<string, unknown>),
    notBefore: fromMs(row.not_before),
    notAfter: fromMs(row.not_after),
    createdAt: fromMs(row.created_at),
  };
}

export class KyselyCaStore extends KyselyAggregate implements CaStore {

  async insert(ca: NewCa, audit: AuditEntryInput): Promise<CaRecord> {
    const record: CaRecord = {
      id: ca.id,
      name: ca.name,
      kind: ca.kind,
      parentId: ca.parentId,
      keyAlgorithm: ca.keyAlgorithm,
      subject: ca.subject,
      certificatePem: ca.certificatePem,
      encryptedKey: ca.encryptedKey,
      backend: ca.backend ?? 'local',
      backendConfig: ca.backendConfig ?? null,
      notBefore: new Date(toMs(ca.notBefore)),
      notAfter: new Date(toMs(ca.notAfter)),
      createdAt: new Date(this.writes.now()),
    };
    const row = {
        id: record.id,
        name: record.name,
        kind: record.kind,
        parent_id: record.parentId,
        key_algorithm: record.keyAlgorithm,
        subject: record.subject,
        certificate_pem: record.certificatePem,
        encrypted_key: record.encryptedKey ?? '',
        backend: record.backend,
        backend_config: record.backendConfig === null ? null : JSON.stringify(record.backendConfig),
        not_before: toMs(record.notBefore),
        not_after: toMs(record.notAfter),
        created_at: toMs(record.createdAt),
    };
    await this.writes.one(insertCa(this.db, row), () => audit);
    return record;
  }

  async get(id: string): Promise<CaRecord | undefined> {
    return firstRecord(caById(this.db, { id }), caFromRow);
  }

  async getByName(name: string): Promise<CaRecord | undefined> {
    return firstRecord(this.db.selectFrom('cas').selectAll().where('name', '=', name), caFromRow);
  }

  /** Oldest first. */
  async list(): Promise<CaRecord[]> {
    const rows = await this.db.selectFrom('cas').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(caFromRow);
  }
}
