// The statements on the issuance hot path, as better-sqlite3 prepared statements on the same
// connection Kysely uses. Kysely compiles every query on every call and reaches the (synchronous)
// driver through several awaits; that costs more than the statements themselves here. So each
// query of queries.ts is compiled once, here, and its SQL prepared (see preparedQuery.ts): the
// SQL is the one the Kysely store runs, and rows go through the same mappers.
//
// Everything in this module is synchronous: reads run directly, writes run inside a
// SqliteWriteBatch.
import type BetterSqlite3 from 'better-sqlite3';
import type { Compilable, Insertable, Kysely, Selectable } from 'kysely';
import { sealEntry } from '../audit/chain.js';
import type { AuditEntry, AuditEntryInput, CertificateRecord, EnrollmentRequest } from '../core/types.js';
import { AUDIT_PAGE, auditFromRow, auditToRow, chainUpgradeSteps, headFromRow, runSynchronously } from './audit.js';
import { caFromRow } from './cas.js';
import { certificateFromRow, certificateToRow, newCertificateRecord } from './certificates.js';
import { DuplicateSerialError, InvalidRequestStateError, isUniqueViolation } from './errors.js';
import { issuanceStep } from './issuance.js';
import { columnsOf, placeholders, PreparedQuery, rowPlaceholders } from './preparedQuery.js';
import { productFromRow } from './products.js';
import * as q from './queries.js';
import { isDedupedRequest, requestFromRow, requestIdTaken, requestToRow } from './requests.js';
import type { AuditLogTable, CertificatesTable, Database, EnrollmentRequestsTable } from './schema.js';
import type { ChainUpgrade, NewCertificate } from './types.js';
import { recordOf } from './rows.js';

const REQUEST_COLUMNS = columnsOf<EnrollmentRequestsTable>({
  id: true, product_id: true, ca_id: true, requester: true, protocol: true, csr_pem: true, validity_days: true,
  idempotency_key: true, transaction_id: true, constraints: true, fingerprint: true, status: true,
  status_reason: true, rejection: true, certificate_id: true, approved_by: true, serial_number: true,
  lease_expires_at: true, attempts: true, created_at: true, updated_at: true, key_source: true, escrowed_key: true,
  custom_fields: true, owner: true, notes: true, supersedes: true, credential_id: true,
});

const CERTIFICATE_COLUMNS = columnsOf<CertificatesTable>({
  id: true, ca_id: true, product_id: true, request_id: true, serial_number: true, common_name: true, san_dns: true,
  san_ip: true, san_email: true, san_uri: true, key_algorithm: true, valid_from: true, valid_to: true,
  certificate_pem: true, revoked_at: true, revocation_reason: true, invalidity_date: true, created_at: true,
  source: true, issuer: true, owner: true, notes: true, custom_fields: true, supersedes: true, renewed_by: true, deleted_at: true,
});

const AUDIT_COLUMNS = columnsOf<AuditLogTable>({
  seq: true, at: true, actor: true, protocol: true, source_ip: true, action: true, target: true, outcome: true,
  detail: true, prev_hash: true, hash: true,
});

type Builder<A, R> = (db: Kysely<Database>, args: A) => Compilable<R>;

