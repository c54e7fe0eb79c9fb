// The statements on the issuance hot path, as better-sqlite3 prepared statements on the same
// connection Kysely uses. Kysely compiles every query on every call and reaches the (synchronous)
// driver through several awaits; that costs more than the statements themselves here. Everything
// in this module is synchronous: reads run directly, writes run inside a SqliteWriteBatch.
//
// The SQL must stay equivalent to the Kysely code in requests.ts, certificates.ts and
// kyselyStore.ts (the contract suite runs both), and rows go through the same mappers.
import type BetterSqlite3 from 'better-sqlite3';
import type { Selectable } from 'kysely';
import type {
  ApiKeyRecord,
  CaRecord,
  CertificateRecord,
  EnrollmentRequest,
  ProductRecord,
  RequestStatus,
} from '../core/types.js';
import { apiKeyFromRow } from './apiKeys.js';
import { caFromRow } from './cas.js';
import { certificateFromRow, certificateToRow, newCertificateRecord } from './certificates.js';
import { DuplicateSerialError, InvalidRequestStateError, isUniqueViolation, RequestNotFoundError } from './errors.js';
import { productFromRow } from './products.js';
import { requestFromRow, requestToRow } from './requests.js';
import type {
  ApiKeysTable,
  CasTable,
  CertificatesTable,
  EnrollmentRequestsTable,
  ProductsTable,
} from './schema.js';
import type { NewCertificate } from './types.js';

type Row<T> = Selectable<T>;
type Statement<Params extends unknown[] | object, Result = unknown> = BetterSqlite3.Statement<
  Params extends unknown[] ? Params : [Params],
  Result
>;

const REQUEST_COLUMNS = [
  'id', 'product_id', 'ca_id', 'requester', 'protocol', 'csr_pem', 'validity_days', 'idempotency_key', 'status',
  'status_reason', 'certificate_id', 'approved_by', 'attempts', 'created_at', 'updated_at',
] as const satisfies readonly (keyof EnrollmentRequestsTable)[];

const CERTIFICATE_COLUMNS = [
  'id', 'ca_id', 'product_id', 'request_id', 'serial_number', 'common_name', 'san_dns', 'san_ip', 'san_email',
  'san_uri', 'key_algorithm', 'valid_from', 'valid_to', 'certificate_pem', 'revoked_at', 'revocation_reason',
  'invalidity_date', 'created_at',
] as const satisfies readonly (keyof CertificatesTable)[];

/** INSERT with named parameters (@column), bound from a row object with exactly those keys. */
function insertSql(table: string, columns: readonly string[]): string {
  return `insert into ${table} (${columns.join(', ')}) values (${columns.map((c) => `@${c}`).join(', ')})`;
}

export class SqliteHotPath {
  private readonly requestById: Statement<[string], Row<EnrollmentRequestsTable>>;
  private readonly requestByKey: Statement<[string, string], Row<EnrollmentRequestsTable>>;
  private readonly insertRequestRow: Statement<object>;
  private readonly insertKeyedRequestRow: Statement<object>;
  private readonly incrementAttemptsOf: Statement<[number, string]>;
  /** One UPDATE … WHERE status IN (?, …) per number of `from` statuses, prepared on first use. */
  private readonly transitionByArity = new Map<number, Statement<unknown[], Row<EnrollmentRequestsTable>>>();
  private readonly requestState: Statement<[string], { status: string; certificate_id: string | null }>;
  private readonly markIssued: Statement<[string, number, string]>;
  private readonly insertCertificateRow: Statement<object>;
  private readonly certificateById: Statement<[string], Row<CertificatesTable>>;
  private readonly certificateByRequestId: Statement<[string], Row<CertificatesTable>>;
  private readonly certificateBySerial: Statement<[string, string], Row<CertificatesTable>>;
  private readonly apiKeyById: Statement<[string], Row<ApiKeysTable>>;
  private readonly caById: Statement<[string], Row<CasTable>>;
  private readonly productById: Statement<[string], Row<ProductsTable>>;

  /** Prepares every statement up front, so the schema must be migrated already. */
  constructor(private readonly db: BetterSqlite3.Database) {
    this.requestById = db.prepare('select * from enrollment_requests where id = ?');
    this.requestByKey = db.prepare('select * from enrollment_requests where requester = ? and idempotency_key = ?');
    const insertRequest = insertSql('enrollment_requests', REQUEST_COLUMNS);
    this.insertRequestRow = db.prepare(insertRequest);
    // Of two inserts with the same key exactly one writes a row; a clash on the primary key still throws.
    this.insertKeyedRequestRow = db.prepare(`${insertRequest} on conflict (requester, idempotency_key) do nothing`);
    this.incrementAttemptsOf = db.prepare(
      'update enrollment_requests set attempts = attempts + 1, updated_at = ? where id = ?',
    );
    this.requestState = db.prepare('select status, certificate_id from enrollment_requests where id = ?');
    this.markIssued = db.prepare(
      "update enrollment_requests set status = 'issued', status_reason = null, certificate_id = ?, updated_at = ? where id = ?",
    );
    this.insertCertificateRow = db.prepare(insertSql('certificates', CERTIFICATE_COLUMNS));
    this.certificateById = db.prepare('select * from certificates where id = ?');
    this.certificateByRequestId = db.prepare('select * from certificates where request_id = ?');
    this.certificateBySerial = db.prepare('select * from certificates where ca_id = ? and serial_number = ?');
    this.apiKeyById = db.prepare('select * from api_keys where id = ?');
    this.caById = db.prepare('select * from cas where id = ?');
    this.productById = db.prepare('select * from products where id = ?');
  }

