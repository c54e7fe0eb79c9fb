// Replay nonces (RFC 8555 §6.5): single use, shared by every API process through Redis when the
// deployment has it, in this process's memory otherwise.
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';

const NONCE_TTL_MS = 60 * 60_000;
const MEMORY_LIMIT = 100_000;

export interface NonceStore {
  issue(): Promise<string>;
  /** True exactly once for a nonce this deployment issued and nobody used yet. */
  consume(nonce: string): Promise<boolean>;
  close(): Promise<void>;
}

const fresh = (): string => randomBytes(16).toString('base64url');

class MemoryNonces implements NonceStore {
  private readonly live = new Map<string, number>();

  async issue(): Promise<string> {
    const nonce = fresh();
    if (this.live.size >= MEMORY_LIMIT) {
      // Oldest first (insertion order): a client holding one that old gets badNonce and retries.
      for (const key of this.live.keys()) {
        this.live.delete(key);
        if (this.live.size < MEMORY_LIMIT / 2) break;
      }
    }
    this.live.set(nonce, Date.now() + NONCE_TTL_MS);
    return nonce;
  }

  async consume(nonce: string): Promise<boolean> {
    const until = this.live.get(nonce);
    if (until === undefined) return false;
    this.live.delete(nonce);
    return until > Date.now();
  }

  async close(): Promise<void> {}
}

class RedisNonces implements NonceStore {
  private readonly client;

  constructor(
    url: string,
    private readonly prefix: string,
    onError: (message: string, error: Error) => void,
  ) {
    this.client = createClient({ url });
    this.client.on('error', (e: Error) => onError('ACME nonce store (Redis)', e));
    this.client.connect().catch(() => undefined);
  }

  async issue(): Promise<string> {
    const nonce = fresh();
    await this.client.set(`${this.prefix}:acme-nonce:${nonce}`, '1', { PX: NONCE_TTL_MS });
    return nonce;
  }

  async consume(nonce: string): Promise<boolean> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(nonce)) return false;
    return (await this.client.del(`${this.prefix}:acme-nonce:${nonce}`)) === 1;
  }

  async close(): Promise<void> {
    if (this.client.isReady) await this.client.close().catch(() => this.client.destroy());
    else if (this.client.isOpen) this.client.destroy();
  }
}

export function createNonceStore(options: { redisUrl?: string; prefix: string; onError: (message: string, error: Error) => void }): NonceStore {
  return options.redisUrl ? new RedisNonces(options.redisUrl, options.prefix, options.onError) : new MemoryNonces();
}
