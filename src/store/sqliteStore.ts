// The Store on the embedded SQLite database. The issuance hot path (see SqliteHotPath) bypasses
// Kysely, and its writes are group-committed (see SqliteWriteBatch); everything else is the
// Kysely code shared with PostgreSQL, whose single autocommit statements cannot interleave with a
// batch because both run synchronously on the one connection.
//
// Nothing here may open a Kysely transaction: one held across awaits would swallow a batch into
// it (SqliteWriteBatch refuses to run then). Store.recordIssuance, the one multi-statement write,
// is a synchronous closure in the batch instead.
import type BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import type {
  ApiKeyRecord,
  CaRecord,
  CertificateRecord,
  EnrollmentRequest,
  ProductRecord,
  RequestStatus,
} from '../core/types.js';
import { KyselyApiKeyStore } from './apiKeys.js';
import { KyselyCaStore } from './cas.js';
import { KyselyCertificateStore } from './certificates.js';
import { StoreError } from './errors.js';
import { KyselyCrlStore } from './crls.js';
import { KyselyOcspSignerStore } from './ocspSigners.js';
import { KyselyProductStore } from './products.js';
import { KyselyRequestStore, newRequestRecord } from './requests.js';
import type { Database } from './schema.js';
import type { SqliteCheckpointer } from './sqliteCheckpointer.js';
import { SqliteHotPath } from './sqliteHotPath.js';
import { SqliteWriteBatch } from './sqliteWriteBatch.js';
import type { NewCertificate, NewEnrollmentRequest, Store } from './types.js';

class SqliteRequestStore extends KyselyRequestStore {
  constructor(
    db: Kysely<Database>,
    private readonly hot: SqliteHotPath,
    private readonly writes: SqliteWriteBatch,
  ) {
    super(db);
  }

  override insert(request: NewEnrollmentRequest): Promise<{ request: EnrollmentRequest; created: boolean }> {
    // Built now, not in the batch, so a bad Date throws here and timestamps are the caller's.
    const record = newRequestRecord(request, Date.now());
    return this.writes.submit(() => this.hot.insertRequest(record));
  }

  override async get(id: string): Promise<EnrollmentRequest | undefined> {
    return this.hot.getRequest(id);
  }

  override transition(
    id: string,
    from: readonly RequestStatus[],
    to: RequestStatus,
    reason: string | null = null,
  ): Promise<EnrollmentRequest | undefined> {
    const now = Date.now();
    return this.writes.submit(() => this.hot.transition(id, from, to, reason, now));
  }

  override incrementAttempts(id: string): Promise<void> {
    const now = Date.now();
    return this.writes.submit(() => this.hot.incrementAttempts(id, now));
  }
}

class SqliteCertificateStore extends KyselyCertificateStore {
  constructor(
    db: Kysely<Database>,
    private readonly hot: SqliteHotPath,
  ) {
    super(db);
  }

  override async get(id: string): Promise<CertificateRecord | undefined> {
    return this.hot.getCertificate(id);
  }

  override async getBySerial(caId: string, serialNumber: string): Promise<CertificateRecord | undefined> {
    return this.hot.getCertificateBySerial(caId, serialNumber);
  }

  override async getByRequestId(requestId: string): Promise<CertificateRecord | undefined> {
    return this.hot.getCertificateByRequestId(requestId);
  }
}

class SqliteApiKeyStore extends KyselyApiKeyStore {
  constructor(
    db: Kysely<Database>,
    private readonly hot: SqliteHotPath,
  ) {
    super(db);
  }

  override async get(id: string): Promise<ApiKeyRecord | undefined> {
    return this.hot.getApiKey(id);
  }
}

class SqliteCaStore extends KyselyCaStore {
  constructor(
    db: Kysely<Database>,
    private readonly hot: SqliteHotPath,
  ) {
    super(db);
  }

  override async get(id: string): Promise<CaRecord | undefined> {
    return this.hot.getCa(id);
  }
}

class SqliteProductStore extends KyselyProductStore {
  constructor(
    db: Kysely<Database>,
    private readonly hot: SqliteHotPath,
  ) {
    super(db);
  }

  override async get(id: string): Promise<ProductRecord | undefined> {
    return this.hot.getProduct(id);
  }
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly cas: KyselyCaStore;
  readonly products: KyselyProductStore;
  readonly requests: KyselyRequestStore;
  readonly certificates: KyselyCertificateStore;
  readonly apiKeys: KyselyApiKeyStore;
  readonly crls: KyselyCrlStore;
  readonly ocspSigners: KyselyOcspSignerStore;
  private readonly hot: SqliteHotPath;
  private readonly writes: SqliteWriteBatch;

  /**
   * `db` must be a Kysely over `connection` (its only connection), with the schema migrated. The
   * store owns both, and the checkpointer: close() stops and destroys them.
   */
  constructor(
    readonly db: Kysely<Database>,
    connection: BetterSqlite3.Database,
    private readonly checkpointer?: SqliteCheckpointer,
  ) {
    this.hot = new SqliteHotPath(connection);
    this.writes = new SqliteWriteBatch(connection);
    this.cas = new SqliteCaStore(db, this.hot);
    this.products = new SqliteProductStore(db, this.hot);
    this.requests = new SqliteRequestStore(db, this.hot, this.writes);
    this.certificates = new SqliteCertificateStore(db, this.hot);
    this.apiKeys = new SqliteApiKeyStore(db, this.hot);
    this.crls = new KyselyCrlStore(db);
    this.ocspSigners = new KyselyOcspSignerStore(db);
  }

  async recordIssuance(
    requestId: string,
    certificate: NewCertificate,
  ): Promise<{ certificate: CertificateRecord; alreadyIssued: boolean }> {
    if (certificate.requestId !== null && certificate.requestId !== requestId) {
      throw new StoreError(`certificate ${certificate.id} names request ${certificate.requestId}, not ${requestId}`);
    }
    const now = Date.now();
    return this.writes.submit(() => this.hot.recordIssuance(requestId, certificate, now));
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async close(): Promise<void> {
    // Writes already accepted are committed, not dropped.
    this.writes.flush();
    await this.checkpointer?.stop();
    await this.db.destroy();
  }
}
