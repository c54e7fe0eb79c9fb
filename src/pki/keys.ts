import { createPublicKey, type KeyObject } from 'node:crypto';
import type { KeyAlgorithm } from '../core/types.js';

/** Names a public key the way products and the API do: ec-p256, rsa-2048, ed25519, ... */
export function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return `rsa-${details.modulusLength ?? 0}`;
    case 'ec':
      return details.namedCurve === 'prime256v1'
        ? 'ec-p256'
        : details.namedCurve === 'secp384r1'
          ? 'ec-p384'
          : details.namedCurve === 'secp521r1'
            ? 'ec-p521'
            : `ec-${details.namedCurve ?? 'unknown'}`;
    default:
      return key.asymmetricKeyType ?? 'unknown';
  }
}

export function publicKeyFromSpki(spkiDer: Buffer): KeyObject {
  return createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
}

export interface KeyGenSpec {
  type: 'ec' | 'rsa';
  namedCurve?: string;
  modulusLength?: number;
}

export function keyGenSpec(alg: KeyAlgorithm): KeyGenSpec {
  switch (alg) {
    case 'ec-p256':
      return { type: 'ec', namedCurve: 'prime256v1' };
    case 'ec-p384':
      return { type: 'ec', namedCurve: 'secp384r1' };
    case 'rsa-2048':
      return { type: 'rsa', modulusLength: 2048 };
    case 'rsa-3072':
      return { type: 'rsa', modulusLength: 3072 };
    case 'rsa-4096':
      return { type: 'rsa', modulusLength: 4096 };
  }
}
