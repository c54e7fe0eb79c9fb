// Write transactions on a Kysely database, and changes committed together with their audit entry.
import { sql, type Compilable, type Kysely } from 'kysely';
import type { AuditEntryInput } from '../core/types.js';
import { appendAudit } from './audit.js';
import { realTimeMs } from './clock.js';
import type { Database } from './schema.js';

/**
 * One statement and the audit entry recording what it changed, committed together. Both stores
 * implement it: the Kysely one in a transaction, the SQLite one inside its group commit.
 */
export interface AuditedWrites {
  /**
   * Runs `statement` (one SQL statement; a write that RETURNING the row it changed), then appends
   * the entry `entryOf` makes of that row (null: nothing changed, nothing to record). Resolves
   * with the row once both are committed.
   */
  one<R>(statement: Compilable<R>, entryOf: (row: R | undefined) => AuditEntryInput | null): Promise<R | undefined>;
  /** Milliseconds since the epoch by the store's clock: what rows and audit entries are stamped with. */
  now(): number;
}

/** An aggregate on Kysely: it reads through `db` and writes, with their audit entries, through `writes`. */
export abstract class KyselyAggregate {
  constructor(
    protected readonly db: Kysely<Database>,
    protected readonly writes: AuditedWrites,
  ) {}
}

export class KyselyWriter implements AuditedWrites {
  constructor(
    readonly db: Kysely<Database>,
    readonly kind: 'sqlite' | 'postgres',
    /** The audit chain key (audit/chain.ts) every entry is sealed under. */
    readonly chainKey: Buffer,
    readonly now: () => number = realTimeMs,
  ) {}

  /**
   * Runs `fn` in one write transaction. PostgreSQL: an ordinary (READ COMMITTED) transaction on a
   * pooled connection. SQLite: BEGIN IMMEDIATE on the dialect's single connection, which Kysely
   * holds (behind its mutex) for the whole callback, so transactions in this process never
   * interleave, and the write lock is taken up front so another process cannot make the
   * read-then-write fail half-way with SQLITE_BUSY.
   */
  async transaction<T>(fn: (tx: Kysely<Database>) => Promise<T>): Promise<T> {
    if (this.kind === 'postgres') return this.db.transaction().execute(fn);
    return this.db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      let result: T;
      try {
        result = await fn(conn);
      } catch (error) {
        await sql`rollback`.execute(conn).catch(() => undefined);
        throw error;
      }
      try {
        await sql`commit`.execute(conn);
      } catch (error) {
        await sql`rollback`.execute(conn).catch(() => undefined);
        throw error;
      }
      return result;
    });
  }

  /**
   * Runs the change and, when `entryOf` says what it changed (null: nothing did), appends that
   * entry to the audit trail, all in one transaction: a change is never without its entry.
   */
  audited<T>(change: (tx: Kysely<Database>) => Promise<T>, entryOf: (result: T) => AuditEntryInput | null): Promise<T> {
    return this.transaction(async (tx) => {
      const result = await change(tx);
      const entry = entryOf(result);
      if (entry) await appendAudit(tx, this.kind, this.chainKey, entry, this.now());
      return result;
    });
  }

  one<R>(statement: Compilable<R>, entryOf: (row: R | undefined) => AuditEntryInput | null): Promise<R | undefined> {
    const compiled = statement.compile();
    return this.audited(async (tx) => (await tx.executeQuery(compiled)).rows[0], entryOf);
  }
}
