// The domain registry as the rest of the house uses it: REST and the CLI manage records, the worker
// asks whether a request's names are covered (products with dcv: required), ACME reuses and records
// validations. Implemented by DomainService (domainService.ts); validations run on the queue through
// src/dcv, the same validator ACME uses.
import type { AuditContext, DcvMethod, DcvPolicy, DomainRecord, DomainStatus, EnrollmentRequest, Holder } from './types.js';

export interface DomainListFilter {
  /** Records of these holders only; '*': every record (an admin). */
  holders: '*' | Holder[];
  status?: DomainStatus;
  /** Exact name, or a suffix match when it starts with '.'. */
  name?: string;
  limit: number;
  /** Cursor: the last id of the previous page. */
  after?: string;
}

/** Where a requester's validations are looked for: its credential's holders, its own, and everyone's. */
export interface HolderSource {
  credentialId: string | null;
  requester: string;
}

/** One name of a request and what stands between it and issuance. */
export interface NameCoverage {
  name: string;
  /** The record whose validation covers it now, or null. */
  coveredBy: DomainRecord | null;
}

/** What a request waiting on DCV shows per name (GET /v1/requests/:id/dcv). */
export interface RequestDcvEntry {
  name: string;
  domain: DomainRecord;
  /** Whether the domain's validation covers this name for the request's product now. */
  covered: boolean;
}

export interface DomainRegistry {
  /** Adds a record for `name` held by `holder` (idempotent on name and holder: the existing one is returned). */
  add(input: { name: string; holder: Holder; createdBy: string; source?: DomainRecord['source'] }, by: AuditContext): Promise<{ domain: DomainRecord; created: boolean }>;
  get(id: string): Promise<DomainRecord | undefined>;
  list(filter: DomainListFilter): Promise<DomainRecord[]>;
  /** Removes the record (and the links of requests waiting on it); false when there was none. */
  remove(id: string, by: AuditContext): Promise<boolean>;
  /**
   * Queues a check of the record by `method` (default: its last one, else http-01; a wildcard
   * needs dns-01) and returns it `validating`. The outcome is audited (domain.validate), a failure
   * also sent as dcv.failed, and requests waiting on it are resumed once all their names are covered.
   */
  validate(id: string, method: DcvMethod | undefined, by: AuditContext): Promise<DomainRecord>;
  /** Waits (at most timeoutMs) for a queued check of the record to end; returns the record as it then is. */
  waitForValidation(id: string, timeoutMs: number): Promise<DomainRecord | undefined>;

  /** The holders whose records cover a requester: its credential's user, group and id, itself, and '*'. */
  holdersOf(source: HolderSource): Promise<Holder[]>;
  /** The holder a new record for this requester gets: its credential's group, else user, else credential, else `requester:<principal>`. */
  holderFor(source: HolderSource): Promise<Holder>;
  /**
   * Per name, the record whose validation covers it under `policy` now (validated within
   * min(policy.reuseDays, the deployment's maximum), of one of `holders`; a name under a validated
   * domain when policy.subdomains; a wildcard only by a dns-01 validation).
   */
  coverage(names: readonly string[], holders: readonly Holder[], policy: DcvPolicy): Promise<NameCoverage[]>;
  /**
   * The worker's say for a request under a product with dcv: required: ok when every name is
   * covered; otherwise records (or finds) a domain for each uncovered name under the requester's
   * holder, links the request to them, and answers pending with a sentence for the request's reason.
   */
  checkRequest(request: EnrollmentRequest, names: readonly string[], policy: DcvPolicy): Promise<{ ok: true } | { ok: 'pending'; detail: string }>;
  /** The names a request waits on (or waited on), with their records. */
  ofRequest(request: EnrollmentRequest, policy: DcvPolicy): Promise<RequestDcvEntry[]>;
  /**
   * A validation proved elsewhere (an ACME authorization that became valid): recorded under
   * `holder` as valid at `validatedAt`, so that other protocols reuse it within the window.
   */
  recordValidation(input: { name: string; wildcard: boolean; method: DcvMethod; holder: Holder; validatedAt: Date; createdBy: string }, by: AuditContext): Promise<DomainRecord>;
}
