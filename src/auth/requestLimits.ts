// Per-credential limits on requests and issuance, counted in fixed windows on the shared
// RateCounter (Redis when the deployment has it, so every process sees one count). One place
// counts for every door: REST's middleware, SCEP's challenge minting (a REST credential past its
// 429 must not get a SCEP challenge instead) and the core's issuance limits for ACME, EST and SCEP.
import { AUDIT } from '../audit/actions.js';
import { rateLimited } from '../core/errors.js';
import { secondsUntil, type RateCounter } from '../core/rateCounter.js';
import type { AuditContext, AuditEntryInput } from '../core/types.js';
import { NO_METRICS, type Metrics } from '../metrics/types.js';

export interface Limit {
  /** Names the count, together with the subject: `all`, `issue`, `issue-hour`, ... */
  bucket: string;
  /** At most this many in a window; 0 or less: no limit. */
  limit: number;
  windowMs: number;
  /** What is counted, for the refusal: "issuances a minute for this credential". */
  what: string;
}

export interface LimitRefusal {
  limit: Limit;
  retryAfterSeconds: number;
}

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

/** The REST credential's subject: REST's middleware and SCEP's challenge minting count on the same one. */
export const restSubject = (credentialId: string): string => `c:${credentialId}`;

/** REST's limits: every request, and issuance (or anything that leads to it) on a lower limit of its own. */
export function restLimits(config: { rateLimitPerMinute: number; issueRateLimitPerMinute: number }, issuing: boolean): Limit[] {
  const limits: Limit[] = [{ bucket: 'all', limit: config.rateLimitPerMinute, windowMs: MINUTE_MS, what: 'requests a minute for this credential' }];
  if (issuing) limits.push({ bucket: 'issue', limit: config.issueRateLimitPerMinute, windowMs: MINUTE_MS, what: 'issuances and renewals a minute for this credential' });
  return limits;
}

export class RequestLimits {
  constructor(
    private readonly counter: RateCounter,
    private readonly audit: (entry: AuditEntryInput) => Promise<unknown>,
    private readonly metrics: Metrics = NO_METRICS,
  ) {}

  /**
   * Counts one hit on every limit of `subject` and answers the first one exceeded, if any. The
   * first refusal of a window is audited; the rest of that window's are not, so a caller
   * hammering past its limit cannot grow the audit trail (the counter knows how many there were).
   */
  async count(subject: string, limits: readonly Limit[], by: AuditContext): Promise<LimitRefusal | null> {
    for (const limit of limits) {
      if (limit.limit <= 0) continue;
      const { count, resetAt } = await this.counter.hit(`${subject}:${limit.bucket}`, limit.windowMs);
      if (count <= limit.limit) continue;
      const retryAfterSeconds = secondsUntil(resetAt);
      this.metrics.rateLimited(by.protocol, limit.bucket);
      if (count === limit.limit + 1) {
        await this.audit({
          ...by,
          action: AUDIT.rateLimited,
          target: subject.slice(0, 200),
          outcome: 'refused',
          detail: { bucket: limit.bucket, limit: limit.limit, windowSeconds: limit.windowMs / 1000, retryAfterSeconds, note: 'later refusals in this window are not recorded one by one' },
        });
      }
      return { limit, retryAfterSeconds };
    }
    return null;
  }

  /** count(), throwing the core's rate_limited error (each protocol renders its own 429 form). */
  async enforce(subject: string, limits: readonly Limit[], by: AuditContext): Promise<void> {
    const refusal = await this.count(subject, limits, by);
    if (refusal) throw rateLimited(limitMessage(refusal), refusal.retryAfterSeconds);
  }
}

export const limitMessage = (refusal: LimitRefusal): string => `rate limit exceeded: at most ${refusal.limit.limit} ${refusal.limit.what}`;