/** Every statement but the transitions, prepared up front (so the schema must be migrated already). */
function prepareStatements(sqlite: BetterSqlite3.Database, db: Kysely<Database>) {
  const prepare = <A extends object, R>(build: Builder<A, R>) => new PreparedQuery<A, R>(sqlite, build(db, placeholders<A>()));
  const requestRow = rowPlaceholders<Insertable<EnrollmentRequestsTable>>(REQUEST_COLUMNS);
  const certificateRow = rowPlaceholders<Insertable<CertificatesTable>>(CERTIFICATE_COLUMNS);
  return {
    requestById: prepare(q.requestById),
    requestByKey: prepare(q.requestByIdempotencyKey),
    requestByTransaction: prepare(q.requestByTransaction),
    insertRequest: new PreparedQuery<Insertable<EnrollmentRequestsTable>>(sqlite, q.insertRequest(db, requestRow)),
    insertRequestUnlessTaken: new PreparedQuery<Insertable<EnrollmentRequestsTable>>(
      sqlite,
      q.insertRequestUnlessTaken(db, requestRow),
    ),
    claimRequest: prepare(q.claimRequest),
    issuanceState: prepare(q.issuanceState),
    markIssued: prepare(q.markIssued),
    insertCertificate: new PreparedQuery<Insertable<CertificatesTable>>(sqlite, q.insertCertificate(db, certificateRow)),
    certificateById: prepare(q.certificateById),
    certificateByRequestId: prepare(q.certificateByRequestId),
    certificateBySerial: prepare(q.certificateBySerial),
    auditHead: new PreparedQuery<object, { seq: number; hash: string }>(sqlite, q.auditHead(db)),
    insertAuditEntry: new PreparedQuery<Insertable<AuditLogTable>>(
      sqlite,
      q.insertAuditEntry(db, rowPlaceholders<Insertable<AuditLogTable>>(AUDIT_COLUMNS)),
    ),
    caById: prepare(q.caById),
    productById: prepare(q.productById),
  };
}

/** The reads by key the hot path answers: one prepared statement each, and the record of its row. */
function readersOf(s: ReturnType<typeof prepareStatements>) {
  const by =
    <A extends object, R, T>(query: PreparedQuery<A, R>, fromRow: (row: R) => T) =>
    (args: A): T | undefined =>
      recordOf(query.get(args), fromRow);
  return {
    request: by(s.requestById, requestFromRow),
    requestByTransaction: by(s.requestByTransaction, requestFromRow),
    certificate: by(s.certificateById, certificateFromRow),
    certificateByRequestId: by(s.certificateByRequestId, certificateFromRow),
    certificateBySerial: by(s.certificateBySerial, certificateFromRow),
    ca: by(s.caById, caFromRow),
    product: by(s.productById, productFromRow),
  };
}

export class SqliteHotPath {
  private readonly s: ReturnType<typeof prepareStatements>;
  readonly read: ReturnType<typeof readersOf>;
  /** One statement per number of `from` statuses, prepared on first use. */
  private readonly transitionByArity = new Map<number, PreparedQuery<q.TransitionArgs, Selectable<EnrollmentRequestsTable>>>();
  /** Statements of the writes off the hot path (see first()), prepared on first use. */
  private readonly bySql = new Map<string, BetterSqlite3.Statement<unknown[]>>();

  /** `db` only compiles (it must be an SQLite Kysely); the statements run on `sqlite`. */
  constructor(
    private readonly sqlite: BetterSqlite3.Database,
    private readonly db: Kysely<Database>,
    /** The audit chain key (audit/chain.ts) every entry is sealed under. */
    private readonly chainKey: Buffer,
  ) {
    this.s = prepareStatements(sqlite, db);
    this.read = readersOf(this.s);
  }

  // Writes: run these inside a SqliteWriteBatch (they assume they are in a transaction).

  /** Appends to the audit trail after the entry the transaction sees last. */
  appendAudit(input: AuditEntryInput, now: number): AuditEntry {
    const entry = sealEntry(this.chainKey, input, headFromRow(this.s.auditHead.get({})), new Date(now));
    this.s.insertAuditEntry.run(auditToRow(entry));
    return entry;
  }

  /** Store.audit.upgradeChain, inside one batch transaction (the same walk as upgradeChainKysely). */
  upgradeChain(now: number): ChainUpgrade {
    const pageAfter = this.sqlite.prepare('select * from audit_log where seq > ? order by seq limit ?');
    const update = this.sqlite.prepare('update audit_log set prev_hash = ?, hash = ? where seq = ?');
    const { upgrade, entry } = runSynchronously(
      chainUpgradeSteps(this.chainKey),
      (seq) => (pageAfter.all(seq, AUDIT_PAGE) as Selectable<AuditLogTable>[]).map(auditFromRow),
      (seq, prevHash, hash) => update.run(prevHash, hash, seq),
    );
    if (entry) this.appendAudit(entry, now);
    return upgrade;
  }

