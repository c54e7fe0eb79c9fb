// Tokens good exactly once (ACME's replay nonces): in Redis when the deployment has it, so that a
// token put by one process can be taken in any other, in this process's memory otherwise.
import { RedisKeyspace } from '../queue/redis.js';

export interface OneTimeTokens {
  /** Remembers `token` of this `kind` for `ttlMs`. Fails (at once) while Redis is unreachable. */
  put(kind: string, token: string, ttlMs: number): Promise<void>;
  /** True exactly once for a token put under `kind` that has not expired. */
  take(kind: string, token: string): Promise<boolean>;
  close(): Promise<void>;
}

const MEMORY_LIMIT = 100_000;

export class MemoryOneTimeTokens implements OneTimeTokens {
  private readonly live = new Map<string, number>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  async put(kind: string, token: string, ttlMs: number): Promise<void> {
    if (this.live.size >= MEMORY_LIMIT) {
      // Oldest first (insertion order): whoever holds one that old is refused and asks again.
      for (const key of this.live.keys()) {
        this.live.delete(key);
        if (this.live.size < MEMORY_LIMIT / 2) break;
      }
    }
    this.live.set(`${kind}:${token}`, this.now() + ttlMs);
  }

  async take(kind: string, token: string): Promise<boolean> {
    const key = `${kind}:${token}`;
    const until = this.live.get(key);
    if (until === undefined) return false;
    this.live.delete(key);
    return until > this.now();
  }

  async close(): Promise<void> {}
}

/** Keys `<prefix>:<kind>:<token>`, expiring in Redis itself. */
export class RedisOneTimeTokens extends RedisKeyspace implements OneTimeTokens {
  constructor(redisUrl: string, prefix: string, onError: (message: string, error: Error) => void) {
    super(redisUrl, prefix, 'one-time token', onError);
  }

  async put(kind: string, token: string, ttlMs: number): Promise<void> {
    await this.client.set(this.key(kind, token), '1', { PX: ttlMs });
  }

  async take(kind: string, token: string): Promise<boolean> {
    return (await this.client.del(this.key(kind, token))) === 1;
  }
}
