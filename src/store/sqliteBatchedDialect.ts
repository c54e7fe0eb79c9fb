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
  /** Inside a transaction the batch lent the connection to: statements run as they come. */
  direct = false;

  constructor(
    readonly inner: DatabaseConnection,
    private readonly database: StatementSource,
    private readonly batch: SqliteWriteBatch,
  ) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    // A transaction of its own (KyselyWriter.transaction's BEGIN IMMEDIATE, as `master-key rotate`
    // runs with the server stopped) spans many awaits: the batch lends it the connection from BEGIN
    // to COMMIT or ROLLBACK, and its statements run as they come.
    const verb = TRANSACTION_VERB.exec(compiled.sql)?.[1]?.toLowerCase();
    if (verb === 'begin' && !this.direct) {
      await this.batch.hold();
      this.direct = true;
      try {
        return await this.inner.executeQuery<R>(compiled);
      } catch (error) {
        this.direct = false;
        await this.batch.release(false);
        throw error;
      }
    }
    if (this.direct && verb !== undefined && verb !== 'begin') {
      const result = await this.inner.executeQuery<R>(compiled).catch(async (error: unknown) => {
        // A failed COMMIT leaves the transaction open for the ROLLBACK that follows.
        if (verb === 'rollback') await this.endTransaction(false);
        throw error;
      });
      await this.endTransaction(verb !== 'rollback');
      return result;
    }
    if (this.direct) return this.inner.executeQuery<R>(compiled);
    if (this.database.prepare(compiled.sql).readonly) return this.batch.read(() => run<R>(this.database, compiled));
    return this.batch.submit(() => run<R>(this.database, compiled));
  }

  private async endTransaction(committed: boolean): Promise<void> {
    this.direct = false;
    await this.batch.release(committed);
  }

  async *streamQuery<R>(compiled: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    if (!this.direct) await this.batch.read(() => undefined);
    yield* this.inner.streamQuery<R>(compiled, chunkSize);
  }
}

const TRANSACTION_VERB = /^\s*(begin|commit|end|rollback)(?:\s+(?:immediate|deferred|exclusive))?(?:\s+transaction)?\s*;?\s*$/i;

/** One statement, synchronously, as Kysely's SqliteConnection runs it. */
function run<R>(database: StatementSource, { sql, parameters }: CompiledQuery): QueryResult<R> {
  const statement = database.prepare(sql);
  if (statement.reader) return { rows: statement.all(...parameters) as R[] };
  const { changes, lastInsertRowid } = statement.run(...parameters);
  return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
}
