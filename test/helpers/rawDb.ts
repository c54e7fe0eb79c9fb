// Straight at a deployment's database, as someone with its credentials (not certgate's) would:
// for tests that read rows as stored or tamper with them. `?` placeholders on either database.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';

export interface RawDb {
  rows(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  exec(sql: string, params?: unknown[]): Promise<void>;
}

export interface RawConnection extends RawDb {
  close(): Promise<void>;
}

/**
 * The PostgreSQL database at `databaseUrl` (one connection until close), else the embedded
 * database of `dataDir`, opened per statement so that it never holds the file between them.
 */
export async function openRawDb(databaseUrl: string | undefined, dataDir: string): Promise<RawConnection> {
  if (databaseUrl) {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    const numbered = (sql: string) => sql.replace(/\?/g, (() => { let n = 0; return () => `$${++n}`; })());
    return {
      rows: async (sql, params = []) => (await client.query(numbered(sql), params)).rows as Record<string, unknown>[],
      exec: async (sql, params = []) => void (await client.query(numbered(sql), params)),
      close: () => client.end(),
    };
  }
  const open = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(join(dataDir, 'certgate.db'));
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  return {
    rows: async (sql, params = []) => open((db) => db.prepare(sql).all(...params) as Record<string, unknown>[]),
    exec: async (sql, params = []) => void open((db) => db.prepare(sql).run(...params)),
    close: async () => undefined,
  };
}
