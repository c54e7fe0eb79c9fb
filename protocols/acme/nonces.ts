// Replay nonces (RFC 8555 §6.5): single use, kept by the core's one-time tokens (shared by every
// API process through Redis when the deployment has it).
import { randomBytes } from 'node:crypto';
import type { OneTimeTokens } from '../../src/core/oneTimeTokens.js';

const NONCE_TTL_MS = 60 * 60_000;
/** The key under which the tokens are kept (in Redis `<prefix>:acme-nonce:<nonce>`, as before). */
const KIND = 'acme-nonce';

export interface NonceStore {
  issue(): Promise<string>;
  /** True exactly once for a nonce this deployment issued and nobody used yet. */
  consume(nonce: string): Promise<boolean>;
}

export class Nonces implements NonceStore {
  constructor(private readonly tokens: OneTimeTokens) {}

  /** Fails while the shared token store is unreachable: a request then gets 503, and no nonce. */
  async issue(): Promise<string> {
    const nonce = randomBytes(16).toString('base64url');
    await this.tokens.put(KIND, nonce, NONCE_TTL_MS);
    return nonce;
  }

  async consume(nonce: string): Promise<boolean> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(nonce)) return false;
    return this.tokens.take(KIND, nonce);
  }
}
