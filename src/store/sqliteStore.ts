// The Store on the embedded SQLite database. The issuance hot path (see SqliteHotPath) runs the
// shared queries as prepared statements, and its writes are group-committed (see
// SqliteWriteBatch); everything else is the Kysely code shared with PostgreSQL, whose single
// autocommit statements cannot interleave with a batch because both run synchronously on the one
// connection. The aggregates that combine the two are in sqliteAggregates.ts.
//
// Nothing here may open a Kysely transaction: one held across awaits would swallow a batch into
// it (SqliteWriteBatch refuses to run then). Store.recordIssuance, the one multi-statement write,
// is a synchronous closure in the batch instead.
import type BetterSqlite3 from 'better-sqlite3';
import { sql, type Compilable, type Kysely, type Migration } from 'kysely';
import type { AuditEntryInput, CertificateRecord } from '../core/types.js';
import { KyselyAuditStore } from './audit.js';
import { KyselyCredentialStore } from './credentials.js';
import { KyselyCaStore } from './cas.js';
import { KyselyInventoryStore } from './inventory.js';
import { KyselyCertificateStore } from './certificates.js';
import { KyselyCrlStore } from './crls.js';
import { checkCertificateNamesRequest } from './issuance.js';
import { migrateOwnerToLatest } from './migrations.js';
import { KyselyOcspSignerStore } from './ocspSigners.js';
import { KyselyProductStore } from './products.js';
import { KyselyRequestStore } from './requests.js';
import type { Database } from './schema.js';
import {
  SqliteAuditedWrites,
  SqliteCaStore,
  SqliteCertificateStore,
  SqliteProductStore,
  SqliteRequestStore,
} from './sqliteAggregates.js';
import type { SqliteCheckpointer } from './sqliteCheckpointer.js';
import { SqliteHotPath } from './sqliteHotPath.js';
import { SqliteWriteBatch } from './sqliteWriteBatch.js';
import type { AuditStore, NewCertificate, Store } from './types.js';

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly cas: SqliteCaStore;
  readonly products: SqliteProductStore;
  readonly requests: SqliteRequestStore;
  readonly certificates: SqliteCertificateStore;
  readonly inventory: KyselyInventoryStore;
  readonly credentials: KyselyCredentialStore;
  readonly audit: KyselyAuditStore & Pick<AuditStore, 'append' | 'upgradeChain'>;
  readonly crls: KyselyCrlStore;
  readonly ocspSigners: KyselyOcspSignerStore;
  private readonly hot: SqliteHotPath;
  private readonly writes: SqliteWriteBatch;
  private readonly audited: SqliteAuditedWrites;

  /**
   * `db` must be a Kysely over `connection` (its only connection), with the schema migrated. The
   * store owns both, and the checkpointer: close() stops and destroys them.
   */
  constructor(
    readonly db: Kysely<Database>,
    connection: BetterSqlite3.Database,
    chainKey: Buffer,
    private readonly checkpointer?: SqliteCheckpointer,
  ) {
    this.hot = new SqliteHotPath(connection, db, chainKey);
    this.writes = new SqliteWriteBatch(connection);
    const audited = new SqliteAuditedWrites(this.hot, this.writes);
    this.audited = audited;
    this.cas = new SqliteCaStore(new KyselyCaStore(db, audited), this.hot);
    this.products = new SqliteProductStore(new KyselyProductStore(db, audited), this.hot);
    this.requests = new SqliteRequestStore(new KyselyRequestStore(db, 'sqlite', audited, chainKey), this.hot, this.writes);
    this.certificates = new SqliteCertificateStore(new KyselyCertificateStore(db, audited), this.hot);
    this.inventory = new KyselyInventoryStore(db, 'sqlite', audited);
    this.credentials = new KyselyCredentialStore(db, audited);
    const hot = this.hot;
    this.audit = Object.assign(new KyselyAuditStore(db, chainKey), {
      append: (entry: AuditEntryInput) => audited.append(entry),
      upgradeChain: () => this.writes.submit(() => hot.upgradeChain()),
    });
    this.crls = new KyselyCrlStore(db);
    this.ocspSigners = new KyselyOcspSignerStore(db);
  }

  async recordIssuance(
    requestId: string,
    certificate: NewCertificate,
    note: string | null,
    audit: AuditEntryInput,
  ): Promise<{ certificate: CertificateRecord; alreadyIssued: boolean }> {
    checkCertificateNamesRequest(requestId, certificate);
    const now = Date.now();
    return this.writes.submit(() => this.hot.recordIssuance(requestId, certificate, note, audit, now));
  }

  write<R>(statement: Compilable<R>): Promise<R | undefined> {
    return this.audited.one(statement, () => null);
  }

  /**
   * Migrations are schema changes, never part of a write batch: the migrator runs its statements
   * one by one (SQLite has no transactional DDL in Kysely), so it opens no transaction a batch
   * could land in.
   */
  async applyMigrations(owner: string, migrations: Readonly<Record<string, Migration>>): Promise<void> {
    await migrateOwnerToLatest(this.db as unknown as Kysely<unknown>, owner, migrations);
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
