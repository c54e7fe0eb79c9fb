// Reads a SubjectPublicKeyInfo without building a KeyObject: OpenSSL 3's decoder costs ~100 µs
// per key, more than the signature check it precedes. The KeyObject is made only to verify,
// from a JWK, which skips the decoder (RSA: ~3 µs; EC: ~60 µs, the point is validated).
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { children, content, DerError, expectTag, readNode, readOid } from './der.js';
import { OID } from './oids.js';

export interface SpkiInfo {
  /** ec-p256, ec-p384, ec-p521, rsa-<bits>, ed25519 */
  keyAlgorithm: string;
  jwk: JsonWebKey | null;
}

const CURVES: Record<string, { name: string; jwk: string; size: number }> = {
  [OID.secp256r1]: { name: 'ec-p256', jwk: 'P-256', size: 32 },
  [OID.secp384r1]: { name: 'ec-p384', jwk: 'P-384', size: 48 },
  '1.3.132.0.35': { name: 'ec-p521', jwk: 'P-521', size: 66 },
};

function unsignedBytes(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

function bitLength(magnitude: Buffer): number {
  if (magnitude.length === 0) return 0;
  return (magnitude.length - 1) * 8 + (32 - Math.clz32(magnitude[0] as number));
}

export function readSpki(spkiDer: Buffer): SpkiInfo {
  const top = readNode(spkiDer, 0);
  if (top.end !== spkiDer.length) throw new DerError('trailing data after SubjectPublicKeyInfo');
  const [algNode, keyNode] = children(spkiDer, expectTag(top, 0x30, 'SubjectPublicKeyInfo'), 2);
  const [oidNode, paramsNode] = children(spkiDer, expectTag(algNode, 0x30, 'algorithm'), 2);
  const alg = readOid(spkiDer, oidNode, 'key algorithm');
  const bits = content(spkiDer, expectTag(keyNode, 0x03, 'subjectPublicKey'));
  if (bits.length < 2 || bits[0] !== 0) throw new DerError('bad subjectPublicKey bit string');
  const key = bits.subarray(1);

  if (alg === OID.rsaEncryption) {
    // RFC 3279 §2.3.1: NULL. The SPKI is signed into the certificate as it came, so anything else
    // (a fuzzer found a constructed element there that OpenSSL's key reader let through) is refused.
    if (!paramsNode || paramsNode.tag !== 0x05 || paramsNode.end !== paramsNode.contentStart) throw new DerError('rsaEncryption parameters must be NULL');
    const seq = readNode(key, 0);
    if (seq.end !== key.length) throw new DerError('trailing data after RSAPublicKey');
    const [nNode, eNode] = children(key, expectTag(seq, 0x30, 'RSAPublicKey'), 2);
    const n = unsignedBytes(content(key, expectTag(nNode, 0x02, 'modulus')));
    const e = unsignedBytes(content(key, expectTag(eNode, 0x02, 'publicExponent')));
    return { keyAlgorithm: `rsa-${bitLength(n)}`, jwk: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') } };
  }
  if (alg === OID.ecPublicKey) {
    const curveOid = readOid(spkiDer, paramsNode, 'named curve');
    const curve = CURVES[curveOid];
    if (!curve) return { keyAlgorithm: `ec-${curveOid}`, jwk: null };
    // Compressed points are legal but rare; OpenSSL's decoder handles them.
    if (key[0] !== 0x04 || key.length !== 1 + 2 * curve.size) return { keyAlgorithm: curve.name, jwk: null };
    return {
      keyAlgorithm: curve.name,
      jwk: { kty: 'EC', crv: curve.jwk, x: key.subarray(1, 1 + curve.size).toString('base64url'), y: key.subarray(1 + curve.size).toString('base64url') },
    };
  }
  if (alg === OID.ed25519) {
    if (key.length !== 32) throw new DerError('bad Ed25519 key length');
    return { keyAlgorithm: 'ed25519', jwk: { kty: 'OKP', crv: 'Ed25519', x: key.toString('base64url') } };
  }
  return { keyAlgorithm: `unknown-${alg}`, jwk: null };
}

/** A KeyObject for verification. Throws (OpenSSL's reason) for keys that are not valid. */
export function publicKeyFor(spkiDer: Buffer, info: SpkiInfo): KeyObject {
  return info.jwk ? createPublicKey({ key: info.jwk, format: 'jwk' }) : createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
}
