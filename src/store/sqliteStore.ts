// The Store on the embedded SQLite database. The issuance hot path (see SqliteHotPath) runs the
// shared queries as prepared statements, and its writes are group-committed (see
// SqliteWriteBatch); everything else is the Kysely code shared with PostgreSQL, whose writes
// join the group commit too and whose reads wait for durability like the hot path's (see
// SqliteBatchedDialect). The aggregates that combine the two are in sqliteFastStores.ts.
//
// Nothing here may open a Kysely transaction: one held across awaits would swallow a batch into
// it (SqliteWriteBatch refuses to run then). Store.recordIssuance, the one multi-statement write,
// is a synchronous closure in the batch instead.
import type BetterSqlite3 from 'better-sqlite3';
import type { Compilable, Kysely } from 'kysely';
import type { AuditEntryInput, CertificateRecord } from '../core/types.js';
import { KyselyCredentialStore } from './credentials.js';
import { KyselyDomainStore } from './domains.js';
import { KyselyInventoryStore } from './inventory.js';
import type { Database } from './schema.js';
import { KyselyCaStore } from './cas.js';
import { KyselyProductStore } from './products.js';
import { SqliteAuditedWrites, SqliteCertificateStore, SqliteRequestStore, withHotGet } from './sqliteFastStores.js';
import type { SqliteCheckpointer } from './sqliteCheckpointer.js';
import { SqliteHotPath } from './sqliteHotPath.js';
import type { SqliteWriteBatch } from './sqliteWriteBatch.js';
import { StoreBase } from './storeBase.js';
import type { NewCertificate, Store } from './types.js';
import { realTimeMs } from './clock.js';

export class SqliteStore extends StoreBase implements Store {
  readonly kind = 'sqlite' as const;
  readonly cas: KyselyCaStore;
  readonly products: KyselyProductStore;
  readonly requests: SqliteRequestStore;
  readonly certificates: SqliteCertificateStore;
  readonly inventory: KyselyInventoryStore;
  readonly credentials: KyselyCredentialStore;
  readonly domains: KyselyDomainStore;
  private readonly hot: SqliteHotPath;
  private readonly audited: SqliteAuditedWrites;

  /**
   * `db` must be a Kysely over `connection` (its only connection) through SqliteBatchedDialect on
   * `writes`, with the schema migrated. The store owns all three, and the checkpointer: close()
   * stops and destroys them. `now`: the clock rows and audit entries are stamped with (milliseconds).
   */
  constructor(
    db: Kysely<Database>,
    connection: BetterSqlite3.Database,
    private readonly writes: SqliteWriteBatch,
    chainKey: Buffer,
    private readonly checkpointer?: SqliteCheckpointer,
    now: () => number = realTimeMs,
  ) {
    super(db, chainKey, now);
    this.hot = new SqliteHotPath(connection, db, chainKey);
    const audited = new SqliteAuditedWrites(this.hot, this.writes, now);
    this.audited = audited;
    const { hot } = this;
    this.cas = withHotGet(new KyselyCaStore(db, audited), (id) => writes.read(() => hot.read.ca({ id })));
    this.products = withHotGet(new KyselyProductStore(db, audited), (id) => writes.read(() => hot.read.product({ id })));
    this.requests = new SqliteRequestStore(db, audited, chainKey, this.hot, this.writes);
    this.certificates = new SqliteCertificateStore(db, audited, this.hot, this.writes);
    this.inventory = new KyselyInventoryStore(db, 'sqlite', audited);
    this.credentials = new KyselyCredentialStore(db, audited);
    this.domains = new KyselyDomainStore(db, audited);
  }

  protected appendAudit(entry: AuditEntryInput) {
    return this.audited.append(entry);
  }

  protected upgradeAuditChain() {
    const now = this.audited.now();
    return this.writes.submit(() => this.hot.upgradeChain(now));
  }

  protected recordChecked(
    requestId: string,
    certificate: NewCertificate,
    note: string | null,
    audit: AuditEntryInput,
  ): Promise<{ certificate: CertificateRecord; alreadyIssued: boolean }> {
    const now = this.audited.now();
    return this.writes.submit(() => this.hot.recordIssuance(requestId, certificate, note, audit, now));
  }

  write<R>(statement: Compilable<R>, entryOf: (row: R | undefined) => AuditEntryInput | null = () => null): Promise<R | undefined> {
    return this.audited.one(statement, entryOf);
  }

  async close(): Promise<void> {
    // Writes already accepted are committed and synced, not dropped.
    await this.writes.close();
    await this.checkpointer?.stop();
    await this.db.destroy();
  }
}
