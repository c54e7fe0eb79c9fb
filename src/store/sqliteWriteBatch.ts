// Group commit for the embedded SQLite database, with the WAL's fsync off the event loop.
//
// Most of a small write's cost is its commit: every page it touched is appended to the WAL
// again, and the WAL is fsynced. Many enrollments are in flight at once, so the writes issued in
// one turn of the event loop are run together, in ONE transaction; pages they share (index
// leaves, the table's last page) are then written once, and there is one fsync for the lot.
//
// The fsync is not COMMIT's: the connection runs with synchronous=NORMAL, so in WAL mode COMMIT
// only write()s the frames (into the page cache), and this module then fdatasyncs the -wal file
// on libuv's thread pool. Only one batch is in flight: the next one is held (its writes queue
// up) until that sync returns, so the event loop keeps serving requests during the fsync and the
// next group grows meanwhile.
//
// Guarantees:
// - Each write runs inside its own savepoint: one that throws (a unique violation, a typed store
//   error) is rolled back alone and rejects only its own promise; the others still commit.
// - A write's promise settles only after its batch is durable: COMMIT, then an fdatasync of the
//   WAL that started after COMMIT returned. A failed COMMIT rejects every write of the batch; a
//   failed sync too, and it also fails the store for good (every later write and read rejects):
//   after a failed fsync, the kernel may already have dropped the dirty pages, so what is on disk
//   is unknown and retrying could report success for data that is gone. Restart the process.
// - Reads through the store wait (read()) while a committed batch is not yet durable, so nobody
//   in this process sees, or acts on, a write that could still be lost. A flush is one
//   synchronous call, so no other statement can slip into the batch's transaction. This relies on
//   nothing else holding an SQLite transaction open across an await on this connection: the SQLite
//   store never uses Kysely's (multi-tick) transactions.
//
// Why that is as durable as synchronous=FULL for every acknowledged write:
// - FULL fsyncs the WAL inside COMMIT; here the same fdatasync (the call SQLite's unix VFS makes)
//   runs after COMMIT on the same file, before anyone is told. fsync applies to the file, not to
//   the descriptor, so a descriptor of our own covers the frames the connection wrote.
// - The -wal file is the same file for as long as this connection is open: SQLite deletes it only
//   when the last connection closes, and truncating or restarting it keeps the file. Opening it
//   once, after migrations opened the database in WAL mode, is therefore enough.
// - WAL restart (a writer starting again at the front of the file once a checkpoint copied
//   everything): SQLite fsyncs the new header itself, at any synchronous level but OFF, and a
//   checkpoint fsyncs the WAL before copying frames and the database file before the WAL may be
//   restarted (SqliteCheckpointer's connection and this one's autocheckpoint alike). Our own
//   restarts only happen in a later batch, i.e. after the previous batch's sync returned.
// - Recovery keeps the longest valid prefix of the WAL, so a sync that also catches part of a
//   later batch changes nothing: that batch is not acknowledged until its own sync.
// What is weaker than FULL: another PROCESS on the same file may read a batch between its COMMIT
// and the end of its sync (under FULL, other connections see it only after the fsync). Anything
// that process writes because of it lands later in the same WAL, and its own sync covers both.
import { closeSync, fdatasync, openSync, realpathSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';

interface PendingWrite {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** How a file descriptor is made durable (fs.fdatasync; a test may pass one that fails). */
export type SyncFile = (fd: number, done: (error: Error | null) => void) => void;

/** A write failed in a way that ended the whole transaction (SQLite rolled it back itself). */
class BatchAbortedError extends Error {
  constructor(readonly reason: unknown) {
    super('the batch transaction was rolled back');
  }
}

/** The WAL could not be made durable: the store refuses all further work. */
export class StoreSyncError extends Error {
  constructor(cause: unknown) {
    super('SQLite: syncing the write-ahead log failed; the store is stopped (restart the process)', { cause });
  }
}

export class SqliteWriteBatch {
  private pending: PendingWrite[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  /** Set between hold() and release(): a transaction of someone else's has the connection. */
  private holder: { released: Promise<void>; release: () => void } | undefined;
  /** The sync of the batch committed last, while it runs. */
  private syncing: Promise<void> | undefined;
  /** Set once a sync failed: see StoreSyncError. */
  private failed: StoreSyncError | undefined;
  /** The -wal file, open for fdatasync; undefined for an in-memory database (nothing to sync). */
  private walFd: number | undefined;
  /** Runs a write in a SAVEPOINT (better-sqlite3 nests transactions that way). */
  private readonly inSavepoint: (run: () => unknown) => unknown;
  /** BEGIN IMMEDIATE … COMMIT around the whole batch: the write lock is taken up front, so
   * another process cannot make the batch fail half-way with SQLITE_BUSY (busy_timeout applies). */
  private readonly inTransaction: (writes: readonly PendingWrite[]) => Outcome[];

  /**
   * Takes over committing on `db` (in WAL mode, its schema migrated, so its -wal file exists):
   * from now on every write on it must go through submit().
   */
  constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly syncFile: SyncFile = fdatasync,
  ) {
    this.inSavepoint = db.transaction((run: () => unknown) => run());
    this.inTransaction = db.transaction((writes: readonly PendingWrite[]) => writes.map((w) => this.runOne(w))).immediate;
    if (!db.memory) {
      // SQLite names the WAL after the database's path with symlinks resolved.
      this.walFd = openSync(`${realpathSync(db.name)}-wal`, 'r');
      // COMMIT no longer fsyncs: this module does, before anyone is told (see the header).
      db.pragma('synchronous = NORMAL');
    }
  }

  /**
   * Queues a synchronous write; it runs in the next batch. `run` must only use this connection
   * synchronously (it runs inside the batch transaction) and must not return a promise.
   */
  submit<T>(run: () => T): Promise<T> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ run, resolve: resolve as (value: unknown) => void, reject });
      if (this.syncing === undefined && !this.holder) this.scheduled ??= setImmediate(() => this.flush());
    });
  }

  /**
   * Lends the connection to one multi-statement transaction of someone else's (Kysely's, as
   * `master-key rotate` opens): waits until everything queued is committed and durable, then holds
   * every batch and every store read until release(). Only the holder may use the connection.
   */
  async hold(): Promise<void> {
    for (;;) {
      while (this.holder) await this.holder.released;
      await this.drain();
      // drain() resolves in a microtask: no batch can have started since, but another hold() may.
      if (!this.holder && this.syncing === undefined) break;
    }
    if (this.failed) throw this.failed;
    let release!: () => void;
    this.holder = { released: new Promise<void>((resolve) => (release = resolve)), release };
  }

  /**
   * Ends a hold(): after a COMMIT, the WAL is synced first (COMMIT does not sync it, see the
   * header), so nobody reads what the transaction wrote before it is durable. Safe to call twice.
   */
  async release(committed: boolean): Promise<void> {
    const holder = this.holder;
    if (!holder) return;
    try {
      const fd = this.walFd;
      if (committed && fd !== undefined) {
        await new Promise<void>((resolve, reject) => this.syncFile(fd, (error) => (error ? reject(error) : resolve())));
      }
    } catch (error) {
      this.failed = new StoreSyncError(error);
      rejectAll(this.pending, this.failed);
      this.pending = [];
      throw this.failed;
    } finally {
      this.holder = undefined;
      holder.release();
      if (this.pending.length > 0) this.scheduled ??= setImmediate(() => this.flush());
    }
  }

  /**
   * Runs a synchronous read on this connection once everything committed is durable. Resolves
   * or rejects with what `read` returns or throws.
   */
  async read<T>(read: () => T): Promise<T> {
    // Re-checked after each wait; the next batch commits at a setImmediate after a sync returns,
    // so a waiting read resumes (in a microtask) before it.
    while (this.syncing !== undefined || this.holder) await (this.syncing ?? this.holder?.released);
    if (this.failed) throw this.failed;
    return read();
  }

  /** Runs and commits everything queued so far, and resolves once all of it is durable (before closing). */
  async drain(): Promise<void> {
    for (;;) {
      if (this.syncing !== undefined) await this.syncing.catch(() => undefined);
      else if (this.pending.length > 0) this.flush();
      else break;
    }
  }

  /** Drains, then lets go of the -wal file. Call before closing the connection. */
  async close(): Promise<void> {
    await this.drain();
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
  }

  /** Runs and commits everything queued so far, unless a sync is in flight (its end calls this again). */
  private flush(): void {
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    if (this.syncing !== undefined || this.holder) return;
    const writes = this.pending;
    if (writes.length === 0) return;
    this.pending = [];
    if (this.failed) return rejectAll(writes, this.failed);
    if (this.db.inTransaction) {
      // better-sqlite3 would turn our BEGIN into a SAVEPOINT of someone else's transaction, and
      // our "committed" writes could still be rolled back. That is a bug elsewhere: fail loudly.
      return rejectAll(writes, new Error('SQLite group commit: the connection is already inside a transaction'));
    }

    let outcomes: Outcome[];
    try {
      outcomes = this.inTransaction(writes);
    } catch (error) {
      // BEGIN or COMMIT failed, or a write broke the transaction: nothing of the batch was kept.
      return rejectAll(writes, error instanceof BatchAbortedError ? error.reason : error);
    }
    const fd = this.walFd;
    if (fd === undefined) return settle(writes, outcomes);
    let synced!: () => void;
    // Set before the sync starts, so that a callback that comes at once still clears it.
    this.syncing = new Promise<void>((resolve) => (synced = resolve));
    this.syncFile(fd, (error) => {
      this.syncing = undefined;
      if (error) {
        this.failed = new StoreSyncError(error);
        rejectAll(writes, this.failed);
        rejectAll(this.pending, this.failed);
        this.pending = [];
      } else {
        settle(writes, outcomes);
        // Not now: the reads waiting for this sync run first (see read()).
        if (this.pending.length > 0) this.scheduled ??= setImmediate(() => this.flush());
      }
      synced();
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

function settle(writes: readonly PendingWrite[], outcomes: readonly Outcome[]): void {
  outcomes.forEach((outcome, i) => {
    const w = writes[i] as PendingWrite;
    if (outcome.ok) w.resolve(outcome.value);
    else w.reject(outcome.error);
  });
}

function rejectAll(writes: readonly PendingWrite[], error: unknown): void {
  for (const w of writes) w.reject(error);
}
