// The SQLite store's aggregates: each is the Kysely aggregate with its hot operations answered
// from SqliteHotPath instead (writes group-committed through SqliteWriteBatch, reads once what is
// committed is durable); the rest run through Kysely on the same connection, their audited
// writes through the batch too (SqliteAuditedWrites).
import type { Compilable, Kysely } from 'kysely';
import type { AuditEntry, AuditEntryInput, CertificateRecord, EnrollmentRequest } from '../core/types.js';
import { KyselyCertificateStore } from './certificates.js';
import { realTimeMs } from './clock.js';
import type { AuditedWrites } from './kyselyWriter.js';
import type { ClaimArgs, TransitionArgs } from './queries.js';
import { KyselyRequestStore } from './requests.js';
import type { Database } from './schema.js';
import type { SqliteHotPath } from './sqliteHotPath.js';
import type { SqliteWriteBatch } from './sqliteWriteBatch.js';

export class SqliteRequestStore extends KyselyRequestStore {
  constructor(
    db: Kysely<Database>,
    audited: SqliteAuditedWrites,
    chainKey: Buffer,
    private readonly hot: SqliteHotPath,
    private readonly batch: SqliteWriteBatch,
  ) {
    super(db, 'sqlite', audited, chainKey);
  }

  protected override insertRecord(record: EnrollmentRequest, audit: AuditEntryInput | null, now: number): Promise<{ request: EnrollmentRequest; created: boolean }> {
    return this.batch.submit(() => this.hot.insertRequest(record, audit, now));
  }

  override get(id: string): Promise<EnrollmentRequest | undefined> {
    return this.batch.read(() => this.hot.read.request({ id }));
  }

  override findByTransaction(requester: string, transactionId: string): Promise<EnrollmentRequest | undefined> {
    return this.batch.read(() => this.hot.read.requestByTransaction({ requester, transactionId }));
  }

  protected override applyTransition(args: TransitionArgs, audit: AuditEntryInput | null): Promise<EnrollmentRequest | undefined> {
    return this.batch.submit(() => this.hot.transition(args, audit));
  }

  protected override applyClaim(args: ClaimArgs): Promise<EnrollmentRequest | undefined> {
    return this.batch.submit(() => this.hot.claim(args));
  }
}

export class SqliteCertificateStore extends KyselyCertificateStore {
  constructor(
    db: Kysely<Database>,
    audited: SqliteAuditedWrites,
    private readonly hot: SqliteHotPath,
    private readonly batch: SqliteWriteBatch,
  ) {
    super(db, audited);
  }

  override get(id: string): Promise<CertificateRecord | undefined> {
    return this.batch.read(() => this.hot.read.certificate({ id }));
  }

  override getBySerial(caId: string, serialNumber: string): Promise<CertificateRecord | undefined> {
    return this.batch.read(() => this.hot.read.certificateBySerial({ caId, serialNumber }));
  }

  override getByRequestId(requestId: string): Promise<CertificateRecord | undefined> {
    return this.batch.read(() => this.hot.read.certificateByRequestId({ requestId }));
  }
}

/**
 * `store` (the Kysely aggregate of CAs or of products) with get(id), which every issuance asks,
 * answered from the hot path instead.
 */
export function withHotGet<T, S extends { get(id: string): Promise<T | undefined> }>(store: S, hotGet: (id: string) => Promise<T | undefined>): S {
  return Object.assign(store, { get: hotGet });
}

/** Audited writes off the hot path, run synchronously inside the group commit with their entry. */
export class SqliteAuditedWrites implements AuditedWrites {
  constructor(
    private readonly hot: SqliteHotPath,
    private readonly writes: SqliteWriteBatch,
    readonly now: () => number = realTimeMs,
  ) {}

  one<R>(statement: Compilable<R>, entryOf: (row: R | undefined) => AuditEntryInput | null): Promise<R | undefined> {
    return this.writes.submit(() => {
      const row = this.hot.first(statement);
      const entry = entryOf(row);
      if (entry) this.hot.appendAudit(entry, this.now());
      return row;
    });
  }

  append(entry: AuditEntryInput): Promise<AuditEntry> {
    const now = this.now();
    return this.writes.submit(() => this.hot.appendAudit(entry, now));
  }
}
