// The queries of the request lifecycle and of issuance, written once. The Kysely stores execute
// them; the SQLite hot path compiles them once (with placeholders) and prepares the SQL (see
// preparedQuery.ts). Change a query here and both change.
import type { Insertable, Kysely } from 'kysely';
import type { RequestStatus } from '../core/types.js';
import type { AuditLogTable, CasTable, CertificatesTable, CredentialsTable, Database, EnrollmentRequestsTable, ProductsTable } from './schema.js';

type Db = Kysely<Database>;

// Requests.

export const requestById = (db: Db, a: { id: string }) =>
  db.selectFrom('enrollment_requests').selectAll().where('id', '=', a.id);

export const requestByIdempotencyKey = (db: Db, a: { requester: string; idempotencyKey: string }) =>
  db
    .selectFrom('enrollment_requests')
    .selectAll()
    .where('requester', '=', a.requester)
    .where('idempotency_key', '=', a.idempotencyKey);

export const requestByTransaction = (db: Db, a: { requester: string; transactionId: string }) =>
  db
    .selectFrom('enrollment_requests')
    .selectAll()
    .where('requester', '=', a.requester)
    .where('transaction_id', '=', a.transactionId);

export const insertRequest = (db: Db, row: Insertable<EnrollmentRequestsTable>) =>
  db.insertInto('enrollment_requests').values(row);

/**
 * Writes nothing when (requester, idempotency_key), (requester, transaction_id) or the id is
 * taken. No conflict target: PostgreSQL takes only one, and there are two keys to dedupe on.
 * Of concurrent inserts with the same key exactly one writes a row.
 */
export const insertRequestUnlessTaken = (db: Db, row: Insertable<EnrollmentRequestsTable>) =>
  insertRequest(db, row).onConflict((oc) => oc.doNothing());

export interface TransitionArgs {
  id: string;
  from: readonly RequestStatus[];
  to: RequestStatus;
  reason: string | null;
  /** JSON of Rejection, or null. */
  rejection: string | null;
  now: number;
}

/** Compare-and-set on the status. Never to `signing` (that is claimRequest), so no lease survives it. */
export const transitionRequest = (db: Db, a: TransitionArgs) =>
  db
    .updateTable('enrollment_requests')
    .set({ status: a.to, status_reason: a.reason, rejection: a.rejection, lease_expires_at: null, updated_at: a.now })
    .where('id', '=', a.id)
    .where('status', 'in', a.from)
    .returningAll();

export interface ClaimArgs {
  id: string;
  serialNumber: string;
  leaseExpiresAt: number;
  now: number;
}

/** One conditional UPDATE, so of two workers claiming at once exactly one gets the row. */
export const claimRequest = (db: Db, a: ClaimArgs) =>
  db
    .updateTable('enrollment_requests')
    .set((eb) => ({
      status: 'signing',
      lease_expires_at: a.leaseExpiresAt,
      attempts: eb('attempts', '+', 1),
      // The first claim's serial stays: the worker whose lease ran out may have had the CA sign
      // with it already, so whoever re-claims signs that serial again, never a second one.
      serial_number: eb.fn.coalesce('serial_number', eb.val(a.serialNumber)),
      updated_at: a.now,
    }))
    .where('id', '=', a.id)
    .where((eb) =>
      eb.or([eb('status', '=', 'queued'), eb.and([eb('status', '=', 'signing'), eb('lease_expires_at', '<', a.now)])]),
    )
    .returningAll();

export const approveRequest = (db: Db, a: { id: string; approvedBy: string; now: number }) =>
  db
    .updateTable('enrollment_requests')
    .set({ status: 'queued', status_reason: null, approved_by: a.approvedBy, updated_at: a.now })
    .where('id', '=', a.id)
    .where('status', '=', 'pending_approval')
    .returningAll();

/** What recordIssuance decides on. */
export const issuanceState = (db: Db, a: { id: string }) =>
  db.selectFrom('enrollment_requests').select(['status', 'certificate_id', 'serial_number']).where('id', '=', a.id);

