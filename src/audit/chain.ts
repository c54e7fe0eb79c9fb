// The audit trail's hash chain: how an entry is sealed (its hash over its fields and the hash of
// the entry before), and how a walk over the stored entries tells an altered entry from a removed
// or a reordered one. The sequence number orders entries but is not hashed: the links do the
// ordering, so an entry moved elsewhere still verifies on its own and is reported as out of place.
import { createHash } from 'node:crypto';
import type { AuditEntry, AuditEntryInput } from '../core/types.js';

export const GENESIS_HASH = '0'.repeat(64);

/** The previous entry as the chain needs it: none before the first. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** JSON with object keys sorted at every depth, so a detail hashes the same however it was built. */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The hash of an entry: SHA-256 over its fields, in a fixed order, and the hash before it. */
export function entryHash(entry: Omit<AuditEntry, 'seq' | 'hash'>): string {
  const fields = [
    entry.at.getTime(),
    entry.actor,
    entry.protocol,
    entry.sourceIp,
    entry.action,
    entry.target,
    entry.outcome,
    entry.detail,
    entry.prevHash,
  ];
  return createHash('sha256').update(canonicalJson(fields)).digest('hex');
}

/** The entry that follows `head` (undefined: the chain is empty). */
export function sealEntry(input: AuditEntryInput, head: ChainHead | undefined, at: Date): AuditEntry {
  // Through JSON, so the sealed detail is exactly what a read of the stored text gives back.
  const detail = JSON.parse(JSON.stringify(input.detail ?? {})) as Record<string, unknown>;
  const unsealed = {
    at,
    actor: input.actor,
    protocol: input.protocol,
    sourceIp: input.sourceIp,
    action: input.action,
    target: input.target,
    outcome: input.outcome,
    detail,
    prevHash: head?.hash ?? GENESIS_HASH,
  };
  return { seq: (head?.seq ?? 0) + 1, ...unsealed, hash: entryHash(unsealed) };
}

export type ChainBreak =
  | { kind: 'altered'; seq: number; detail: string }
  | { kind: 'removed'; seq: number; detail: string }
  | { kind: 'reordered'; seq: number; detail: string };

export interface ChainReport {
  ok: boolean;
  /** Entries walked. */
  entries: number;
  /** The last entry's sequence number and hash: keep them somewhere else to catch a cut-off tail. */
  head: ChainHead | null;
  /** The first problem, in sequence order. */
  broken?: ChainBreak;
}

/**
 * Walks the entries in sequence order and reports the first one that was altered, removed or
 * reordered. `seqOfHash` finds where an entry with a given hash is stored, to tell a link that
 * points elsewhere in the table (reordered) from one that points at nothing (removed).
 */
export async function verifyChain(
  entries: AsyncIterable<AuditEntry>,
  seqOfHash: (hash: string) => Promise<number | undefined>,
): Promise<ChainReport> {
  let previous: ChainHead | null = null;
  let count = 0;
  for await (const entry of entries) {
    count++;
    const report = (broken: ChainBreak): ChainReport => ({ ok: false, entries: count, head: previous, broken });
    if (entryHash(entry) !== entry.hash) {
      return report({ kind: 'altered', seq: entry.seq, detail: `entry ${entry.seq} was altered: its content no longer matches its hash` });
    }
    const expected = previous?.hash ?? GENESIS_HASH;
    if (entry.prevHash !== expected) {
      const pointsAt = entry.prevHash === GENESIS_HASH ? 0 : await seqOfHash(entry.prevHash);
      if (pointsAt !== undefined) {
        return report({
          kind: 'reordered',
          seq: entry.seq,
          detail: `entry ${entry.seq} is out of order: it was written after ${pointsAt === 0 ? 'nothing (it was the first)' : `entry ${pointsAt}`}, not after ${previous ? `entry ${previous.seq}` : 'nothing'}`,
        });
      }
      const missing = previous ? `between entries ${previous.seq} and ${entry.seq}` : `before entry ${entry.seq}`;
      return report({ kind: 'removed', seq: entry.seq, detail: `an entry ${missing} was removed (or its stored hash was changed)` });
    }
    previous = { seq: entry.seq, hash: entry.hash };
  }
  return { ok: true, entries: count, head: previous };
}
