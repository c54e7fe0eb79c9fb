// What each type of credential's secret is, how it is made, and how it is kept: a SHA-256 hash
// where we only ever compare (`rest`, `est`: 256 random bits, so a slow hash buys nothing), and
// AES-256-GCM under a key derived from the master key where the protocol needs the secret itself
// (`acme`: the EAB HMAC key; `scep`: the challenge the operator hands to an MDM).
import { createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CredentialType } from '../core/types.js';
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

/** What the holder is given once, and what is stored. */
export interface NewSecret {
  /** The whole secret as the holder uses it (a REST key is `cg_<id>_<secret>`). */
  shown: string;
  stored: string;
}

export function newSecret(type: CredentialType, id: string, box: SecretBox): NewSecret {
  switch (type) {
    case 'rest': {
      const secret = randomBytes(32).toString('base64url');
      return { shown: `cg_${id}_${secret}`, stored: sha256Hex(secret) };
    }
    case 'est': {
      const password = randomBytes(32).toString('base64url');
      return { shown: password, stored: sha256Hex(password) };
    }
    case 'acme': {
      // RFC 8555 §7.3.4: the CA gives the client a MAC key, base64url; HS256 wants 256 bits.
      const hmacKey = randomBytes(32).toString('base64url');
      return { shown: hmacKey, stored: box.seal(hmacKey, id) };
    }
    case 'scep': {
      // Hex: a challengePassword is often a PrintableString, which has no '_'.
      const challenge = randomBytes(16).toString('hex');
      return { shown: challenge, stored: box.seal(challenge, id) };
    }
  }
}

/** Constant-time: does the presented secret match what is stored for this credential? */
export function secretMatches(type: CredentialType, stored: string, presented: string, id: string, box: SecretBox): boolean {
  if (type === 'rest' || type === 'est') return equalText(sha256Hex(presented), stored);
  const plain = box.open(stored, id);
  return plain !== null && equalText(sha256Hex(presented), sha256Hex(plain));
}

/** Constant-time equality of two strings (hashes, links, keys): no early exit tells how much matched. */
export function equalText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
