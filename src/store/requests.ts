import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import { assertTransitions, TransitionError } from '../core/requestStatus.js';
import type { AuditEntryInput, Constraint, CustomFieldValues, EnrollmentRequest, KeySource, Rejection, RequestStatus } from '../core/types.js';
import { KyselyWriter, type AuditedWrites } from './kyselyWriter.js';
import { StoreError } from './errors.js';
import {
  approveRequest,
  claimRequest,
  insertRequest,
  insertRequestUnlessTaken,
  requestById,
  requestByIdempotencyKey,
  requestByTransaction,
  transitionRequest,
  type ClaimArgs,
  type TransitionArgs,
} from './queries.js';
import { fromMs, fromNullableMs, toMs, type Database, type EnrollmentRequestsTable } from './schema.js';
import type { RequestFilter } from '../core/types.js';
import type { NewEnrollmentRequest, RequestStore, TransitionOutcome } from './types.js';
import { firstRecord, recordOf } from './rows.js';

export function requestFromRow(row: Selectable<EnrollmentRequestsTable>): EnrollmentRequest {
  return {
    id: row.id,
    productId: row.product_id,
    caId: row.ca_id,
    requester: row.requester,
    credentialId: row.credential_id ?? null,
    protocol: row.protocol as EnrollmentRequest['protocol'],
    csrPem: row.csr_pem,
    validityDays: row.validity_days,
    idempotencyKey: row.idempotency_key,
    transactionId: row.transaction_id,
    constraints: JSON.parse(row.constraints) as Constraint[],
    fingerprint: row.fingerprint,
    details: {
      keySource: row.key_source as KeySource,
      escrowedKey: row.escrowed_key,
      customFields: JSON.parse(row.custom_fields) as CustomFieldValues,
      owner: row.owner,
      notes: row.notes,
      supersedes: row.supersedes,
    },
    status: row.status as RequestStatus,
    statusReason: row.status_reason,
    rejection: row.rejection === null ? null : (JSON.parse(row.rejection) as Rejection),
    certificateId: row.certificate_id,
    approvedBy: row.approved_by,
    serialNumber: row.serial_number,
    leaseExpiresAt: fromNullableMs(row.lease_expires_at),
    attempts: Number(row.attempts),
    createdAt: fromMs(row.created_at),
    updatedAt: fromMs(row.updated_at),
  };
}

/** The record a freshly inserted request is: `queued`, never claimed. */
export function newRequestRecord(request: NewEnrollmentRequest, now: number): EnrollmentRequest {
  return {
    id: request.id,
    productId: request.productId,
    caId: request.caId,
    requester: request.requester,
    credentialId: request.credentialId,
    protocol: request.protocol,
    csrPem: request.csrPem,
    validityDays: request.validityDays,
    idempotencyKey: request.idempotencyKey,
    transactionId: request.transactionId,
    // A copy through JSON: the record returned is what a later read returns.
    constraints: JSON.parse(JSON.stringify(request.constraints)) as Constraint[],
    fingerprint: request.fingerprint,
    details: { ...request.details, customFields: { ...request.details.customFields } },
    status: 'queued',
    statusReason: null,
    rejection: null,
    certificateId: null,
    approvedBy: null,
    serialNumber: null,
    leaseExpiresAt: null,
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
    credential_id: record.credentialId,
    protocol: record.protocol,
    csr_pem: record.csrPem,
    validity_days: record.validityDays,
    idempotency_key: record.idempotencyKey,
    transaction_id: record.transactionId,
    constraints: JSON.stringify(record.constraints),
    fingerprint: record.fingerprint,
    key_source: record.details.keySource,
    escrowed_key: record.details.escrowedKey,
    custom_fields: JSON.stringify(record.details.customFields),
    owner: record.details.owner,
    notes: record.details.notes,
    supersedes: record.details.supersedes,
    status: record.status,
    status_reason: record.statusReason,
    rejection: record.rejection === null ? null : JSON.stringify(record.rejection),
    certificate_id: record.certificateId,
    approved_by: record.approvedBy,
    serial_number: record.serialNumber,
    lease_expires_at: record.leaseExpiresAt === null ? null : toMs(record.leaseExpiresAt),
    attempts: record.attempts,
    created_at: toMs(record.createdAt),
    updated_at: toMs(record.updatedAt),
  };
}

