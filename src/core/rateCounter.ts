// Fixed-window counters for rate limits: in Redis when the deployment has it (every process sees
// the same count), in memory otherwise (one process, the embedded default).
import { RedisKeyspace } from '../queue/redis.js';

export interface RateCounter {
  /** Counts one hit on `key` in the current window and returns the count so far and when the window ends. */
  hit(key: string, windowMs: number): Promise<{ count: number; resetAt: number }>;
  /** The count on `key` in the current window, without counting: for a check that must not itself cost. */
  peek(key: string, windowMs: number): Promise<{ count: number; resetAt: number }>;
  close(): Promise<void>;
}

/** What a refusal's Retry-After says: whole seconds until the window ends, at least one. */
export const secondsUntil = (resetAt: number): number => Math.max(1, Math.ceil((resetAt - Date.now()) / 1000));

const windowOf = (windowMs: number, now: number) => {
  const start = Math.floor(now / windowMs) * windowMs;
  return { start, resetAt: start + windowMs };
};

export class MemoryRateCounter implements RateCounter {
  private readonly counts = new Map<string, { count: number; resetAt: number }>();
  private sweepAt = 0;

  /** `now`: the deployment's clock, so that tests can pass a window without waiting for it. */
  constructor(private readonly now: () => number = () => Date.now()) {}

  async hit(key: string, windowMs: number): Promise<{ count: number; resetAt: number }> {
    const now = this.now();
    if (now >= this.sweepAt) {
      for (const [k, v] of this.counts) if (v.resetAt <= now) this.counts.delete(k);
      this.sweepAt = now + windowMs;
    }
    const { resetAt } = windowOf(windowMs, now);
    const entry = this.counts.get(key);
    if (!entry || entry.resetAt !== resetAt) {
      this.counts.set(key, { count: 1, resetAt });
      return { count: 1, resetAt };
    }
    entry.count++;
    return { count: entry.count, resetAt };
  }

  async peek(key: string, windowMs: number): Promise<{ count: number; resetAt: number }> {
    const { resetAt } = windowOf(windowMs, this.now());
    const entry = this.counts.get(key);
    return { count: entry && entry.resetAt === resetAt ? entry.count : 0, resetAt };
  }

  async close(): Promise<void> {}
}

/**
 * A counter Redis cannot be asked about counts nothing: a rate limit is not worth refusing every
 * request while Redis is away (the store and queue already answer 503 when it matters).
 */
export class RedisRateCounter extends RedisKeyspace implements RateCounter {
  constructor(redisUrl: string, prefix: string, onError: (message: string, error: Error) => void) {
    super(redisUrl, prefix, 'rate-limit', onError);
  }

  async hit(key: string, windowMs: number): Promise<{ count: number; resetAt: number }> {
    const { start, resetAt } = windowOf(windowMs, Date.now());
    if (!this.client.isReady) return { count: 0, resetAt };
    const redisKey = this.key('ratelimit', key, start);
    try {
      const [count] = (await this.client.multi().incr(redisKey).pExpire(redisKey, windowMs + 1_000).exec()) as unknown as [number];
      return { count: Number(count), resetAt };
    } catch {
      return { count: 0, resetAt };
    }
  }

  async peek(key: string, windowMs: number): Promise<{ count: number; resetAt: number }> {
    const { start, resetAt } = windowOf(windowMs, Date.now());
    if (!this.client.isReady) return { count: 0, resetAt };
    try {
      return { count: Number((await this.client.get(this.key('ratelimit', key, start))) ?? 0), resetAt };
    } catch {
      return { count: 0, resetAt };
    }
  }
}