  // Reads.

  getRequest(id: string): EnrollmentRequest | undefined {
    const row = this.requestById.get(id);
    return row && requestFromRow(row);
  }

  getCertificate(id: string): CertificateRecord | undefined {
    const row = this.certificateById.get(id);
    return row && certificateFromRow(row);
  }

  getCertificateByRequestId(requestId: string): CertificateRecord | undefined {
    const row = this.certificateByRequestId.get(requestId);
    return row && certificateFromRow(row);
  }

  getCertificateBySerial(caId: string, serialNumber: string): CertificateRecord | undefined {
    const row = this.certificateBySerial.get(caId, serialNumber);
    return row && certificateFromRow(row);
  }

  getApiKey(id: string): ApiKeyRecord | undefined {
    const row = this.apiKeyById.get(id);
    return row && apiKeyFromRow(row);
  }

  getCa(id: string): CaRecord | undefined {
    const row = this.caById.get(id);
    return row && caFromRow(row);
  }

  getProduct(id: string): ProductRecord | undefined {
    const row = this.productById.get(id);
    return row && productFromRow(row);
  }

  // Writes: run these inside a SqliteWriteBatch (they assume they are in a transaction).

  /** `record` is the new request as newRequestRecord builds it. */
  insertRequest(record: EnrollmentRequest): { request: EnrollmentRequest; created: boolean } {
    const row = requestToRow(record);
    if (record.idempotencyKey === null) {
      this.insertRequestRow.run(row);
      return { request: record, created: true };
    }
    if (this.insertKeyedRequestRow.run(row).changes !== 0) return { request: record, created: true };
    const existing = this.requestByKey.get(record.requester, record.idempotencyKey);
    if (!existing) throw new Error(`request with idempotency key vanished while inserting ${record.id}`);
    return { request: requestFromRow(existing), created: false };
  }

  transition(
    id: string,
    from: readonly RequestStatus[],
    to: RequestStatus,
    reason: string | null,
    now: number,
  ): EnrollmentRequest | undefined {
    // Deduplicated, so there is one prepared statement per number of distinct statuses at most.
    const statuses = [...new Set(from)];
    if (statuses.length === 0) return undefined;
    const row = this.transitionStatement(statuses.length).get(to, reason, now, id, ...statuses);
    return row && requestFromRow(row);
  }

  incrementAttempts(id: string, now: number): void {
    this.incrementAttemptsOf.run(now, id);
  }

  /**
   * Store.recordIssuance's body, for a certificate whose requestId is already checked. The
   * enclosing transaction took the write lock before the read, so the read-then-write cannot race
   * with this process or another one.
   */
  recordIssuance(
    requestId: string,
    certificate: NewCertificate,
    now: number,
  ): { certificate: CertificateRecord; alreadyIssued: boolean } {
    const request = this.requestState.get(requestId);
    if (!request) throw new RequestNotFoundError(requestId);
    if (request.status === 'issued') {
      const existing =
        request.certificate_id !== null
          ? this.getCertificate(request.certificate_id)
          : this.getCertificateByRequestId(requestId);
      if (!existing) throw new InvalidRequestStateError(requestId, 'issued without a stored certificate');
      return { certificate: existing, alreadyIssued: true };
    }
    if (request.status !== 'queued') throw new InvalidRequestStateError(requestId, request.status);

    const record = newCertificateRecord({ ...certificate, requestId }, now);
    try {
      this.insertCertificateRow.run(certificateToRow(record));
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      // Only the failed statement was undone. As on the Kysely path: a certificate already stored
      // for this request stands (UNIQUE(request_id)); otherwise the serial number is taken.
      const existing = this.getCertificateByRequestId(requestId);
      if (existing) return { certificate: existing, alreadyIssued: true };
      if (this.certificateBySerial.get(certificate.caId, certificate.serialNumber)) {
        throw new DuplicateSerialError(certificate.caId, certificate.serialNumber);
      }
      throw error;
    }
    this.markIssued.run(record.id, now, requestId);
    return { certificate: record, alreadyIssued: false };
  }

  private transitionStatement(arity: number): Statement<unknown[], Row<EnrollmentRequestsTable>> {
    let statement = this.transitionByArity.get(arity);
    if (!statement) {
      statement = this.db.prepare(
        'update enrollment_requests set status = ?, status_reason = ?, updated_at = ? ' +
          `where id = ? and status in (${Array.from({ length: arity }, () => '?').join(', ')}) returning *`,
      );
      this.transitionByArity.set(arity, statement);
    }
    return statement;
  }
}
