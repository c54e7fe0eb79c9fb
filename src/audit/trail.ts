// Reading the audit trail in chain order: the walk `audit verify` and `audit export` make.
import type { AuditEntry, AuditFilter, AuditReader } from '../core/types.js';
import { verifyChain, type ChainHead, type ChainReport } from './chain.js';
import { checkAgainst, type Checkpoint, type CheckpointBreak } from './checkpoint.js';

const PAGE = 1000;

/** A filter as a caller asks for it (times in ISO 8601), as the store takes it: REST's and MCP's. */
export function auditFilterOf(q: { from?: string | undefined; to?: string | undefined; actor?: string | undefined; action?: string | undefined; target?: string | undefined }): AuditFilter {
  return {
    ...(q.from ? { from: new Date(q.from) } : {}),
    ...(q.to ? { to: new Date(q.to) } : {}),
    ...(q.actor ? { actor: q.actor } : {}),
    ...(q.action ? { action: q.action } : {}),
    ...(q.target ? { target: q.target } : {}),
  };
}

/** Every entry (that the filter keeps), oldest first, read a page at a time. */
export async function* entriesInOrder(audit: Pick<AuditReader, 'after'>, filter: AuditFilter = {}): AsyncGenerator<AuditEntry> {
  let seq = 0;
  for (;;) {
    const page = await audit.after(seq, PAGE, filter);
    yield* page;
    if (page.length < PAGE) return;
    seq = (page[page.length - 1] as AuditEntry).seq;
  }
}

export interface TrailReport extends ChainReport {
  /** With a checkpoint: whether the trail still holds what it saw. */
  checkpoint?: { seq: number; at: string; ok: boolean; broken?: CheckpointBreak };
}

/** Walks the chain under `key`; with a checkpoint, also checks the trail still reaches it unchanged. */
export async function verifyTrail(audit: Pick<AuditReader, 'after' | 'seqOfHash'>, key: Buffer, checkpoint?: Checkpoint): Promise<TrailReport> {
  let atSeq: ChainHead | undefined;
  const report: TrailReport = await verifyChain(key, entriesInOrder(audit), (hash) => audit.seqOfHash(hash), (e) => {
    if (checkpoint && e.seq === checkpoint.seq) atSeq = { seq: e.seq, hash: e.hash };
  });
  if (!checkpoint) return report;
  // Only entries that verified count: a chain that breaks before the checkpoint's entry never reached it.
  const broken: CheckpointBreak | undefined =
    !report.ok && !atSeq && checkpoint.seq > 0
      ? { kind: 'rewritten', seq: checkpoint.seq, detail: `the chain breaks at entry ${report.broken?.seq}, before entry ${checkpoint.seq} that the checkpoint of ${checkpoint.at} saw` }
      : checkAgainst(checkpoint, atSeq, report.head);
  const checked = { seq: checkpoint.seq, at: checkpoint.at, ok: !broken, ...(broken ? { broken } : {}) };
  return { ...report, ok: report.ok && !broken, checkpoint: checked };
}

/** An entry as one line of the export and of GET /v1/audit. */
export function auditEntryJson(e: AuditEntry) {
  return {
    seq: e.seq,
    at: e.at.toISOString(),
    actor: e.actor,
    protocol: e.protocol,
    source_ip: e.sourceIp,
    action: e.action,
    target: e.target,
    outcome: e.outcome,
    detail: e.detail,
    prev_hash: e.prevHash,
    hash: e.hash,
  };
}
