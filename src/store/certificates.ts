import type { Insertable, Kysely, Selectable } from 'kysely';
import type { AuditEntryInput, CertificateRecord, CertificateSource, CustomFieldValues, InventoryRecord, RevocationReason, RevokedEntry } from '../core/types.js';
import { KyselyAggregate } from './kyselyWriter.js';
import { fromMs, fromNullableMs, toMs, type CertificatesTable, type Database } from './schema.js';
import {
  certificateById,
  certificateByRequestId,
  certificateBySerial,
  insertCertificate,
  reinstateCertificate,
  revokeCertificate,
  type RevokeArgs,
} from './queries.js';
import type { CertificateStore, NewCertificate, Revocation } from './types.js';
import { firstRecord, recordOf } from './rows.js';

/** One of our certificates: the queries that return these select `source = 'issued'` rows only. */
export function certificateFromRow(row: Selectable<CertificatesTable>): CertificateRecord {
  if (row.ca_id === null || row.product_id === null) throw new Error(`certificate ${row.id} is an imported record, not one of ours`);
  return { ...inventoryFieldsOf(row), caId: row.ca_id, productId: row.product_id };
}

export function inventoryFromRow(row: Selectable<CertificatesTable>): InventoryRecord {
  return { ...inventoryFieldsOf(row), caId: row.ca_id, productId: row.product_id, source: row.source as CertificateSource, issuer: row.issuer };
}

function inventoryFieldsOf(row: Selectable<CertificatesTable>): Omit<CertificateRecord, 'caId' | 'productId'> {
  return {
    id: row.id,
    requestId: row.request_id,
    serialNumber: row.serial_number,
    commonName: row.common_name,
    sanDns: JSON.parse(row.san_dns) as string[],
    sanIp: JSON.parse(row.san_ip) as string[],
    sanEmail: JSON.parse(row.san_email) as string[],
    sanUri: JSON.parse(row.san_uri) as string[],
    keyAlgorithm: row.key_algorithm,
    validFrom: fromMs(row.valid_from),
    validTo: fromMs(row.valid_to),
    certificatePem: row.certificate_pem,
    revokedAt: fromNullableMs(row.revoked_at),
    revocationReason: row.revocation_reason as RevocationReason | null,
    invalidityDate: fromNullableMs(row.invalidity_date),
    createdAt: fromMs(row.created_at),
    owner: row.owner,
    notes: row.notes,
    customFields: JSON.parse(row.custom_fields) as CustomFieldValues,
    supersedes: row.supersedes,
    renewedBy: row.renewed_by,
  };
}

/** The record a newly stored certificate is: unrevoked, created at `createdAt`. */
export function newCertificateRecord(certificate: NewCertificate, createdAt: number): CertificateRecord {
  return {
    id: certificate.id,
    caId: certificate.caId,
    productId: certificate.productId,
    requestId: certificate.requestId,
    serialNumber: certificate.serialNumber,
    commonName: certificate.commonName,
    sanDns: [...certificate.sanDns],
    sanIp: [...certificate.sanIp],
    sanEmail: [...certificate.sanEmail],
    sanUri: [...certificate.sanUri],
    keyAlgorithm: certificate.keyAlgorithm,
    validFrom: new Date(toMs(certificate.validFrom)),
    validTo: new Date(toMs(certificate.validTo)),
    certificatePem: certificate.certificatePem,
    revokedAt: null,
    revocationReason: null,
    invalidityDate: null,
    createdAt: new Date(createdAt),
    owner: certificate.owner,
    notes: certificate.notes,
    customFields: { ...certificate.customFields },
    supersedes: certificate.supersedes,
    renewedBy: null,
  };
}

