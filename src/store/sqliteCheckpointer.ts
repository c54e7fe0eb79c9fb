// Moves WAL checkpoints off the event loop.
//
// A commit appends to the WAL (and, with synchronous=FULL, fsyncs it); copying the WAL back into
// the database file (and fsyncing that) is the checkpoint, which SQLite does by default inside
// whichever commit crosses wal_autocheckpoint pages: on the event loop, once every few hundred
// issuances, costing about a third of all write time. A worker thread with its own connection
// checkpoints instead (PASSIVE: it never blocks readers or the writer). The main connection keeps
// its autocheckpoint as a safety net: it only fires if this thread falls behind.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const DEFAULT_INTERVAL_MS = 20;

// Plain CommonJS so it runs the same under tsx, vitest and the compiled build.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
// A checkpoint fsyncs the WAL before copying it and the database file before the WAL may be
// restarted at any level but OFF; SqliteWriteBatch's durability relies on that.
db.pragma('synchronous = NORMAL');
const timer = setInterval(() => {
  // A failed checkpoint (busy, I/O) leaves the WAL to the next attempt or to the main
  // connection's autocheckpoint; nothing is lost.
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
}, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export class SqliteCheckpointer {
  private readonly exited: Promise<void>;

  private constructor(private readonly worker: Worker) {
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
  }

  /** Starts checkpointing the WAL of the SQLite file at `path` every `intervalMs`. */
  static start(path: string, intervalMs = DEFAULT_INTERVAL_MS): SqliteCheckpointer {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path, intervalMs } });
    // Checkpointing is an optimisation: a worker that dies leaves the job to autocheckpoint.
    worker.on('error', () => undefined);
    // Never the reason the process stays alive.
    worker.unref();
    return new SqliteCheckpointer(worker);
  }

  /** Closes the worker's connection (before the main one closes, so that one can clean up the WAL). */
  async stop(): Promise<void> {
    // Keep the process alive until the worker has closed its connection.
    this.worker.ref();
    this.worker.postMessage('stop');
    await this.exited;
  }
}
