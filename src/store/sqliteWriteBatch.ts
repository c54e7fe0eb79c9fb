// Group commit for the embedded SQLite database.
//
// With WAL and synchronous=FULL most of a small write's cost is its commit: every page it
// touched is appended to the WAL again, and the WAL is fsynced, per transaction. Many enrollments
// are in flight at once, so the writes issued in one turn of the event loop are run together, in
// ONE transaction, at setImmediate; pages they share (index leaves, the table's last page) are
// then written once, and there is one fsync for the lot.
//
// Guarantees:
// - Each write runs inside its own savepoint: one that throws (a unique violation, a typed store
//   error) is rolled back alone and rejects only its own promise; the others still commit.
// - A write's promise settles only after COMMIT, so nobody acts on a write that is not durable,
//   and a failed COMMIT rejects every write of the batch.
// - A flush is one synchronous call, so reads on the same connection (which run between flushes)
//   only ever see committed data, and no other statement can slip into the batch's transaction.
//   This relies on nothing else holding an SQLite transaction open across an await on this
//   connection: the SQLite store never uses Kysely's (multi-tick) transactions.
import type BetterSqlite3 from 'better-sqlite3';

interface PendingWrite {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** A write failed in a way that ended the whole transaction (SQLite rolled it back itself). */
class BatchAbortedError extends Error {
  constructor(readonly reason: unknown) {
    super('the batch transaction was rolled back');
  }
}

export class SqliteWriteBatch {
  private pending: PendingWrite[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  /** Runs a write in a SAVEPOINT (better-sqlite3 nests transactions that way). */
  private readonly inSavepoint: (run: () => unknown) => unknown;
  /** BEGIN IMMEDIATE … COMMIT around the whole batch: the write lock is taken up front, so
   * another process cannot make the batch fail half-way with SQLITE_BUSY (busy_timeout applies). */
  private readonly inTransaction: (writes: readonly PendingWrite[]) => Outcome[];

  constructor(private readonly db: BetterSqlite3.Database) {
    this.inSavepoint = db.transaction((run: () => unknown) => run());
    this.inTransaction = db.transaction((writes: readonly PendingWrite[]) => writes.map((w) => this.runOne(w))).immediate;
  }

  /**
   * Queues a synchronous write; it runs in the next batch. `run` must only use this connection
   * synchronously (it runs inside the batch transaction) and must not return a promise.
   */
  submit<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ run, resolve: resolve as (value: unknown) => void, reject });
      this.scheduled ??= setImmediate(() => this.flush());
    });
  }

  /** Runs and commits everything queued so far, now. Called by the timer, and before closing. */
  flush(): void {
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const writes = this.pending;
    if (writes.length === 0) return;
    this.pending = [];
    if (this.db.inTransaction) {
      // better-sqlite3 would turn our BEGIN into a SAVEPOINT of someone else's transaction, and
      // our "committed" writes could still be rolled back. That is a bug elsewhere: fail loudly.
      const error = new Error('SQLite group commit: the connection is already inside a transaction');
      for (const w of writes) w.reject(error);
      return;
    }

    let outcomes: Outcome[];
    try {
      outcomes = this.inTransaction(writes);
    } catch (error) {
      // BEGIN or COMMIT failed, or a write broke the transaction: nothing of the batch was kept.
      const cause = error instanceof BatchAbortedError ? error.reason : error;
      for (const w of writes) w.reject(cause);
      return;
    }
    outcomes.forEach((outcome, i) => {
      const w = writes[i] as PendingWrite;
      if (outcome.ok) w.resolve(outcome.value);
      else w.reject(outcome.error);
    });
  }

  private runOne(write: PendingWrite): Outcome {
    try {
      return { ok: true, value: this.inSavepoint(write.run) };
    } catch (error) {
      // Some errors (SQLITE_FULL, SQLITE_IOERR, …) make SQLite roll back the whole transaction.
      // Going on would run the remaining writes in autocommit mode, outside the batch.
      if (!this.db.inTransaction) throw new BatchAbortedError(error);
      return { ok: false, error };
    }
  }
}
