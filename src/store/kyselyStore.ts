// The Store over a Kysely<Database>: the same code for SQLite and PostgreSQL. The aggregates live
// in their own modules; this one composes them and owns the one multi-table write, recordIssuance.
// openStore uses it for PostgreSQL; for SQLite it opens the faster SqliteStore (sqliteStore.ts),
// which reuses the aggregates' Kysely code for everything off the issuance hot path.
import { sql, type Kysely, type Migration } from 'kysely';
import type { CertificateRecord } from '../core/types.js';
import { KyselyApiKeyStore } from './apiKeys.js';
import { KyselyCaStore } from './cas.js';
import { certificateFromRow, KyselyCertificateStore, storeCertificate } from './certificates.js';
import { DuplicateSerialError, InvalidRequestStateError, isUniqueViolation } from './errors.js';
import { KyselyCrlStore } from './crls.js';
import { checkCertificateNamesRequest, issuanceStep } from './issuance.js';
import { migrateOwnerToLatest } from './migrations.js';
import { KyselyOcspSignerStore } from './ocspSigners.js';
import { KyselyProductStore } from './products.js';
import { certificateById, certificateByRequestId, issuanceState, markIssued } from './queries.js';
import { KyselyRequestStore } from './requests.js';
import type { Database } from './schema.js';
import type { NewCertificate, Store } from './types.js';

export type StoreKind = Store['kind'];

export class KyselyStore implements Store {
  readonly cas: KyselyCaStore;
  readonly products: KyselyProductStore;
  readonly requests: KyselyRequestStore;
  readonly certificates: KyselyCertificateStore;
  readonly apiKeys: KyselyApiKeyStore;
  readonly crls: KyselyCrlStore;
  readonly ocspSigners: KyselyOcspSignerStore;

  constructor(
    readonly db: Kysely<Database>,
    readonly kind: StoreKind,
  ) {
    this.cas = new KyselyCaStore(db);
    this.products = new KyselyProductStore(db);
    this.requests = new KyselyRequestStore(db);
    this.certificates = new KyselyCertificateStore(db);
    this.apiKeys = new KyselyApiKeyStore(db);
    this.crls = new KyselyCrlStore(db);
    this.ocspSigners = new KyselyOcspSignerStore(db);
  }

  /**
   * Runs `fn` in one write transaction. PostgreSQL: an ordinary (READ COMMITTED) transaction on a
   * pooled connection. SQLite: BEGIN IMMEDIATE on the dialect's single connection, which Kysely
   * holds (behind its mutex) for the whole callback, so transactions in this process never
   * interleave, and the write lock is taken up front so another process cannot make the
   * read-then-write fail half-way with SQLITE_BUSY.
   */
  async writeTransaction<T>(fn: (tx: Kysely<Database>) => Promise<T>): Promise<T> {
    if (this.kind === 'postgres') return this.db.transaction().execute(fn);
    return this.db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      let result: T;
      try {
        result = await fn(conn);
      } catch (error) {
        await sql`rollback`.execute(conn).catch(() => undefined);
        throw error;
      }
      try {
        await sql`commit`.execute(conn);
      } catch (error) {
        await sql`rollback`.execute(conn).catch(() => undefined);
        throw error;
      }
      return result;
    });
  }

  async recordIssuance(
    requestId: string,
    certificate: NewCertificate,
    note: string | null = null,
  ): Promise<{ certificate: CertificateRecord; alreadyIssued: boolean }> {
    checkCertificateNamesRequest(requestId, certificate);
    try {
      return await this.writeTransaction(async (tx) => {
        let query = issuanceState(tx, { id: requestId });
        // Concurrent jobs for one request queue up here; the loser then sees `issued`.
        if (this.kind === 'postgres') query = query.forUpdate();
        const state = await query.executeTakeFirst();
        if (issuanceStep(requestId, state, certificate) === 'alreadyIssued') {
          const certificateId = state?.certificate_id ?? null;
          const row = await (certificateId !== null
            ? certificateById(tx, { id: certificateId })
            : certificateByRequestId(tx, { requestId })
          ).executeTakeFirst();
          if (!row) throw new InvalidRequestStateError(requestId, 'issued without a stored certificate');
          return { certificate: certificateFromRow(row), alreadyIssued: true };
        }

        const now = Date.now();
        const stored = await storeCertificate(tx, { ...certificate, requestId }, now);
        await markIssued(tx, { id: requestId, certificateId: stored.id, note, now }).execute();
        return { certificate: stored, alreadyIssued: false };
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      // The transaction rolled back. Either a race slipped past the row lock and the request was
      // issued by someone else (UNIQUE(request_id)), or the serial number is taken.
      const existing = await this.certificates.getByRequestId(requestId);
      if (existing) return { certificate: existing, alreadyIssued: true };
      const clash = await this.certificates.getBySerial(certificate.caId, certificate.serialNumber);
      if (clash) throw new DuplicateSerialError(certificate.caId, certificate.serialNumber);
      throw error;
    }
  }

  async applyMigrations(owner: string, migrations: Readonly<Record<string, Migration>>): Promise<void> {
    await migrateOwnerToLatest(this.db as unknown as Kysely<unknown>, owner, migrations);
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
