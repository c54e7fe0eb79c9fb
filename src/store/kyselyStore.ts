// The Store over a Kysely<Database>: the same code for SQLite and PostgreSQL. The aggregates live
// in their own modules; this one composes them and owns the one multi-table write, recordIssuance.
// openStore uses it for PostgreSQL; for SQLite it opens the faster SqliteStore (sqliteStore.ts),
// which reuses the aggregates' Kysely code for everything off the issuance hot path.
import { sql, type Kysely } from 'kysely';
import type { CertificateRecord } from '../core/types.js';
import { KyselyApiKeyStore } from './apiKeys.js';
import { KyselyCaStore } from './cas.js';
import { certificateFromRow, insertCertificate, KyselyCertificateStore } from './certificates.js';
import {
  DuplicateSerialError,
  InvalidRequestStateError,
  isUniqueViolation,
  RequestNotFoundError,
  StoreError,
} from './errors.js';
import { KyselyCrlStore } from './crls.js';
import { KyselyOcspSignerStore } from './ocspSigners.js';
import { KyselyProductStore } from './products.js';
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
  ): Promise<{ certificate: CertificateRecord; alreadyIssued: boolean }> {
    if (certificate.requestId !== null && certificate.requestId !== requestId) {
      throw new StoreError(`certificate ${certificate.id} names request ${certificate.requestId}, not ${requestId}`);
    }
    try {
      return await this.writeTransaction(async (tx) => {
        let query = tx
          .selectFrom('enrollment_requests')
          .select(['status', 'certificate_id'])
          .where('id', '=', requestId);
        // Concurrent jobs for one request queue up here; the loser then sees `issued`.
        if (this.kind === 'postgres') query = query.forUpdate();
        const request = await query.executeTakeFirst();
        if (!request) throw new RequestNotFoundError(requestId);

        if (request.status === 'issued') {
          const row = await tx
            .selectFrom('certificates')
            .selectAll()
            .where(request.certificate_id !== null ? 'id' : 'request_id', '=', request.certificate_id ?? requestId)
            .executeTakeFirst();
          if (!row) throw new InvalidRequestStateError(requestId, 'issued without a stored certificate');
          return { certificate: certificateFromRow(row), alreadyIssued: true };
        }
        if (request.status !== 'queued') throw new InvalidRequestStateError(requestId, request.status);

        const now = Date.now();
        const stored = await insertCertificate(tx, { ...certificate, requestId }, now);
        await tx
          .updateTable('enrollment_requests')
          .set({ status: 'issued', status_reason: null, certificate_id: stored.id, updated_at: now })
          .where('id', '=', requestId)
          .execute();
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

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
