// Kysely on the SQLite store's connection once SqliteWriteBatch commits on it: every statement
// that writes becomes a write of the group commit (so it is durable when its promise resolves,
// COMMIT no longer being synced), and every read waits until what was committed is durable (see
// SqliteWriteBatch.read). Migrations run before, on a plain SqliteDialect.
import type BetterSqlite3 from 'better-sqlite3';
import { SqliteDialect, SqliteDriver, type CompiledQuery, type DatabaseConnection, type Driver, type QueryResult } from 'kysely';
import type { SqliteWriteBatch } from './sqliteWriteBatch.js';

/** What the dialect prepares statements with (withStatementCache's cache of better-sqlite3 statements). */
export interface StatementSource {
  prepare(sql: string): BetterSqlite3.Statement<unknown[]>;
  close(): void;
}

export class SqliteBatchedDialect extends SqliteDialect {
  constructor(
    private readonly database: StatementSource,
    private readonly batch: SqliteWriteBatch,
  ) {
    super({ database });
  }

  override createDriver(): Driver {
    return new BatchedDriver(this.database, this.batch);
  }
}

class BatchedDriver extends SqliteDriver {
  constructor(
    private readonly database: StatementSource,
    private readonly batch: SqliteWriteBatch,
  ) {
    super({ database });
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    return new BatchedConnection(await super.acquireConnection(), this.database, this.batch);
  }
}

class BatchedConnection implements DatabaseConnection {
  constructor(
    private readonly inner: DatabaseConnection,
    private readonly database: StatementSource,
    private readonly batch: SqliteWriteBatch,
  ) {}

  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    // The SQLite store never opens a Kysely transaction: a BEGIN (read-only to SQLite) would run
    // here and the batch would then refuse to commit inside it; a BEGIN IMMEDIATE (a write) fails
    // inside the batch's own transaction. Either way it fails loudly.
    if (this.database.prepare(compiled.sql).readonly) return this.batch.read(() => run<R>(this.database, compiled));
    return this.batch.submit(() => run<R>(this.database, compiled));
  }

  async *streamQuery<R>(compiled: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    await this.batch.read(() => undefined);
    yield* this.inner.streamQuery<R>(compiled, chunkSize);
  }
}

/** One statement, synchronously, as Kysely's SqliteConnection runs it. */
function run<R>(database: StatementSource, { sql, parameters }: CompiledQuery): QueryResult<R> {
  const statement = database.prepare(sql);
  if (statement.reader) return { rows: statement.all(...parameters) as R[] };
  const { changes, lastInsertRowid } = statement.run(...parameters);
  return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
}
