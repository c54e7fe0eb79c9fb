// Failed logins cost the one who fails. Counted per source address and per claimed identity on
// the shared RateCounter (so every process, through Redis, sees one count): a few failures are
// answered at once, each one more waits twice as long, and past a maximum every login from that
// source or for that identity is refused until the window ends, the right secret included (else
// a guesser would learn from a success that slipped through). Refusals reach the audit trail once
// per window, source and reason, then as one entry with their count: a flood cannot grow the trail.
import { AUDIT } from '../audit/actions.js';
import { secondsUntil, type RateCounter } from '../core/rateCounter.js';
import type { AuditEntryInput } from '../core/types.js';

export interface LoginThrottleSettings {
  windowMs: number;
  /** Failures answered without delay. */
  failuresBeforeDelay: number;
  delayMaxMs: number;
  /** Failures per source address, then refusal until the window ends (0: no limit). */
  maxPerSource: number;
  /** Failures per claimed identity, then refusal (0: no limit). */
  maxPerIdentity: number;
}

/** The first failure past the free ones waits this long; each one more twice as long. */
const FIRST_DELAY_MS = 100;

export type ThrottleVerdict = { throttled: false } | { throttled: true; retryAfterSeconds: number; by: 'source' | 'identity' };

const sourceKey = (sourceIp: string | null): string => `login:ip:${sourceIp ?? 'unknown'}`;
const identityKey = (identity: string): string => `login:id:${identity}`;

export class LoginThrottle {
  constructor(
    private readonly counter: RateCounter,
    private readonly settings: LoginThrottleSettings,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  /**
   * Before a secret is checked: whether this source or identity has failed too often in this
   * window. Reads only, so a caller who logs in right pays no more than a lookup.
   */
  async check(sourceIp: string | null, identity: string | null): Promise<ThrottleVerdict> {
    const { windowMs, maxPerSource, maxPerIdentity } = this.settings;
    const [source, claimed] = await Promise.all([
      maxPerSource > 0 ? this.counter.peek(sourceKey(sourceIp), windowMs) : null,
      maxPerIdentity > 0 && identity !== null ? this.counter.peek(identityKey(identity), windowMs) : null,
    ]);
    if (source && source.count >= maxPerSource) return { throttled: true, retryAfterSeconds: secondsUntil(source.resetAt), by: 'source' };
    if (claimed && claimed.count >= maxPerIdentity) return { throttled: true, retryAfterSeconds: secondsUntil(claimed.resetAt), by: 'identity' };
    return { throttled: false };
  }

  /**
   * After a failed check: counts it against the source and the identity, then holds the answer
   * back by the exponential delay their counts call for.
   */
  async failed(sourceIp: string | null, identity: string | null): Promise<void> {
    const { windowMs } = this.settings;
    const [source, claimed] = await Promise.all([
      this.counter.hit(sourceKey(sourceIp), windowMs),
      identity !== null ? this.counter.hit(identityKey(identity), windowMs) : null,
    ]);
    const delay = this.delayFor(Math.max(source.count, claimed?.count ?? 0));
    if (delay > 0) await this.sleep(delay);
  }

  delayFor(failures: number): number {
    const over = failures - this.settings.failuresBeforeDelay;
    if (over <= 0) return 0;
    return Math.min(this.settings.delayMaxMs, FIRST_DELAY_MS * 2 ** Math.min(over - 1, 20));
  }
}

/** Distinct presented names a summary keeps, to show what a flood tried without growing without bound. */
const SUMMARY_SAMPLE = 5;
/** Tallies kept between flushes; more sources than this share one tally (their count is kept, not their address). */
const MAX_TALLIES = 10_000;

interface Tally {
  sourceIp: string | null;
  /** Stands for every source past MAX_TALLIES. */
  many: boolean;
  reason: string;
  protocols: Set<string>;
  targets: Set<string>;
  count: number;
  since: number;
}

/**
 * Writes a refused login to the audit trail when it is the first of its window for its source and
 * reason in any process (the shared counter says so); the others are tallied here and written as
 * one entry with their count when the window ends (and on close).
 */
export class RefusalAudit {
  private readonly tallies = new Map<string, Tally>();
  private readonly flusher: NodeJS.Timeout;

  constructor(
    private readonly counter: RateCounter,
    private readonly windowMs: number,
    private readonly append: (entry: AuditEntryInput) => Promise<unknown>,
    private readonly onError?: (message: string, error: Error) => void,
  ) {
    this.flusher = setInterval(() => void this.flush(), windowMs);
    this.flusher.unref();
  }

  async record(entry: AuditEntryInput): Promise<void> {
    const reason = String(entry.detail?.reason ?? 'unknown');
    const { count } = await this.counter.hit(`authaudit:${entry.sourceIp ?? 'unknown'}:${reason}`, this.windowMs);
    // 0: the counter cannot be asked (Redis away); a trail with too much beats one with a hole.
    if (count <= 1) {
      await this.append(entry);
      return;
    }
    let key = `${entry.sourceIp ?? 'unknown'}\n${reason}`;
    if (!this.tallies.has(key) && this.tallies.size >= MAX_TALLIES) key = `*\n${reason}`;
    let tally = this.tallies.get(key);
    if (!tally) {
      const many = key.startsWith('*\n');
      tally = { sourceIp: many ? null : entry.sourceIp, many, reason, protocols: new Set(), targets: new Set(), count: 0, since: Date.now() };
      this.tallies.set(key, tally);
    }
    tally.count++;
    tally.protocols.add(entry.protocol);
    if (tally.targets.size < SUMMARY_SAMPLE) tally.targets.add(entry.target);
  }

  /** One entry per tallied source and reason: how many refusals it stands for, and a sample of what was presented. */
  async flush(): Promise<void> {
    const tallies = [...this.tallies.values()];
    this.tallies.clear();
    for (const t of tallies) {
      try {
        await this.append({
          actor: 'unknown',
          protocol: [...t.protocols].join(',').slice(0, 100),
          sourceIp: t.sourceIp,
          action: AUDIT.authRefused,
          target: `source:${t.many ? 'many' : (t.sourceIp ?? 'unknown')}`,
          outcome: 'refused',
          detail: {
            reason: t.reason,
            count: t.count,
            summary: 'refusals after the first of their window, not recorded one by one',
            since: new Date(t.since).toISOString(),
            until: new Date().toISOString(),
            presented: [...t.targets],
          },
        });
      } catch (e) {
        this.onError?.('could not record a summary of refused logins', e as Error);
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.flusher);
    await this.flush();
  }
}