export const markIssued = (db: Db, a: { id: string; certificateId: string; note: string | null; now: number }) =>
  db
    .updateTable('enrollment_requests')
    .set({ status: 'issued', status_reason: a.note, certificate_id: a.certificateId, lease_expires_at: null, updated_at: a.now })
    .where('id', '=', a.id)
    .where('status', '=', 'signing');

// Certificates.

export const insertCertificate = (db: Db, row: Insertable<CertificatesTable>) => db.insertInto('certificates').values(row);

// The CA's own records (`source = 'issued'`): imported certificates are the inventory's (inventory.ts),
// never revoked, reinstated or served by these.
export const certificateById = (db: Db, a: { id: string }) =>
  db.selectFrom('certificates').selectAll().where('id', '=', a.id).where('source', '=', 'issued');

export const certificateByRequestId = (db: Db, a: { requestId: string }) =>
  db.selectFrom('certificates').selectAll().where('request_id', '=', a.requestId);

export const certificateBySerial = (db: Db, a: { caId: string; serialNumber: string }) =>
  db.selectFrom('certificates').selectAll().where('ca_id', '=', a.caId).where('serial_number', '=', a.serialNumber);

export interface RevokeArgs {
  id: string;
  revokedAt: number;
  reason: string;
  invalidityDate: number | null;
}

/** A live certificate, or one on hold, takes the new revocation; anything else is left alone. */
export const revokeCertificate = (db: Db, a: RevokeArgs) =>
  db
    .updateTable('certificates')
    .set({ revoked_at: a.revokedAt, revocation_reason: a.reason, invalidity_date: a.invalidityDate })
    .where('id', '=', a.id)
    .where('source', '=', 'issued')
    .where((eb) => eb.or([eb('revoked_at', 'is', null), eb('revocation_reason', '=', 'certificateHold')]))
    .returningAll();

export const reinstateCertificate = (db: Db, a: { id: string }) =>
  db
    .updateTable('certificates')
    .set({ revoked_at: null, revocation_reason: null, invalidity_date: null })
    .where('id', '=', a.id)
    .where('source', '=', 'issued')
    .where('revocation_reason', '=', 'certificateHold')
    .returningAll();

// CAs and products.

export const insertCa = (db: Db, row: Insertable<CasTable>) => db.insertInto('cas').values(row);

export const insertProduct = (db: Db, row: Insertable<ProductsTable>) => db.insertInto('products').values(row);

// Credentials.

export const credentialById = (db: Db, a: { id: string }) => db.selectFrom('credentials').selectAll().where('id', '=', a.id);

export const insertCredential = (db: Db, row: Insertable<CredentialsTable>) => db.insertInto('credentials').values(row);

export interface RotateArgs {
  id: string;
  secret: string;
  /** Until when the secret being replaced still works; null: not at all. */
  previousUntil: number | null;
  now: number;
}

/** A live credential's new secret; the old one is kept only while it has a grace period. */
export const rotateCredential = (db: Db, a: RotateArgs) =>
  db
    .updateTable('credentials')
    .set((eb) => ({
      previous_secret: a.previousUntil === null ? null : eb.ref('secret'),
      previous_secret_until: a.previousUntil,
      secret: a.secret,
      secret_version: eb('secret_version', '+', 1),
    }))
    .where('id', '=', a.id)
    .where('revoked_at', 'is', null)
    .returningAll();

export const revokeCredential = (db: Db, a: { id: string; now: number }) =>
  db.updateTable('credentials').set({ revoked_at: a.now, enabled: 0 }).where('id', '=', a.id).where('revoked_at', 'is', null).returningAll();

// The audit trail.

export const auditHead = (db: Db) => db.selectFrom('audit_log').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1);

export const insertAuditEntry = (db: Db, row: Insertable<AuditLogTable>) => db.insertInto('audit_log').values(row);

// Lookups every request makes (the request's CA and product).

export const caById = (db: Db, a: { id: string }) => db.selectFrom('cas').selectAll().where('id', '=', a.id);

export const productById = (db: Db, a: { id: string }) => db.selectFrom('products').selectAll().where('id', '=', a.id);
