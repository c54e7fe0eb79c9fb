// Opens the configured database: PostgreSQL when a URL is given (scaled out), otherwise an SQLite
// file (embedded). Migrations run at open.
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { PUBLIC_TEST_CHAIN_KEY } from '../audit/chain.js';
import { KyselyStore, type StoreKind } from './kyselyStore.js';
import { millisecondsOf, type StoreClock } from './clock.js';
import { migrateToLatest } from './migrations.js';
import { openSqliteFile, withStatementCache } from './sqlite.js';
import { SqliteCheckpointer } from './sqliteCheckpointer.js';
import { SqliteBatchedDialect } from './sqliteBatchedDialect.js';
import { SqliteStore } from './sqliteStore.js';
import { SqliteWriteBatch } from './sqliteWriteBatch.js';
import type { Database } from './schema.js';
import type { Store } from './types.js';

export type { Database } from './schema.js';
export type * from './types.js';
export * from './errors.js';
export { KyselyStore, type StoreKind } from './kyselyStore.js';
export type { StoreClock } from './clock.js';
export { SqliteStore } from './sqliteStore.js';
export { migrateOwnerToLatest, migrateToLatest, MIGRATIONS } from './migrations.js';

export const DEFAULT_PG_POOL_SIZE = 10;
/** How long a PostgreSQL connection attempt may take before it counts as failed. */
export const DEFAULT_PG_CONNECT_TIMEOUT_MS = 5000;

export interface OpenStoreOptions {
  /** postgres:// or postgresql:// URL. When set, sqlitePath is ignored. */
  databaseUrl?: string;
  /** SQLite file (parent directories are created), or ':memory:'; used when there is no databaseUrl. */
  sqlitePath: string;
  /** PostgreSQL pool size. Default 10. */
  poolSize?: number;
  /**
   * PostgreSQL: how long opening a connection may take. Default 5 s. A server that is unreachable
   * without refusing (dropped packets, a hung host) then fails a query in bounded time, as an
   * unavailable store, instead of holding the request until the kernel gives up.
   */
  connectTimeoutMs?: number;
  /** Where lost PostgreSQL connections are reported (they are replaced on the next query). Default: nowhere. */
  onConnectionError?: (message: string, error: Error) => void;
  /**
   * The key the audit chain is sealed under: chainKeyOf(master key). Without it (a bare store a
   * test opens), entries are sealed under PUBLIC_TEST_CHAIN_KEY, which anyone can compute and
   * `audit verify` under a deployment's real key rejects.
   */
  chainKey?: Buffer;
  /** What rows and audit entries are stamped with (created, updated, lease expiry). Default: real time. */
  now?: StoreClock;
}

export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const url = options.databaseUrl?.trim();
  if (url) {
    if (!/^postgres(ql)?:\/\//i.test(url)) {
      throw new Error('database URL must start with postgres:// or postgresql://');
    }
    const pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? DEFAULT_PG_POOL_SIZE,
      connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_PG_CONNECT_TIMEOUT_MS,
      // TCP keepalive, so that a connection whose server vanished without a word is found dead.
      keepAlive: true,
    });
    // An idle client losing its connection (server restart, failover) emits 'error' on the pool,
    // which would crash the process if unhandled. The pool drops that client; the next query
    // gets a fresh connection or a proper error.
    const report = options.onConnectionError ?? (() => undefined);
    pool.on('error', (e) => report('idle PostgreSQL connection lost', e));
    // A checked-out client has no pool listener: pg-pool removes it while the client is lent out,
    // and Kysely's driver adds none. An error arriving then with no query running (the server
    // ends the session: 57P01 on a fast shutdown, or the socket closes) would be an unhandled
    // 'error' event. The client is marked broken either way; on release the pool discards it, so
    // the next query gets a fresh connection. A query running at the time fails on its own.
    pool.on('connect', (client) => {
      client.on('error', (e) => report('checked-out PostgreSQL connection lost', e));
    });
    return createStoreFromKysely(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), 'postgres', options.chainKey, options.now);
  }

  return openSqliteStore(options);
}

/**
 * Kysely (for migrations and the rarely used queries) and the SQLite fast path share the one
 * connection: see SqliteStore. Migrations may open transactions, so they run before the group
 * commit takes the connection over.
 */
async function openSqliteStore(options: OpenStoreOptions): Promise<SqliteStore> {
  const connection = openSqliteFile(options.sqlitePath);
  const statements = withStatementCache(connection);
  let writes: SqliteWriteBatch | undefined;
  let db: Kysely<Database> | undefined;
  try {
    await migrateToLatest(new Kysely<unknown>({ dialect: new SqliteDialect({ database: statements }) }));
    writes = new SqliteWriteBatch(connection);
    db = new Kysely<Database>({ dialect: new SqliteBatchedDialect(statements, writes) });
    return new SqliteStore(
      db,
      connection,
      writes,
      options.chainKey ?? PUBLIC_TEST_CHAIN_KEY,
      connection.memory ? undefined : SqliteCheckpointer.start(connection.name),
      millisecondsOf(options.now),
    );
  } catch (error) {
    // Nothing was written through the batch yet: closing it only lets go of the -wal file.
    await writes?.close();
    if (db) await db.destroy().catch(() => undefined);
    else statements.close();
    throw error;
  }
}

/**
 * Wraps an existing Kysely instance (migrating it first) in the all-Kysely store. `kind` must
 * match the dialect. The store owns the instance: close() destroys it. On failure the instance is
 * destroyed too. (openStore's SQLite store is faster; this one is the same code on both databases.)
 */
export async function createStoreFromKysely(db: Kysely<Database>, kind: StoreKind, chainKey: Buffer = PUBLIC_TEST_CHAIN_KEY, now?: StoreClock): Promise<KyselyStore> {
  return migratedOrDestroyed(db, () => new KyselyStore(db, kind, chainKey, millisecondsOf(now)));
}

async function migratedOrDestroyed<S>(db: Kysely<Database>, createStore: () => S): Promise<S> {
  try {
    await migrateToLatest(db as unknown as Kysely<unknown>);
    return createStore();
  } catch (error) {
    await db.destroy().catch(() => undefined);
    throw error;
  }
}
