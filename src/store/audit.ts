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
import { firstRecord } from './rows.js';
import { realTimeMs } from './clock.js';

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
 * What a walk over the whole trail asks of the one running it: the page of entries after `seq`
 * (answered with that page), or one link rewritten. The walks are written once, as generators,
 * and run by two thin runners: on Kysely (awaiting each step) and on the SQLite batch (synchronously).
 */
export type TrailStep = { readonly pageAfter: number } | { readonly relink: { seq: number; prevHash: string; hash: string } };
type TrailWalk<T> = Generator<TrailStep, T, readonly AuditEntry[] | undefined>;

/** Every link of the trail again under `key`, in sequence order, page by page; returns how many. */
function* resealSteps(key: Buffer): TrailWalk<number> {
  let link = GENESIS_HASH;
  let count = 0;
  for (let seq = 0; ; ) {
    const page = (yield { pageAfter: seq }) as readonly AuditEntry[];
    for (const r of resealPage(key, link, page)) {
      yield { relink: r };
      link = r.hash;
      count++;
    }
    if (page.length < AUDIT_PAGE) return count;
    seq = (page.at(-1) as AuditEntry).seq;
  }
}

/**
 * Store.audit.upgradeChain: when the whole trail is sealed with plain hashes (or starts so),
 * reseal it under `key`; returns the outcome and, when it resealed, the entry that records it
 * (the runner appends it, in the same transaction).
 */
export function* chainUpgradeSteps(key: Buffer): TrailWalk<{ upgrade: ChainUpgrade; entry?: AuditEntryInput }> {
  const walk = new LegacyWalk(key);
  let head: ChainHead | undefined;
  for (let seq = 0; !walk.broken; ) {
    const page = (yield { pageAfter: seq }) as readonly AuditEntry[];
    walk.take(page);
    if (page.length > 0) head = { seq: (page.at(-1) as AuditEntry).seq, hash: (page.at(-1) as AuditEntry).hash };
    if (page.length < AUDIT_PAGE) break;
    seq = (page.at(-1) as AuditEntry).seq;
  }
  const state = walk.state;
  if (state !== 'legacy' || !head) return { upgrade: { state, resealed: 0 } };
  const resealed = yield* resealSteps(key);
  return { upgrade: { state, resealed }, entry: chainKeyedEntry(resealed, walk.legacy, head) };
}

/** Runs a trail walk inside the Kysely transaction `tx`. */
async function runOnKysely<T>(tx: Kysely<Database>, walk: TrailWalk<T>): Promise<T> {
  for (let step = walk.next(); ; ) {
    if (step.done) return step.value;
    if ('pageAfter' in step.value) {
      step = walk.next((await pageAfter(tx, step.value.pageAfter).execute()).map(auditFromRow));
    } else {
      const r = step.value.relink;
      await tx.updateTable('audit_log').set({ prev_hash: r.prevHash, hash: r.hash }).where('seq', '=', r.seq).execute();
      step = walk.next(undefined);
    }
  }
}

/** Runs a trail walk synchronously: `read` answers pageAfter, `relink` rewrites one link. */
export function runSynchronously<T>(walk: TrailWalk<T>, read: (seq: number) => readonly AuditEntry[], relink: (seq: number, prevHash: string, hash: string) => void): T {
  for (let step = walk.next(); ; ) {
    if (step.done) return step.value;
    if ('pageAfter' in step.value) {
      step = walk.next(read(step.value.pageAfter));
    } else {
      const r = step.value.relink;
      relink(r.seq, r.prevHash, r.hash);
      step = walk.next(undefined);
    }
  }
}

/**
 * Every link of the trail again, under `key`, in sequence order and page by page inside `tx`
 * (the caller holds the audit lock): `audit reseal` and `master-key rotate`. Returns how many.
 */
export function resealTrail(tx: Kysely<Database>, key: Buffer): Promise<number> {
  return runOnKysely(tx, resealSteps(key));
}

/** upgradeChain on Kysely (PostgreSQL; SQLite opened as a KyselyStore), under the audit lock. */
export async function upgradeChainKysely(
  transaction: <T>(fn: (tx: Kysely<Database>) => Promise<T>) => Promise<T>,
  kind: 'sqlite' | 'postgres',
  key: Buffer,
  now: () => number = realTimeMs,
): Promise<ChainUpgrade> {
  return transaction(async (tx) => {
    if (kind === 'postgres') await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_KEY})`.execute(tx);
    const { upgrade, entry } = await runOnKysely(tx, chainUpgradeSteps(key));
    if (entry) await appendAudit(tx, kind, key, entry, now());
    return upgrade;
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
    return firstRecord(this.db.selectFrom('audit_log').selectAll().orderBy('seq', 'desc').limit(1), auditFromRow);
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
    if (filter.targets) q = filter.targets.length ? q.where('target', 'in', filter.targets) : q.where(sql<boolean>`1 = 0`);
    if (filter.actions) q = filter.actions.length ? q.where('action', 'in', [...filter.actions]) : q.where(sql<boolean>`1 = 0`);
    if (filter.outcome) q = q.where('outcome', '=', filter.outcome);
    return q;
  }
}
