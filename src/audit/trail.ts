// Reading the audit trail in chain order: the walk `audit verify` and `audit export` make.
import type { AuditEntry, AuditFilter, AuditReader } from '../core/types.js';
import { verifyChain, type ChainReport } from './chain.js';

const PAGE = 1000;

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

export function verifyTrail(audit: Pick<AuditReader, 'after' | 'seqOfHash'>): Promise<ChainReport> {
  return verifyChain(entriesInOrder(audit), (hash) => audit.seqOfHash(hash));
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