/** A request that may collide with an earlier one: it carries a key or a transaction id. */
export function isDedupedRequest(record: EnrollmentRequest): boolean {
  return record.idempotencyKey !== null || record.transactionId !== null;
}

/** The insert wrote nothing, and neither of the request's keys found the row in the way: the id is. */
export function requestIdTaken(id: string): StoreError {
  return new StoreError(`enrollment request id ${id} is taken`);
}

/**
 * RequestStore.transition's arguments as the query takes them, or null when `from` is empty. Throws
 * TransitionError, before anything is written, for a move the table does not allow, and for a move
 * to `signing`: only claim() may take a request there, with a lease and a serial.
 */
export function transitionArgs(
  id: string,
  from: readonly RequestStatus[],
  to: RequestStatus,
  outcome: TransitionOutcome,
  now: number,
): TransitionArgs | null {
  assertTransitions(from, to);
  if (to === 'signing') throw new TransitionError('only claim() moves a request to signing');
  // Deduplicated, so the SQLite hot path prepares one statement per number of distinct statuses.
  const statuses = [...new Set(from)];
  if (statuses.length === 0) return null;
  const rejection = outcome.rejection ?? null;
  return { id, from: statuses, to, reason: outcome.reason ?? null, rejection: rejection && JSON.stringify(rejection), now };
}

export function claimArgs(id: string, claim: { serialNumber: string; leaseMs: number }, now: number): ClaimArgs {
  assertTransitions(['queued', 'signing'], 'signing');
  if (!(claim.leaseMs > 0)) throw new RangeError(`lease must be positive, got ${claim.leaseMs} ms`);
  return { id, serialNumber: claim.serialNumber, leaseExpiresAt: now + claim.leaseMs, now };
}

export function checkApprove(): void {
  assertTransitions(['pending_approval'], 'queued');
}

export class KyselyRequestStore implements RequestStore {
  private readonly writer: KyselyWriter;

  constructor(
    private readonly db: Kysely<Database>,
    kind: 'sqlite' | 'postgres',
    private readonly writes: AuditedWrites,
    chainKey: Buffer,
  ) {
    this.writer = new KyselyWriter(db, kind, chainKey, () => writes.now());
  }

  async insert(request: NewEnrollmentRequest, audit: AuditEntryInput | null): Promise<{ request: EnrollmentRequest; created: boolean }> {
    // Built now, not in a batch or transaction, so a bad Date throws here and timestamps are the caller's.
    const now = this.writes.now();
    return this.insertRecord(newRequestRecord(request, now), audit, now);
  }

  /** `_now`: the SQLite store stamps the audit entry with the record's own time (its batch runs later). */
  protected insertRecord(record: EnrollmentRequest, audit: AuditEntryInput | null, _now: number): Promise<{ request: EnrollmentRequest; created: boolean }> {
    const row = requestToRow(record);
    return this.writer.audited(
      async (tx) => {
        if (!isDedupedRequest(record)) {
          await insertRequest(tx, row).execute();
          return { request: record, created: true };
        }
        const result = await insertRequestUnlessTaken(tx, row).executeTakeFirst();
        if (result.numInsertedOrUpdatedRows !== 0n) return { request: record, created: true };
        const existing = await this.findDuplicate(tx, record);
        if (!existing) throw requestIdTaken(record.id);
        return { request: existing, created: false };
      },
      (r) => (r.created ? audit : null),
    );
  }

