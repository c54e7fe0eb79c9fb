// The audit trail as callers write and read it.

/** `failure`: an attempt that ran and did not succeed (a domain validation that found the wrong token). */
export type AuditOutcome = 'success' | 'refused' | 'failure';

/** What a caller says about one change; the store adds the sequence number, time and hashes. */
export interface AuditEntryInput {
  /** A credential id, `cli`, or `system` (the worker, on its own decisions). */
  actor: string;
  protocol: string;
  sourceIp: string | null;
  action: string;
  /** What changed: a request, certificate, credential, CA or product id (or, for a refused login, what was presented). */
  target: string;
  outcome: AuditOutcome;
  /** Anything else worth keeping, never a secret. */
  detail?: Record<string, unknown>;
}

export interface AuditEntry extends Required<AuditEntryInput> {
  seq: number;
  at: Date;
  /** SHA-256 (hex) of the entry before (64 zeros for the first). */
  prevHash: string;
  /** SHA-256 (hex) over this entry's fields and prevHash. */
  hash: string;
}

/** Who is acting, from where: what every audited call takes. */
export interface AuditContext {
  actor: string;
  protocol: string;
  sourceIp: string | null;
}

export interface AuditFilter {
  from?: Date;
  to?: Date;
  actor?: string;
  action?: string;
  target?: string;
  /** Any of these targets (a certificate's history: its id and its request's). */
  targets?: string[];
  /** Only these actions (a certificate's history as a non-admin reads it). */
  actions?: readonly string[];
  outcome?: string;
}

/** Reading the audit trail; every write to it goes with the change it records (see the store). */
export interface AuditReader {
  /** Newest first, with the number of entries the filter matches. */
  list(filter: AuditFilter, page: { limit: number; offset: number }): Promise<{ entries: AuditEntry[]; total: number }>;
  /** In chain order: up to `limit` entries after sequence number `seq`. */
  after(seq: number, limit: number, filter?: AuditFilter): Promise<AuditEntry[]>;
  /** Where the entry with this hash is stored. */
  seqOfHash(hash: string): Promise<number | undefined>;
  /** Walks the whole chain under the deployment's audit key (see audit/chain.ts). */
  verify(): Promise<{ ok: boolean; entries: number; head: { seq: number; hash: string } | null; broken?: { kind: string; seq: number; detail: string } }>;
}
