// Tokens good exactly once (ACME's replay nonces) and tokens seen once (CMP's senderNonces): in
// Redis when the deployment has it, so that a token put by one process can be taken in any other,
// in this process's memory otherwise.
import { RedisKeyspace } from '../queue/redis.js';

export interface OneTimeTokens {
  /** Remembers `token` of this `kind` for `ttlMs`. Fails (at once) while Redis is unreachable. */
  put(kind: string, token: string, ttlMs: number): Promise<void>;
  /** True exactly once for a token put under `kind` that has not expired. */
  take(kind: string, token: string): Promise<boolean>;
  /**
   * Remembers `token` for `ttlMs` unless it is remembered already: true for the first claim only,
   * in one step (two processes claiming at once cannot both get true).
   */
  claim(kind: string, token: string, ttlMs: number): Promise<boolean>;
  /** Whether `token` is remembered under `kind` and has not expired; it stays remembered. */
  has(kind: string, token: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Per kind: one kind's tokens (ACME nonces anyone may ask for) never push out another's. */
const MEMORY_LIMIT = 100_000;

export class MemoryOneTimeTokens implements OneTimeTokens {
  private readonly kinds = new Map<string, Map<string, number>>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  private live(kind: string): Map<string, number> {
    let live = this.kinds.get(kind);
    if (!live) this.kinds.set(kind, (live = new Map()));
    return live;
  }

  async put(kind: string, token: string, ttlMs: number): Promise<void> {
    const live = this.live(kind);
    if (live.size >= MEMORY_LIMIT) {
      // Oldest first (insertion order): whoever holds one that old is refused and asks again.
      for (const key of live.keys()) {
        live.delete(key);
        if (live.size < MEMORY_LIMIT / 2) break;
      }
    }
    live.set(token, this.now() + ttlMs);
  }

  async take(kind: string, token: string): Promise<boolean> {
    const live = this.live(kind);
    const until = live.get(token);
    if (until === undefined) return false;
    live.delete(token);
    return until > this.now();
  }

  async claim(kind: string, token: string, ttlMs: number): Promise<boolean> {
    const until = this.live(kind).get(token);
    if (until !== undefined && until > this.now()) return false;
    await this.put(kind, token, ttlMs);
    return true;
  }

  async has(kind: string, token: string): Promise<boolean> {
    const until = this.live(kind).get(token);
    return until !== undefined && until > this.now();
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

  async claim(kind: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.client.set(this.key(kind, token), '1', { PX: ttlMs, NX: true })) === 'OK';
  }

  async has(kind: string, token: string): Promise<boolean> {
    return (await this.client.exists(this.key(kind, token))) === 1;
  }
}
