// The audit trail's table: entries appended inside the transaction of the change they record,
// read back for `audit list`, `audit export` and the chain walk of `audit verify`.
import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import { sealEntry, type ChainHead } from '../audit/chain.js';
import type { AuditEntry, AuditEntryInput, AuditFilter, AuditOutcome } from '../core/types.js';
import { auditHead, insertAuditEntry } from './queries.js';
import { fromMs, toMs, type AuditLogTable, type Database } from './schema.js';
import type { AuditStore } from './types.js';

// Appends are serialized on PostgreSQL by this transaction-scoped advisory lock: each entry must
// read the head written by the one before. SQLite serializes writers anyway.
export const AUDIT_LOCK_KEY = 0x63657274; // "cert"

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

/** Appends inside the caller's transaction `tx`; call it last, so the PostgreSQL lock is held briefly. */
export async function appendAudit(tx: Kysely<Database>, kind: 'sqlite' | 'postgres', input: AuditEntryInput, now: number): Promise<AuditEntry> {
  if (kind === 'postgres') await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_KEY})`.execute(tx);
  const head = headFromRow(await auditHead(tx).executeTakeFirst());
  const entry = sealEntry(input, head, new Date(now));
  await insertAuditEntry(tx, auditToRow(entry)).execute();
  return entry;
}

export class KyselyAuditStore implements Omit<AuditStore, 'append'> {
  constructor(private readonly db: Kysely<Database>) {}

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
