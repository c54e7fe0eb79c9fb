// The aggregates of the SQLite store: each answers its hot operations from SqliteHotPath (writes
// group-committed through SqliteWriteBatch) and hands the rest to the Kysely aggregate, which
// runs single autocommit statements on the same connection.
import type { ApiKeyRecord, CaRecord, CertificateRecord, EnrollmentRequest, ProductRecord, RequestStatus, RevokedEntry } from '../core/types.js';
import type { KyselyApiKeyStore } from './apiKeys.js';
import type { KyselyCaStore } from './cas.js';
import type { KyselyCertificateStore } from './certificates.js';
import type { KyselyProductStore } from './products.js';
import { claimArgs, newRequestRecord, transitionArgs, type KyselyRequestStore } from './requests.js';
import type { SqliteHotPath } from './sqliteHotPath.js';
import type { SqliteWriteBatch } from './sqliteWriteBatch.js';
import type {
  ApiKeyStore,
  CaStore,
  CertificateStore,
  NewApiKey,
  NewCa,
  NewEnrollmentRequest,
  NewProduct,
  ProductStore,
  RequestStore,
  Revocation,
  TransitionOutcome,
} from './types.js';

export class SqliteRequestStore implements RequestStore {
  constructor(
    private readonly kysely: KyselyRequestStore,
    private readonly hot: SqliteHotPath,
    private readonly writes: SqliteWriteBatch,
  ) {}

  async insert(request: NewEnrollmentRequest): Promise<{ request: EnrollmentRequest; created: boolean }> {
    // Built now, not in the batch, so a bad Date throws here and timestamps are the caller's.
    const record = newRequestRecord(request, Date.now());
    return this.writes.submit(() => this.hot.insertRequest(record));
  }

  async get(id: string): Promise<EnrollmentRequest | undefined> {
    return this.hot.getRequest(id);
  }

  async findByTransaction(requester: string, transactionId: string): Promise<EnrollmentRequest | undefined> {
    return this.hot.findByTransaction(requester, transactionId);
  }

  async transition(
    id: string,
    from: readonly RequestStatus[],
    to: RequestStatus,
    outcome: TransitionOutcome = {},
  ): Promise<EnrollmentRequest | undefined> {
    const args = transitionArgs(id, from, to, outcome, Date.now());
    if (!args) return undefined;
    return this.writes.submit(() => this.hot.transition(args));
  }

  async claim(id: string, claim: { serialNumber: string; leaseMs: number }): Promise<EnrollmentRequest | undefined> {
    const args = claimArgs(id, claim, Date.now());
    return this.writes.submit(() => this.hot.claim(args));
  }

  approve(id: string, approvedBy: string): Promise<EnrollmentRequest | undefined> {
    return this.kysely.approve(id, approvedBy);
  }

  listByStatus(statuses: readonly RequestStatus[], limit: number): Promise<EnrollmentRequest[]> {
    return this.kysely.listByStatus(statuses, limit);
  }
}

export class SqliteCertificateStore implements CertificateStore {
  constructor(
    private readonly kysely: KyselyCertificateStore,
    private readonly hot: SqliteHotPath,
  ) {}

  async get(id: string): Promise<CertificateRecord | undefined> {
    return this.hot.getCertificate(id);
  }

  async getBySerial(caId: string, serialNumber: string): Promise<CertificateRecord | undefined> {
    return this.hot.getCertificateBySerial(caId, serialNumber);
  }

  async getByRequestId(requestId: string): Promise<CertificateRecord | undefined> {
    return this.hot.getCertificateByRequestId(requestId);
  }

  list(options: { caIds?: string[]; limit: number; offset: number }): Promise<CertificateRecord[]> {
    return this.kysely.list(options);
  }

  revoke(id: string, revocation: Revocation): Promise<{ certificate: CertificateRecord; changed: boolean } | undefined> {
    return this.kysely.revoke(id, revocation);
  }

  reinstate(id: string): Promise<CertificateRecord | undefined> {
    return this.kysely.reinstate(id);
  }

  listRevoked(caId: string): Promise<RevokedEntry[]> {
    return this.kysely.listRevoked(caId);
  }
}

export class SqliteApiKeyStore implements ApiKeyStore {
  constructor(
    private readonly kysely: KyselyApiKeyStore,
    private readonly hot: SqliteHotPath,
  ) {}

  insert(key: NewApiKey): Promise<ApiKeyRecord> {
    return this.kysely.insert(key);
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    return this.hot.getApiKey(id);
  }

  list(): Promise<ApiKeyRecord[]> {
    return this.kysely.list();
  }

  revoke(id: string): Promise<boolean> {
    return this.kysely.revoke(id);
  }
}

export class SqliteCaStore implements CaStore {
  constructor(
    private readonly kysely: KyselyCaStore,
    private readonly hot: SqliteHotPath,
  ) {}

  insert(ca: NewCa): Promise<CaRecord> {
    return this.kysely.insert(ca);
  }

  async get(id: string): Promise<CaRecord | undefined> {
    return this.hot.getCa(id);
  }

  getByName(name: string): Promise<CaRecord | undefined> {
    return this.kysely.getByName(name);
  }

  list(): Promise<CaRecord[]> {
    return this.kysely.list();
  }
}

export class SqliteProductStore implements ProductStore {
  constructor(
    private readonly kysely: KyselyProductStore,
    private readonly hot: SqliteHotPath,
  ) {}

  insert(product: NewProduct): Promise<ProductRecord> {
    return this.kysely.insert(product);
  }

  async get(id: string): Promise<ProductRecord | undefined> {
    return this.hot.getProduct(id);
  }

  getByName(name: string): Promise<ProductRecord | undefined> {
    return this.kysely.getByName(name);
  }

  list(): Promise<ProductRecord[]> {
    return this.kysely.list();
  }
}
