// CA private keys at rest: AES-256-GCM under a key derived with scrypt from the master key, or
// from a per-CA passphrase. The envelope is JSON so its parameters can change without a migration.
import { createPrivateKey, randomBytes, scryptSync, type KeyObject } from 'node:crypto';
import { gcmOpen, gcmSeal } from '../auth/envelope.js';

interface Envelope {
  v: 1;
  kdf: 'scrypt';
  /** Which secret unlocks it; a passphrase-protected key cannot be opened with the master key. */
  secret: 'master' | 'passphrase';
  n: number;
  r: number;
  p: number;
  salt: string;
  iv: string;
  tag: string;
  ct: string;
}

const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

/** The secret's kind is authenticated: a master-key envelope relabelled as a passphrase one does not open. */
const aadOf = (kind: 'master' | 'passphrase'): string => `certgate-ca-key:${kind}`;

export class KeyProtectionError extends Error {
  override readonly name = 'KeyProtectionError';
}

export function encryptPrivateKey(key: KeyObject, secret: string, kind: 'master' | 'passphrase'): string {
  if (!secret) throw new KeyProtectionError('an empty secret cannot protect a CA key');
  const salt = randomBytes(16);
  const kek = scryptSync(secret, salt, 32, SCRYPT);
  const { iv, ct, tag } = gcmSeal(kek, key.export({ format: 'der', type: 'pkcs8' }), aadOf(kind));
  const env: Envelope = {
    v: 1,
    kdf: 'scrypt',
    secret: kind,
    n: SCRYPT.N,
    r: SCRYPT.r,
    p: SCRYPT.p,
    salt: salt.toString('base64'),
    iv: iv.toString('base64'),
    tag: tag.toString('base64'),
    ct: ct.toString('base64'),
  };
  return JSON.stringify(env);
}

/** Which secret opens a sealed key; null when certgate holds no key (a CA whose key is in a token). */
export function envelopeSecretKind(envelope: string | null): 'master' | 'passphrase' | null {
  // The store keeps '' for a CA whose key certgate does not hold.
  return envelope === null || envelope === '' ? null : (JSON.parse(envelope) as Envelope).secret;
}

export function decryptPrivateKey(envelope: string, secret: string): KeyObject {
  const env = JSON.parse(envelope) as Envelope;
  if (env.v !== 1 || env.kdf !== 'scrypt') throw new KeyProtectionError('unknown key envelope version');
  const kek = scryptSync(secret, Buffer.from(env.salt, 'base64'), 32, { N: env.n, r: env.r, p: env.p, maxmem: SCRYPT.maxmem });
  const pkcs8 = gcmOpen(kek, { iv: Buffer.from(env.iv, 'base64'), ct: Buffer.from(env.ct, 'base64'), tag: Buffer.from(env.tag, 'base64') }, aadOf(env.secret));
  if (!pkcs8) throw new KeyProtectionError(`wrong ${env.secret === 'master' ? 'master key' : 'CA passphrase'}: the CA key cannot be decrypted`);
  return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
}
