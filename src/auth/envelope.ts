// AES-256-GCM, the one cipher certgate seals with at rest. Two stored encodings use it and must
// keep opening as they are: CA-style key envelopes (ca/keyProtection: JSON, a key from scrypt)
// and `v1.<iv>.<ciphertext>.<tag>` (below: a key derived per purpose from the master key).
// The authenticated data always names what the value belongs to, so one moved elsewhere does not open.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deriveKey } from './secrets.js';

/** What AES-256-GCM leaves: a fresh 96-bit IV, the ciphertext and the 128-bit tag. */
export interface GcmSealed {
  iv: Buffer;
  ct: Buffer;
  tag: Buffer;
}

export function gcmSeal(key: Buffer, plain: Buffer, aad: string | Buffer): GcmSealed {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
  return { iv, ct, tag: cipher.getAuthTag() };
}

/** Null when it does not open: another key, other authenticated data, or altered (callers say which secret was wrong). */
export function gcmOpen(key: Buffer, sealed: GcmSealed, aad: string | Buffer): Buffer | null {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv);
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(sealed.tag);
    return Buffer.concat([decipher.update(sealed.ct), decipher.final()]);
  } catch {
    return null;
  }
}

/** AES-256-GCM under one derived key, as `v1.<iv>.<ciphertext>.<tag>` (base64url). */
export class AesGcmSeal {
  constructor(private readonly key: Buffer) {}

  seal(plain: Buffer, context: string | Buffer): string {
    const { iv, ct, tag } = gcmSeal(this.key, plain, context);
    return ['v1', iv.toString('base64url'), ct.toString('base64url'), tag.toString('base64url')].join('.');
  }

  /** Null when the envelope does not open (another key, another context, altered). */
  open(envelope: string, context: string | Buffer): Buffer | null {
    const [v, iv, ct, tag] = envelope.split('.');
    if (v !== 'v1' || !iv || ct === undefined || !tag) return null;
    return gcmOpen(this.key, { iv: Buffer.from(iv, 'base64url'), ct: Buffer.from(ct, 'base64url'), tag: Buffer.from(tag, 'base64url') }, context);
  }
}

/** Seals a secret to one credential: the id is authenticated data, so a ciphertext moved to another row does not open. */
export class SecretBox {
  private readonly seal_: AesGcmSeal;

  constructor(masterKey: string) {
    this.seal_ = new AesGcmSeal(deriveKey(masterKey, 'credential secrets'));
  }

  seal(secret: string, credentialId: string): string {
    return this.seal_.seal(Buffer.from(secret, 'utf8'), `certgate-credential:${credentialId}`);
  }

  /** Null when the envelope does not open (another master key, another credential, altered). */
  open(envelope: string, credentialId: string): string | null {
    return this.seal_.open(envelope, `certgate-credential:${credentialId}`)?.toString('utf8') ?? null;
  }
}