  /**
   * Runs any one statement Kysely built (a write off the hot path: a revocation, an approval, a
   * new credential) and returns the first row it returns, if it returns rows.
   */
  first<R>(statement: Compilable<R>): R | undefined {
    const compiled = statement.compile();
    let prepared = this.bySql.get(compiled.sql);
    if (!prepared) {
      prepared = this.sqlite.prepare<unknown[]>(compiled.sql);
      this.bySql.set(compiled.sql, prepared);
    }
    const parameters = compiled.parameters as unknown[];
    if (!prepared.reader) {
      prepared.run(...parameters);
      return undefined;
    }
    return prepared.get(...parameters) as R | undefined;
  }

  /** `record` is the new request as newRequestRecord builds it. */
  insertRequest(record: EnrollmentRequest, audit: AuditEntryInput | null, now: number): { request: EnrollmentRequest; created: boolean } {
    const row = requestToRow(record);
    if (!isDedupedRequest(record)) {
      this.s.insertRequest.run(row);
      if (audit) this.appendAudit(audit, now);
      return { request: record, created: true };
    }
    if (this.s.insertRequestUnlessTaken.run(row).changes !== 0) {
      if (audit) this.appendAudit(audit, now);
      return { request: record, created: true };
    }
    const { requester, idempotencyKey, transactionId } = record;
    const existing =
      (idempotencyKey !== null ? this.s.requestByKey.get({ requester, idempotencyKey }) : undefined) ??
      (transactionId !== null ? this.s.requestByTransaction.get({ requester, transactionId }) : undefined);
    if (!existing) throw requestIdTaken(record.id);
    return { request: requestFromRow(existing), created: false };
  }

  /** `args` as transitionArgs builds them (checked against the transition table). */
  transition(args: q.TransitionArgs, audit: AuditEntryInput | null): EnrollmentRequest | undefined {
    const row = this.transitionStatement(args.from.length).get(args);
    if (!row) return undefined;
    if (audit) this.appendAudit(audit, args.now);
    return requestFromRow(row);
  }

  /** `args` as claimArgs builds them. */
  claim(args: q.ClaimArgs): EnrollmentRequest | undefined {
    return recordOf(this.s.claimRequest.get(args), requestFromRow);
  }

  /**
   * Store.recordIssuance's body, for a certificate whose requestId is already checked. The
   * enclosing transaction took the write lock before the read, so the read-then-write cannot race
   * with this process or another one.
   */
  recordIssuance(
    requestId: string,
    certificate: NewCertificate,
    note: string | null,
    audit: AuditEntryInput,
    now: number,
  ): { certificate: CertificateRecord; alreadyIssued: boolean } {
    const state = this.s.issuanceState.get({ id: requestId });
    if (issuanceStep(requestId, state, certificate) === 'alreadyIssued') {
      const certificateId = state?.certificate_id ?? null;
      const existing =
        certificateId !== null ? this.read.certificate({ id: certificateId }) : this.read.certificateByRequestId({ requestId });
      if (!existing) throw new InvalidRequestStateError(requestId, 'issued without a stored certificate');
      return { certificate: existing, alreadyIssued: true };
    }

    const record = newCertificateRecord({ ...certificate, requestId }, now);
    try {
      this.s.insertCertificate.run(certificateToRow(record));
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      // Only the failed statement was undone. As on the Kysely path: a certificate already stored
      // for this request stands (UNIQUE(request_id)); otherwise the serial number is taken.
      const existing = this.read.certificateByRequestId({ requestId });
      if (existing) return { certificate: existing, alreadyIssued: true };
      if (this.read.certificateBySerial({ caId: certificate.caId, serialNumber: certificate.serialNumber })) {
        throw new DuplicateSerialError(certificate.caId, certificate.serialNumber);
      }
      throw error;
    }
    this.s.markIssued.run({ id: requestId, certificateId: record.id, note, now });
    this.appendAudit(audit, now);
    return { certificate: record, alreadyIssued: false };
  }

  private transitionStatement(arity: number): PreparedQuery<q.TransitionArgs, Selectable<EnrollmentRequestsTable>> {
    let statement = this.transitionByArity.get(arity);
    if (!statement) {
      statement = new PreparedQuery(this.sqlite, q.transitionRequest(this.db, placeholders<q.TransitionArgs>({ from: arity })));
      this.transitionByArity.set(arity, statement);
    }
    return statement;
  }
}
