import type { Insertable, Kysely, Selectable } from 'kysely';
import type { EnrollmentRequest, RequestStatus } from '../core/types.js';
import { fromMs, toMs, type Database, type EnrollmentRequestsTable } from './schema.js';
import type { NewEnrollmentRequest, RequestStore } from './types.js';

export function requestFromRow(row: Selectable<EnrollmentRequestsTable>): EnrollmentRequest {
  return {
    id: row.id,
    productId: row.product_id,
    caId: row.ca_id,
    requester: row.requester,
    protocol: row.protocol as EnrollmentRequest['protocol'],
    csrPem: row.csr_pem,
    validityDays: row.validity_days,
    idempotencyKey: row.idempotency_key,
    status: row.status as RequestStatus,
    statusReason: row.status_reason,
    certificateId: row.certificate_id,
    approvedBy: row.approved_by,
    attempts: Number(row.attempts),
    createdAt: fromMs(row.created_at),
    updatedAt: fromMs(row.updated_at),
  };
}

/** The record a freshly inserted request is: `queued`, no attempts yet. */
export function newRequestRecord(request: NewEnrollmentRequest, now: number): EnrollmentRequest {
  return {
    id: request.id,
    productId: request.productId,
    caId: request.caId,
    requester: request.requester,
    protocol: request.protocol,
    csrPem: request.csrPem,
    validityDays: request.validityDays,
    idempotencyKey: request.idempotencyKey,
    status: 'queued',
    statusReason: null,
    certificateId: null,
    approvedBy: null,
    attempts: 0,
    createdAt: new Date(now),
    updatedAt: new Date(now),
  };
}

export function requestToRow(record: EnrollmentRequest): Insertable<EnrollmentRequestsTable> {
  return {
    id: record.id,
    product_id: record.productId,
    ca_id: record.caId,
    requester: record.requester,
    protocol: record.protocol,
    csr_pem: record.csrPem,
    validity_days: record.validityDays,
    idempotency_key: record.idempotencyKey,
    status: record.status,
    status_reason: record.statusReason,
    certificate_id: record.certificateId,
    approved_by: record.approvedBy,
    attempts: record.attempts,
    created_at: toMs(record.createdAt),
    updated_at: toMs(record.updatedAt),
  };
}

export class KyselyRequestStore implements RequestStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(request: NewEnrollmentRequest): Promise<{ request: EnrollmentRequest; created: boolean }> {
    const record = newRequestRecord(request, Date.now());
    const query = this.db.insertInto('enrollment_requests').values(requestToRow(record));
    if (record.idempotencyKey === null) {
      await query.execute();
      return { request: record, created: true };
    }
    // Race-free: of two concurrent inserts with the same key, exactly one row is written and the
    // other statement inserts nothing (a clash on the primary key still throws).
    const result = await query
      .onConflict((oc) => oc.columns(['requester', 'idempotency_key']).doNothing())
      .executeTakeFirst();
    if (result.numInsertedOrUpdatedRows !== 0n) return { request: record, created: true };
    const existing = await this.db
      .selectFrom('enrollment_requests')
      .selectAll()
      .where('requester', '=', record.requester)
      .where('idempotency_key', '=', record.idempotencyKey)
      .executeTakeFirstOrThrow();
    return { request: requestFromRow(existing), created: false };
  }

  async get(id: string): Promise<EnrollmentRequest | undefined> {
    const row = await this.db.selectFrom('enrollment_requests').selectAll().where('id', '=', id).executeTakeFirst();
    return row && requestFromRow(row);
  }

  async transition(
    id: string,
    from: readonly RequestStatus[],
    to: RequestStatus,
    reason: string | null = null,
  ): Promise<EnrollmentRequest | undefined> {
    if (from.length === 0) return undefined;
    const row = await this.db
      .updateTable('enrollment_requests')
      .set({ status: to, status_reason: reason, updated_at: Date.now() })
      .where('id', '=', id)
      .where('status', 'in', from)
      .returningAll()
      .executeTakeFirst();
    return row && requestFromRow(row);
  }

  async approve(id: string, approvedBy: string): Promise<EnrollmentRequest | undefined> {
    const row = await this.db
      .updateTable('enrollment_requests')
      .set({ status: 'queued', status_reason: null, approved_by: approvedBy, updated_at: Date.now() })
      .where('id', '=', id)
      .where('status', '=', 'pending_approval')
      .returningAll()
      .executeTakeFirst();
    return row && requestFromRow(row);
  }

  async incrementAttempts(id: string): Promise<void> {
    await this.db
      .updateTable('enrollment_requests')
      .set((eb) => ({ attempts: eb('attempts', '+', 1), updated_at: Date.now() }))
      .where('id', '=', id)
      .execute();
  }

  async listByStatus(statuses: readonly RequestStatus[], limit: number): Promise<EnrollmentRequest[]> {
    if (statuses.length === 0 || limit <= 0) return [];
    const rows = await this.db
      .selectFrom('enrollment_requests')
      .selectAll()
      .where('status', 'in', statuses)
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(requestFromRow);
  }
}
