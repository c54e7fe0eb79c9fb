// The audit trail's table: entries appended inside the transaction of the change they record,
// sealed under the chain key the store was opened with, and read back for `audit list`, `audit
// export` and the chain walk of `audit verify`.
import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import { AUDIT, CLI_ACTOR } from '../audit/actions.js';
import { GENESIS_HASH, LegacyWalk, resealPage, sealEntry, type ChainHead } from '../audit/chain.js';
import { verifyTrail, type TrailReport } from '../audit/trail.js';
import type { Checkpoint } from '../audit/checkpoint.js';
import type { AuditEntry, AuditEntryInput, AuditFilter, AuditOutcome } from '../core/types.js';
import { auditHead, insertAuditEntry } from './queries.js';
import { fromMs, toMs, type AuditLogTable, type Database } from './schema.js';
import type { AuditStore, ChainUpgrade } from './types.js';

// Appends are serialized on PostgreSQL by this transaction-scoped advisory lock: each entry must
// read the head written by the one before. SQLite serializes writers anyway.
export const AUDIT_LOCK_KEY = 0x63657274; // "cert"

/** Entries read per step of a walk over the whole trail (the upgrade's re-seal). */
export const AUDIT_PAGE = 1000;

export function auditFromRow(row: Selectable<AuditLogTable>): AuditEntry {
  return {
    seq: Number(row.seq),
    at: fromMs(row.at),
    actor: row.actor,
    protocol: row.protocol,
    sourceIp: row.source_ip,
    action: row.action,
    target: row.target,
    outcome: row.outcome as AuditOutcome,
    detail: JSON.parse(row.detail) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export function auditToRow(entry: AuditEntry): Insertable<AuditLogTable> {
  return {
    seq: entry.seq,
    at: toMs(entry.at),
    actor: entry.actor,
    protocol: entry.protocol,
    source_ip: entry.sourceIp,
    action: entry.action,
    target: entry.target,
    outcome: entry.outcome,
    detail: JSON.stringify(entry.detail),
    prev_hash: entry.prevHash,
    hash: entry.hash,
  };
}

export function headFromRow(row: { seq: number | string; hash: string } | undefined): ChainHead | undefined {
  return row && { seq: Number(row.seq), hash: row.hash };
}

/** The entry that records a re-seal: how many entries, how many had plain links, and the head before (an operator who kept it can compare). */
export function chainKeyedEntry(resealed: number, unkeyed: number, headBefore: ChainHead): AuditEntryInput {
  return {
    actor: CLI_ACTOR,
    protocol: 'cli',
    sourceIp: null,
    action: AUDIT.auditChainKeyed,
    target: 'audit_log',
    outcome: 'success',
    detail: { resealed, unkeyed, head_before: headBefore },
  };
}

/** Appends inside the caller's transaction `tx`; call it last, so the PostgreSQL lock is held briefly. */
export async function appendAudit(tx: Kysely<Database>, kind: 'sqlite' | 'postgres', key: Buffer, input: AuditEntryInput, now: number): Promise<AuditEntry> {
  if (kind === 'postgres') await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_KEY})`.execute(tx);
  const head = headFromRow(await auditHead(tx).executeTakeFirst());
  const entry = sealEntry(key, input, head, new Date(now));
  await insertAuditEntry(tx, auditToRow(entry)).execute();
  return entry;
}

const pageAfter = (tx: Kysely<Database>, seq: number) => tx.selectFrom('audit_log').selectAll().where('seq', '>', seq).orderBy('seq').limit(AUDIT_PAGE);

/**
 * Every link of the trail again, under `key`, in sequence order and page by page inside `tx`
 * (the caller holds the audit lock): `audit reseal` and `master-key rotate`. Returns how many.
 */
export async function resealTrail(tx: Kysely<Database>, key: Buffer): Promise<number> {
  let link = GENESIS_HASH;
  let count = 0;
  for (let seq = 0; ; ) {
    const page = (await pageAfter(tx, seq).execute()).map(auditFromRow);
    for (const r of resealPage(key, link, page)) {
      await tx.updateTable('audit_log').set({ prev_hash: r.prevHash, hash: r.hash }).where('seq', '=', r.seq).execute();
      link = r.hash;
      count++;
    }
    if (page.length < AUDIT_PAGE) return count;
    seq = (page.at(-1) as AuditEntry).seq;
  }
}

/** upgradeChain on Kysely (PostgreSQL; SQLite opened as a KyselyStore), under the audit lock. */
export async function upgradeChainKysely(
  transaction: <T>(fn: (tx: Kysely<Database>) => Promise<T>) => Promise<T>,
  kind: 'sqlite' | 'postgres',
  key: Buffer,
): Promise<ChainUpgrade> {
  return transaction(async (tx) => {
    if (kind === 'postgres') await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_KEY})`.execute(tx);
    const walk = new LegacyWalk(key);
    let head: ChainHead | undefined;
    for (let seq = 0; !walk.broken; ) {
      const page = (await pageAfter(tx, seq).execute()).map(auditFromRow);
      walk.take(page);
      if (page.length > 0) head = { seq: (page.at(-1) as AuditEntry).seq, hash: (page.at(-1) as AuditEntry).hash };
      if (page.length < AUDIT_PAGE) break;
      seq = (page.at(-1) as AuditEntry).seq;
    }
    const state = walk.state;
    if (state !== 'legacy' || !head) return { state, resealed: 0 };
    const resealed = await resealTrail(tx, key);
    await appendAudit(tx, kind, key, chainKeyedEntry(resealed, walk.legacy, head), Date.now());
    return { state, resealed };
  });
}

export class KyselyAuditStore implements Omit<AuditStore, 'append' | 'upgradeChain'> {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly key: Buffer,
  ) {}

  async list(filter: AuditFilter, page: { limit: number; offset: number }): Promise<{ entries: AuditEntry[]; total: number }> {
    const where = this.filtered(filter);
    const [{ n } = { n: 0 }] = await where.select((eb) => eb.fn.countAll<number | string>().as('n')).execute();
    const rows = await where.selectAll().orderBy('seq', 'desc').limit(page.limit).offset(page.offset).execute();
    return { entries: rows.map(auditFromRow), total: Number(n) };
  }

  async after(seq: number, limit: number, filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const rows = await this.filtered(filter).selectAll().where('seq', '>', seq).orderBy('seq').limit(limit).execute();
    return rows.map(auditFromRow);
  }

  async seqOfHash(hash: string): Promise<number | undefined> {
    const row = await this.db.selectFrom('audit_log').select('seq').where('hash', '=', hash).executeTakeFirst();
    return row && Number(row.seq);
  }

  async head(): Promise<AuditEntry | undefined> {
    const row = await this.db.selectFrom('audit_log').selectAll().orderBy('seq', 'desc').limit(1).executeTakeFirst();
    return row && auditFromRow(row);
  }

  /** The chain walk, under the key this store seals with (and, given one, against a checkpoint). */
  verify(checkpoint?: Checkpoint): Promise<TrailReport> {
    return verifyTrail(this, this.key, checkpoint);
  }

  private filtered(filter: AuditFilter) {
    let q = this.db.selectFrom('audit_log');
    if (filter.from) q = q.where('at', '>=', toMs(filter.from));
    if (filter.to) q = q.where('at', '<=', toMs(filter.to));
    if (filter.actor) q = q.where('actor', '=', filter.actor);
    if (filter.action) q = q.where('action', '=', filter.action);
    if (filter.target) q = q.where('target', '=', filter.target);
    return q;
  }
}
