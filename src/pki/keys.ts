import type { KeyAlgorithm } from '../core/types.js';

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
