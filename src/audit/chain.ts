// The audit trail's chain: how an entry is sealed (an HMAC over its fields and the link of the
// entry before, under a key derived from the master key), and how a walk over the stored entries
// tells an altered entry from a removed or a reordered one. A plain hash would let anyone with
// write access to the database change an entry and recompute every link after it; the key makes
// a rebuilt chain impossible without the master key. The sequence number orders entries but is
// not sealed: the links do the ordering, so an entry moved elsewhere still verifies on its own and
// is reported as out of place.
import { createHash, createHmac } from 'node:crypto';
import { deriveKey, equalText as sameHash } from '../auth/secrets.js';
import type { AuditEntry, AuditEntryInput } from '../core/types.js';

export const GENESIS_HASH = '0'.repeat(64);

/** The HKDF label of the chain key: a new label (v2) would start a new, incompatible chain. */
export const CHAIN_KEY_LABEL = 'certgate audit chain v1';

/** The key every link is an HMAC under. One master key, one chain key. */
export function chainKeyOf(masterKey: string): Buffer {
  return deriveKey(masterKey, CHAIN_KEY_LABEL);
}

/**
 * What a store seals with when it is opened without a key (only tests do that): anyone can
 * compute it, so `audit verify` under a deployment's real key rejects entries sealed with it.
 */
export const PUBLIC_TEST_CHAIN_KEY = chainKeyOf('certgate: no master key given, tests only');

/** The previous entry as the chain needs it: none before the first. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** JSON with object keys sorted at every depth, so a detail hashes the same however it was built. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

type Unsealed = Omit<AuditEntry, 'seq' | 'hash'>;

const sealedFields = (entry: Unsealed): string =>
  canonicalJson([entry.at.getTime(), entry.actor, entry.protocol, entry.sourceIp, entry.action, entry.target, entry.outcome, entry.detail, entry.prevHash]);

/** An entry's link: HMAC-SHA256 under the chain key over its fields, in a fixed order, and the link before it. */
export function entryHash(key: Buffer, entry: Unsealed): string {
  return createHmac('sha256', key).update(sealedFields(entry)).digest('hex');
}

/**
 * The link before the chain was keyed: a plain SHA-256 over the same fields. Kept only to
 * recognize a trail written before the upgrade (re-sealed once at start-up) and to name such an
 * entry in a report; it proves nothing, since anyone can compute it.
 */
export function legacyEntryHash(entry: Unsealed): string {
  return createHash('sha256').update(sealedFields(entry)).digest('hex');
}

/** The entry that follows `head` (undefined: the chain is empty). */
export function sealEntry(key: Buffer, input: AuditEntryInput, head: ChainHead | undefined, at: Date): AuditEntry {
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
  return { seq: (head?.seq ?? 0) + 1, ...unsealed, hash: entryHash(key, unsealed) };
}

export type ChainBreak =
  | { kind: 'altered'; seq: number; detail: string }
  | { kind: 'unkeyed'; seq: number; detail: string }
  | { kind: 'removed'; seq: number; detail: string }
  | { kind: 'reordered'; seq: number; detail: string };

export interface ChainReport {
  ok: boolean;
  /** Entries walked. */
  entries: number;
  /** The last entry's sequence number and hash: a signed checkpoint of them catches a cut-off tail. */
  head: ChainHead | null;
  /** The first problem, in sequence order. */
  broken?: ChainBreak;
}

/**
 * Walks the entries in sequence order and reports the first one that was altered, removed or
 * reordered. `seqOfHash` finds where an entry with a given hash is stored, to tell a link that
 * points elsewhere in the table (reordered) from one that points at nothing (removed).
 * `onEntry` sees each entry that verified (a checkpoint check looks for its own there).
 */
export async function verifyChain(
  key: Buffer,
  entries: AsyncIterable<AuditEntry>,
  seqOfHash: (hash: string) => Promise<number | undefined>,
  onEntry: (entry: AuditEntry) => void = () => undefined,
): Promise<ChainReport> {
  let previous: ChainHead | null = null;
  let count = 0;
  for await (const entry of entries) {
    count++;
    const report = (broken: ChainBreak): ChainReport => ({ ok: false, entries: count, head: previous, broken });
    if (!sameHash(entryHash(key, entry), entry.hash)) {
      // A link anyone can compute is not evidence: say so, rather than call it a mere edit.
      if (sameHash(legacyEntryHash(entry), entry.hash)) {
        return report({
          kind: 'unkeyed',
          seq: entry.seq,
          detail: `entry ${entry.seq} is sealed with a plain hash, not under this deployment's audit key: anyone with write access to the database could have written it`,
        });
      }
      return report({ kind: 'altered', seq: entry.seq, detail: `entry ${entry.seq} was altered: its content no longer matches its seal under this deployment's audit key` });
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
    onEntry(entry);
    previous = { seq: entry.seq, hash: entry.hash };
  }
  return { ok: true, entries: count, head: previous };
}

/**
 * How a stored trail stands for `audit reseal`. `keyed`: every entry is sealed under the key (or
 * there is none: `empty`), nothing to do. `legacy`: it starts with an intact plain SHA-256 chain
 * (a trail written before the key), perhaps followed by keyed entries linked to it: safe to
 * re-seal. `broken`: neither, left for `audit verify` to report.
 */
export type ChainState = 'empty' | 'keyed' | 'legacy' | 'broken';

/** The walk `audit reseal` makes first, page by page: plain links, then only keyed ones. */
export class LegacyWalk {
  legacy = 0;
  keyed = 0;
  broken = false;
  private last = GENESIS_HASH;

  constructor(private readonly key: Buffer) {}

  take(page: readonly AuditEntry[]): void {
    for (const e of page) {
      if (this.broken) return;
      if (e.prevHash !== this.last) this.broken = true;
      else if (this.keyed === 0 && sameHash(legacyEntryHash(e), e.hash)) this.legacy++;
      else if (sameHash(entryHash(this.key, e), e.hash)) this.keyed++;
      else this.broken = true;
      this.last = e.hash;
    }
  }

  get state(): ChainState {
    if (this.broken) return 'broken';
    if (this.legacy + this.keyed === 0) return 'empty';
    return this.legacy > 0 ? 'legacy' : 'keyed';
  }
}

/** Whether the first entry of a trail is sealed with a plain hash: a trail from before the key, waiting for `audit reseal`. */
export function isUnkeyed(key: Buffer, first: AuditEntry | undefined): boolean {
  return !!first && !sameHash(entryHash(key, first), first.hash) && sameHash(legacyEntryHash(first), first.hash);
}

/** For a check of the master key: is this entry sealed under `key`? */
export function sealedUnder(key: Buffer, entry: AuditEntry): boolean {
  return sameHash(entryHash(key, entry), entry.hash);
}

/** The keyed links of `page` (after the keyed link `previous`), in order. */
export function resealPage(key: Buffer, previous: string, page: readonly AuditEntry[]): { seq: number; prevHash: string; hash: string }[] {
  let last = previous;
  return page.map((e) => {
    const hash = entryHash(key, { ...e, prevHash: last });
    const out = { seq: e.seq, prevHash: last, hash };
    last = hash;
    return out;
  });
}
