// How credential secrets are kept: a SHA-256 hash where we only ever compare, and AES-256-GCM
// under a key derived from the master key where the protocol needs the secret itself (an ACME EAB
// HMAC key, a SCEP challenge the operator hands to an MDM). What each secret is, its kind makes.
import { createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SecretBox } from './envelope.js';

/** A REST API key: cg_<credential id, 16 hex>_<secret, 43 base64url chars = 256 bits>. */
const API_KEY = /^cg_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export const newCredentialId = (): string => randomBytes(8).toString('hex');

export function parseApiKey(token: string): { id: string; secret: string } | null {
  const m = API_KEY.exec(token);
  return m ? { id: m[1] as string, secret: m[2] as string } : null;
}

export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Keys for what the master key protects besides CA keys, one per purpose. */
export function deriveKey(masterKey: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, 'certgate', purpose, 32));
}

/**
 * How a kind keeps its secret: `hashed` (SHA-256) where it is only ever compared (256 random bits,
 * so a slow hash buys nothing); `sealed` under the master key where its protocol needs the secret
 * itself. The kinds (credentialKinds.ts) say which; the secret never leaves the core unsealed.
 */
export type SecretStorage = 'hashed' | 'sealed';

/** What is stored for a credential's secret. */
export function storedSecret(storage: SecretStorage, secret: string, id: string, box: SecretBox): string {
  return storage === 'hashed' ? sha256Hex(secret) : box.seal(secret, id);
}

/** Constant-time: does the presented secret match what is stored for this credential? */
export function secretMatches(storage: SecretStorage, stored: string, presented: string, id: string, box: SecretBox): boolean {
  if (storage === 'hashed') return equalText(sha256Hex(presented), stored);
  const plain = box.open(stored, id);
  return plain !== null && equalText(sha256Hex(presented), sha256Hex(plain));
}

/** Constant-time equality of two strings (hashes, links, keys): no early exit tells how much matched. */
export function equalText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