export function certificateToRow(record: CertificateRecord): Insertable<CertificatesTable> {
  return {
    id: record.id,
    ca_id: record.caId,
    product_id: record.productId,
    request_id: record.requestId,
    serial_number: record.serialNumber,
    common_name: record.commonName,
    san_dns: JSON.stringify(record.sanDns),
    san_ip: JSON.stringify(record.sanIp),
    san_email: JSON.stringify(record.sanEmail),
    san_uri: JSON.stringify(record.sanUri),
    key_algorithm: record.keyAlgorithm,
    valid_from: toMs(record.validFrom),
    valid_to: toMs(record.validTo),
    certificate_pem: record.certificatePem,
    revoked_at: record.revokedAt === null ? null : toMs(record.revokedAt),
    revocation_reason: record.revocationReason,
    invalidity_date: record.invalidityDate === null ? null : toMs(record.invalidityDate),
    created_at: toMs(record.createdAt),
    source: 'issued',
    issuer: null,
    owner: record.owner,
    notes: record.notes,
    custom_fields: JSON.stringify(record.customFields),
    supersedes: record.supersedes,
    renewed_by: record.renewedBy,
    deleted_at: null,
  };
}

/** Inserts a new (unrevoked) certificate and returns the record as a read would return it. */
export async function storeCertificate(
  db: Kysely<Database>,
  certificate: NewCertificate,
  createdAt: number,
): Promise<CertificateRecord> {
  const record = newCertificateRecord(certificate, createdAt);
  await insertCertificate(db, certificateToRow(record)).execute();
  return record;
}

export const revokeArgs = (id: string, r: Revocation): RevokeArgs => ({
  id,
  revokedAt: toMs(r.revokedAt),
  reason: r.reason,
  invalidityDate: r.invalidityDate === null ? null : toMs(r.invalidityDate),
});

export class KyselyCertificateStore extends KyselyAggregate implements CertificateStore {

  async get(id: string): Promise<CertificateRecord | undefined> {
    return firstRecord(certificateById(this.db, { id }), certificateFromRow);
  }

  async getBySerial(caId: string, serialNumber: string): Promise<CertificateRecord | undefined> {
    return firstRecord(certificateBySerial(this.db, { caId, serialNumber }), certificateFromRow);
  }

  async getByRequestId(requestId: string): Promise<CertificateRecord | undefined> {
    return firstRecord(certificateByRequestId(this.db, { requestId }), certificateFromRow);
  }

  async list(options: { caIds?: string[]; limit: number; offset: number }): Promise<CertificateRecord[]> {
    if (options.limit <= 0 || options.caIds?.length === 0) return [];
    let query = this.db.selectFrom('certificates').selectAll();
    if (options.caIds !== undefined) query = query.where('ca_id', 'in', options.caIds);
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(options.limit)
      .offset(Math.max(0, options.offset))
      .execute();
    return rows.map(certificateFromRow);
  }

  async revoke(id: string, r: Revocation, audit: AuditEntryInput): Promise<{ certificate: CertificateRecord; changed: boolean } | undefined> {
    const row = await this.writes.one(revokeCertificate(this.db, revokeArgs(id, r)), (changed) => (changed ? audit : null));
    if (row) return { certificate: certificateFromRow(row), changed: true };
    const existing = await this.get(id);
    return existing && { certificate: existing, changed: false };
  }

  async reinstate(id: string, audit: AuditEntryInput): Promise<CertificateRecord | undefined> {
    return recordOf(await this.writes.one(reinstateCertificate(this.db, { id }), (changed) => (changed ? audit : null)), certificateFromRow);
  }

  async insertSystemIssued(certificate: NewCertificate, audit: AuditEntryInput): Promise<CertificateRecord> {
    const record = newCertificateRecord(certificate, this.writes.now());
    await this.writes.one(insertCertificate(this.db, certificateToRow(record)), () => audit);
    return record;
  }

  async listRevoked(caId: string): Promise<RevokedEntry[]> {
    const rows = await this.db
      .selectFrom('certificates')
      .select(['serial_number', 'revoked_at', 'revocation_reason', 'invalidity_date'])
      .where('ca_id', '=', caId)
      .where('revoked_at', 'is not', null)
      .orderBy('revoked_at')
      .execute();
    return rows.map((r) => ({
      serialNumber: r.serial_number,
      revokedAt: fromMs(r.revoked_at as number | string),
      reason: (r.revocation_reason ?? 'unspecified') as RevocationReason,
      invalidityDate: fromNullableMs(r.invalidity_date),
    }));
  }
}
