// CA private keys at rest: AES-256-GCM under a key derived with scrypt from the master key, or
// from a per-CA passphrase. The envelope is JSON so its parameters can change without a migration.
import { createCipheriv, createDecipheriv, createPrivateKey, randomBytes, scryptSync, type KeyObject } from 'node:crypto';

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

export class KeyProtectionError extends Error {
  override readonly name = 'KeyProtectionError';
}

export function encryptPrivateKey(key: KeyObject, secret: string, kind: 'master' | 'passphrase'): string {
  if (!secret) throw new KeyProtectionError('an empty secret cannot protect a CA key');
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const kek = scryptSync(secret, salt, 32, SCRYPT);
  const cipher = createCipheriv('aes-256-gcm', kek, iv);
  cipher.setAAD(Buffer.from(`certgate-ca-key:${kind}`));
  const pkcs8 = key.export({ format: 'der', type: 'pkcs8' });
  const ct = Buffer.concat([cipher.update(pkcs8), cipher.final()]);
  const env: Envelope = {
    v: 1,
    kdf: 'scrypt',
    secret: kind,
    n: SCRYPT.N,
    r: SCRYPT.r,
    p: SCRYPT.p,
    salt: salt.toString('base64'),
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ct: ct.toString('base64'),
  };
  return JSON.stringify(env);
}

export function envelopeSecretKind(envelope: string): 'master' | 'passphrase' {
  return (JSON.parse(envelope) as Envelope).secret;
}

export function decryptPrivateKey(envelope: string, secret: string): KeyObject {
  const env = JSON.parse(envelope) as Envelope;
  if (env.v !== 1 || env.kdf !== 'scrypt') throw new KeyProtectionError('unknown key envelope version');
  const kek = scryptSync(secret, Buffer.from(env.salt, 'base64'), 32, { N: env.n, r: env.r, p: env.p, maxmem: SCRYPT.maxmem });
  const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(env.iv, 'base64'));
  decipher.setAAD(Buffer.from(`certgate-ca-key:${env.secret}`));
  decipher.setAuthTag(Buffer.from(env.tag, 'base64'));
  let pkcs8: Buffer;
  try {
    pkcs8 = Buffer.concat([decipher.update(Buffer.from(env.ct, 'base64')), decipher.final()]);
  } catch {
    throw new KeyProtectionError(`wrong ${env.secret === 'master' ? 'master key' : 'CA passphrase'}: the CA key cannot be decrypted`);
  }
  return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
}