  async get(id: string): Promise<EnrollmentRequest | undefined> {
    return firstRecord(requestById(this.db, { id }), requestFromRow);
  }

  async findByTransaction(requester: string, transactionId: string): Promise<EnrollmentRequest | undefined> {
    return firstRecord(requestByTransaction(this.db, { requester, transactionId }), requestFromRow);
  }

  async transition(
    id: string,
    from: readonly RequestStatus[],
    to: RequestStatus,
    outcome: TransitionOutcome = {},
  ): Promise<EnrollmentRequest | undefined> {
    const args = transitionArgs(id, from, to, outcome, this.writes.now());
    if (!args) return undefined;
    return this.applyTransition(args, outcome.audit ?? null);
  }

  protected async applyTransition(args: TransitionArgs, audit: AuditEntryInput | null): Promise<EnrollmentRequest | undefined> {
    return recordOf(await this.writes.one(transitionRequest(this.db, args), (r) => (r ? audit : null)), requestFromRow);
  }

  async claim(id: string, claim: { serialNumber: string; leaseMs: number }): Promise<EnrollmentRequest | undefined> {
    return this.applyClaim(claimArgs(id, claim, this.writes.now()));
  }

  protected applyClaim(args: ClaimArgs): Promise<EnrollmentRequest | undefined> {
    return firstRecord(claimRequest(this.db, args), requestFromRow);
  }

  async approve(id: string, approvedBy: string, audit: AuditEntryInput): Promise<EnrollmentRequest | undefined> {
    checkApprove();
    return recordOf(await this.writes.one(approveRequest(this.db, { id, approvedBy, now: this.writes.now() }), (r) => (r ? audit : null)), requestFromRow);
  }

  async releaseIdempotencyKey(id: string, createdBefore: Date): Promise<boolean> {
    const row = await this.writes.one(
      this.db
        .updateTable('enrollment_requests')
        .set({ idempotency_key: null })
        .where('id', '=', id)
        .where('created_at', '<', toMs(createdBefore))
        .where('idempotency_key', 'is not', null)
        .returning('id'),
      () => null,
    );
    return row !== undefined;
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

  async list(filter: RequestFilter, page: { limit: number; offset: number }): Promise<{ requests: EnrollmentRequest[]; total: number }> {
    if (filter.caIds?.length === 0 && filter.orRequester === undefined) return { requests: [], total: 0 };
    let base = this.db.selectFrom('enrollment_requests');
    const { caIds, orRequester } = filter;
    if (caIds !== undefined) {
      base = base.where((eb) => {
        // No boolean literal: better-sqlite3 binds no booleans.
        const byCa = caIds.length === 0 ? sql<boolean>`1 = 0` : eb('ca_id', 'in', caIds);
        return orRequester === undefined ? byCa : eb.or([byCa, eb('requester', '=', orRequester)]);
      });
    }
    if (filter.status) base = base.where('status', '=', filter.status);
    if (filter.productId) base = base.where('product_id', '=', filter.productId);
    if (filter.productIds) base = filter.productIds.length === 0 ? base.where(sql<boolean>`1 = 0`) : base.where('product_id', 'in', filter.productIds);
    if (filter.requester !== undefined) base = base.where('requester', '=', filter.requester);
    const [rows, count] = await Promise.all([
      base.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
      base.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { requests: rows.map(requestFromRow), total: Number(count.n) };
  }

  private async findDuplicate(db: Kysely<Database>, record: EnrollmentRequest): Promise<EnrollmentRequest | undefined> {
    const { requester, idempotencyKey, transactionId } = record;
    const row =
      (idempotencyKey !== null ? await requestByIdempotencyKey(db, { requester, idempotencyKey }).executeTakeFirst() : undefined) ??
      (transactionId !== null ? await requestByTransaction(db, { requester, transactionId }).executeTakeFirst() : undefined);
    return row && requestFromRow(row);
  }
}
