// The one service that seals private keys and secrets under the master key. Front-ends get this,
// never the master key itself: what they hold can seal and open envelopes, and nothing else (it
// cannot derive a key for another purpose, nor open a CA key protected by a passphrase).
// ca/keyProtection (scrypt envelopes, the same as CA keys) and auth/envelope (HKDF per purpose)
// stay the implementation underneath, so envelopes already stored keep opening.
import type { KeyObject } from 'node:crypto';
import { AesGcmSeal } from '../auth/envelope.js';
import { deriveKey } from '../auth/secrets.js';
import { decryptPrivateKey, encryptPrivateKey, envelopeSecretKind, KeyProtectionError } from '../ca/keyProtection.js';
import { AppError } from './errors.js';

/** Seals byte strings for one purpose; `context` is authenticated, so an envelope moved to another row does not open. */
export interface SecretSeal {
  seal(plain: Buffer, context: string | Buffer): string;
  /** Null when the envelope does not open (another master key, another context, altered). */
  open(envelope: string, context: string | Buffer): Buffer | null;
}

export interface Sealing {
  /** A private key as a CA key is kept: PKCS#8 in an AES-256-GCM envelope under the master key. */
  sealKey(key: KeyObject): string;
  /** Throws when the envelope is not one of sealKey's under this master key (a passphrase-protected CA key, say). */
  openKey(envelope: string): KeyObject;
  /** A seal for secrets of one purpose (e.g. 'est server-generated keys'), with its own derived key. */
  secrets(purpose: string): SecretSeal;
}

/** Which secret unlocks a key envelope: the master key, or a CA passphrase the operator holds. Reads no secret. */
export function keyEnvelopeKind(envelope: string | null): 'master' | 'passphrase' | null {
  return envelopeSecretKind(envelope);
}

/** Purposes the core keeps for itself; a front-end asking for one of these gets a refusal, not its key. */
const CORE_PURPOSES = new Set(['credential secrets', 'rest bearer tokens']);

export function createSealing(masterKey: string): Sealing {
  // Derived keys are cheap (HKDF) but the same purpose is asked for on every construction.
  const seals = new Map<string, SecretSeal>();
  return {
    sealKey: (key) => encryptPrivateKey(key, masterKey, 'master'),
    openKey(envelope) {
      if (envelopeSecretKind(envelope) !== 'master') throw new KeyProtectionError('this key is protected by a CA passphrase, not the master key');
      return decryptPrivateKey(envelope, masterKey);
    },
    secrets(purpose) {
      if (CORE_PURPOSES.has(purpose)) throw new Error(`the sealing purpose ${JSON.stringify(purpose)} is the core's own`);
      let seal = seals.get(purpose);
      if (!seal) {
        seal = new AesGcmSeal(deriveKey(masterKey, purpose));
        seals.set(purpose, seal);
      }
      return seal;
    },
  };
}

/** `certgate master-key rotate` refuses: nothing was changed. */
export class RekeyRefused extends AppError {
  constructor(message: string) {
    super('bad_request', message);
  }
}

const doesNotOpen = (what: string, why?: string): RekeyRefused =>
  new RekeyRefused(`${what} does not open under the current master key${why ? ` (${why})` : ''}; nothing was rotated`);

/**
 * A key envelope opened under the current master key and sealed under the new one, for a
 * rotation; `what` names it in the refusal (e.g. 'the SCEP RA key 3f…') when it does not open.
 */
export function resealKey(from: Sealing, to: Sealing, envelope: string, what: string): string {
  try {
    return to.sealKey(from.openKey(envelope));
  } catch (e) {
    throw doesNotOpen(what, (e as Error).message);
  }
}

/** Anything that seals a value to a context: a SecretSeal (bytes) or a credential SecretBox (text). */
interface Reopens<T, C> {
  seal(plain: T, context: C): string;
  open(envelope: string, context: C): T | null;
}

/** resealKey for a sealed secret: opened with `from` and sealed with `to`, to the same context. */
export function resealSecret<T, C>(from: Reopens<T, C>, to: Reopens<T, C>, envelope: string, context: C, what: string): string {
  const plain = from.open(envelope, context);
  if (plain === null) throw doesNotOpen(what);
  return to.seal(plain, context);
}
