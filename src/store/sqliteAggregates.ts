// The aggregates of the SQLite store: each answers its hot operations from SqliteHotPath (writes
// group-committed through SqliteWriteBatch) and hands the rest to the Kysely aggregate, which
// runs single autocommit statements on the same connection, and its audited writes through the
// batch too (SqliteAuditedWrites).
import type { AuditEntry, AuditEntryInput, CaRecord, CertificateRecord, EnrollmentRequest, ProductRecord, RequestStatus, RevokedEntry } from '../core/types.js';
import type { KyselyCaStore } from './cas.js';
import type { KyselyCertificateStore } from './certificates.js';
import type { KyselyProductStore } from './products.js';
import { claimArgs, newRequestRecord, transitionArgs, type KyselyRequestStore } from './requests.js';
import type { Compilable } from 'kysely';
import type { AuditedWrites } from './kyselyWriter.js';
import type { SqliteHotPath } from './sqliteHotPath.js';
import type { SqliteWriteBatch } from './sqliteWriteBatch.js';
import type {
  CaStore,
  CertificateStore,
  NewCa,
  NewCertificate,
  NewEnrollmentRequest,
  NewProduct,
  ProductStore,
  RequestStore,
  Revocation,
  TransitionOutcome,
} from './types.js';
import type { RequestFilter } from '../core/types.js';

export class SqliteRequestStore implements RequestStore {
  constructor(
    private readonly kysely: KyselyRequestStore,
    private readonly hot: SqliteHotPath,
    private readonly writes: SqliteWriteBatch,
  ) {}

  async insert(request: NewEnrollmentRequest, audit: AuditEntryInput | null): Promise<{ request: EnrollmentRequest; created: boolean }> {
    // Built now, not in the batch, so a bad Date throws here and timestamps are the caller's.
    const now = Date.now();
    const record = newRequestRecord(request, now);
    return this.writes.submit(() => this.hot.insertRequest(record, audit, now));
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
    return this.writes.submit(() => this.hot.transition(args, outcome.audit ?? null));
  }

  async claim(id: string, claim: { serialNumber: string; leaseMs: number }): Promise<EnrollmentRequest | undefined> {
    const args = claimArgs(id, claim, Date.now());
    return this.writes.submit(() => this.hot.claim(args));
  }

  approve(id: string, approvedBy: string, audit: AuditEntryInput): Promise<EnrollmentRequest | undefined> {
    return this.kysely.approve(id, approvedBy, audit);
  }

  releaseIdempotencyKey(id: string, createdBefore: Date): Promise<boolean> {
    return this.kysely.releaseIdempotencyKey(id, createdBefore);
  }

  listByStatus(statuses: readonly RequestStatus[], limit: number): Promise<EnrollmentRequest[]> {
    return this.kysely.listByStatus(statuses, limit);
  }

  list(filter: RequestFilter, page: { limit: number; offset: number }): Promise<{ requests: EnrollmentRequest[]; total: number }> {
    return this.kysely.list(filter, page);
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

  revoke(id: string, revocation: Revocation, audit: AuditEntryInput): Promise<{ certificate: CertificateRecord; changed: boolean } | undefined> {
    return this.kysely.revoke(id, revocation, audit);
  }

  reinstate(id: string, audit: AuditEntryInput): Promise<CertificateRecord | undefined> {
    return this.kysely.reinstate(id, audit);
  }

  insertSystemIssued(certificate: NewCertificate, audit: AuditEntryInput): Promise<CertificateRecord> {
    return this.kysely.insertSystemIssued(certificate, audit);
  }

  listRevoked(caId: string): Promise<RevokedEntry[]> {
    return this.kysely.listRevoked(caId);
  }
}

export class SqliteCaStore implements CaStore {
  constructor(
    private readonly kysely: KyselyCaStore,
    private readonly hot: SqliteHotPath,
  ) {}

  insert(ca: NewCa, audit: AuditEntryInput): Promise<CaRecord> {
    return this.kysely.insert(ca, audit);
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

  insert(product: NewProduct, audit: AuditEntryInput): Promise<ProductRecord> {
    return this.kysely.insert(product, audit);
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

/** Audited writes off the hot path, run synchronously inside the group commit with their entry. */
export class SqliteAuditedWrites implements AuditedWrites {
  constructor(
    private readonly hot: SqliteHotPath,
    private readonly writes: SqliteWriteBatch,
  ) {}

  one<R>(statement: Compilable<R>, entryOf: (row: R | undefined) => AuditEntryInput | null): Promise<R | undefined> {
    return this.writes.submit(() => {
      const row = this.hot.first(statement);
      const entry = entryOf(row);
      if (entry) this.hot.appendAudit(entry, Date.now());
      return row;
    });
  }

  append(entry: AuditEntryInput): Promise<AuditEntry> {
    const now = Date.now();
    return this.writes.submit(() => this.hot.appendAudit(entry, now));
  }
}
