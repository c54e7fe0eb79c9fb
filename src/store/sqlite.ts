// Opens the embedded SQLite database for Kysely.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { StatementSource } from './sqliteBatchedDialect.js';

/**
 * Opens (creating parent folders) an SQLite file, or ':memory:', with the pragmas the store
 * relies on: WAL (readers never block the writer), synchronous=FULL, a 5 s busy timeout for
 * other processes, and foreign keys.
 *
 * FULL because a write's promise means "stored": a 201 for an enrollment, or a certificate handed
 * out, must survive a power cut, and with NORMAL a power cut (not a
 * crash of the process) may lose the commits since the last checkpoint. The store's
 * SqliteWriteBatch then takes over: it sets NORMAL and fsyncs the WAL itself, off the event loop,
 * before any write's promise settles (see its header), once per batch of writes.
 */
export function openSqliteFile(path: string): BetterSqlite3.Database {
  const inMemory = path === ':memory:' || path === '';
  if (!inMemory) mkdirSync(dirname(resolve(path)), { recursive: true });
  const db = new BetterSqlite3(path);
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // Issuance touches a dozen pages per certificate; keep the hot ones in memory and let reads
    // come straight from the page cache of a memory-mapped file.
    db.pragma('cache_size = -65536');
    db.pragma('mmap_size = 268435456');
    db.pragma('temp_store = MEMORY');
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/**
 * Kysely's SqliteDialect prepares every statement on every execution; preparing costs about as
 * much as running a small statement. This keeps the most recently used prepared statements
 * (keyed by SQL text, which Kysely's parameterised queries make stable).
 */
export function withStatementCache(db: BetterSqlite3.Database, max = 200): StatementSource {
  const cache = new Map<string, BetterSqlite3.Statement<unknown[]>>();
  return {
    close() {
      cache.clear();
      db.close();
    },
    prepare(sql: string) {
      const cached = cache.get(sql);
      if (cached) {
        // A statement being iterated (Kysely's stream()) cannot be reused: give a fresh one.
        if (cached.busy) return db.prepare<unknown[]>(sql);
        cache.delete(sql);
        cache.set(sql, cached);
        return cached;
      }
      const stmt = db.prepare<unknown[]>(sql);
      cache.set(sql, stmt);
      if (cache.size > max) {
        const oldest = cache.keys().next().value;
        if (oldest !== undefined) cache.delete(oldest);
      }
      return stmt;
    },
  };
}
