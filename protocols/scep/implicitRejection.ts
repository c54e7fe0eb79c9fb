// RSA PKCS#1 v1.5 decryption (RSAES-PKCS1-v1_5, RFC 8017 §7.2.2) with implicit rejection, the
// countermeasure to Bleichenbacher's and the Marvin attack: Node 20 refuses PKCS#1 v1.5 private
// decryption (CVE-2023-46809), so the RSA operation is raw (RSA_NO_PADDING, blinded by OpenSSL)
// and the padding is checked here. A bad padding is never reported: it yields a synthetic
// message derived deterministically from the private key and the ciphertext (the same ciphertext
// always gives the same answer), so the caller fails exactly as it would with a wrong key.
// Every step runs whether the padding is good or not, over every byte, without branching on
// secret data (the algorithm of draft-irtf-cfrg-rsa-guidance and OpenSSL 3.2's implicit rejection).
import { constants, createHash, createHmac, privateDecrypt, type KeyObject } from 'node:crypto';

/** What the private key contributes to the synthetic messages: SHA-256 over its private exponent. */
interface KeyDerivation {
  dHash: Buffer;
  modulusBytes: number;
}

const derivations = new WeakMap<KeyObject, KeyDerivation>();

function derivationOf(key: KeyObject): KeyDerivation {
  let d = derivations.get(key);
  if (d) return d;
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'RSA' || !jwk.d || !jwk.n) throw new Error('implicit rejection needs an RSA private key');
  const modulusBytes = Buffer.from(jwk.n, 'base64url').length;
  const dBytes = Buffer.from(jwk.d, 'base64url');
  const dPadded = Buffer.concat([Buffer.alloc(Math.max(0, modulusBytes - dBytes.length)), dBytes]);
  d = { dHash: createHash('sha256').update(dPadded).digest(), modulusBytes };
  derivations.set(key, d);
  return d;
}

/** The PRF of the implicit-rejection algorithm: HMAC-SHA256(key, I ‖ label ‖ L) for I = 0, 1, …, L the output in bits. */
function prf(key: Buffer, label: string, bytes: number): Buffer {
  const out = Buffer.alloc(Math.ceil(bytes / 32) * 32);
  const labelBytes = Buffer.from(label, 'latin1');
  const trailer = Buffer.alloc(2);
  trailer.writeUInt16BE((bytes * 8) & 0xffff);
  const counter = Buffer.alloc(2);
  for (let i = 0, at = 0; at < bytes; i++, at += 32) {
    counter.writeUInt16BE(i);
    createHmac('sha256', key).update(counter).update(labelBytes).update(trailer).digest().copy(out, at);
  }
  return out.subarray(0, bytes);
}

// Constant-time helpers on small non-negative integers (below 2^30): each answers 0 or 1.
const isZeroByte = (b: number): number => ((b - 1) >>> 31) & 1;
const lessThan = (a: number, b: number): number => ((a - b) >>> 31) & 1;
/** `bit` ? a : b, for a bit of 0 or 1. */
const select = (bit: number, a: number, b: number): number => b ^ (-bit & (a ^ b));

/**
 * Unpads an encoded message EM = RSA^-1(ciphertext) (k bytes). Returns the message when the
 * padding is well formed (00 02, at least eight non-zero bytes, 00), else a synthetic message of
 * pseudo-random length and content that depends only on the key and the ciphertext. The caller
 * cannot tell which, and neither can anyone timing it.
 */
export function unpadImplicit(em: Buffer, ciphertext: Buffer, derivation: KeyDerivation): Buffer {
  const k = derivation.modulusBytes;
  if (em.length !== k) throw new Error('the encoded message must be as long as the modulus');
  // The ciphertext as an integer of k bytes (a shorter one is left-padded with zeros).
  const c = ciphertext.length >= k ? ciphertext.subarray(ciphertext.length - k) : Buffer.concat([Buffer.alloc(k - ciphertext.length), ciphertext]);
  const kdk = createHmac('sha256', derivation.dHash).update(c).digest();

  const maxLength = k - 11;
  // Synthetic length: the last of 128 PRF candidates, masked to maxLength's bit length, below maxLength.
  const candidates = prf(kdk, 'length', 256);
  let mask = maxLength;
  for (let s = 1; s < 32; s <<= 1) mask |= mask >>> s;
  let syntheticLength = 0;
  for (let i = 0; i < 128; i++) {
    const candidate = (((candidates[2 * i] as number) << 8) | (candidates[2 * i + 1] as number)) & mask;
    syntheticLength = select(lessThan(candidate, maxLength + 1), candidate, syntheticLength);
  }
  const synthetic = prf(kdk, 'message', k);

  // The padding: 00 02 PS 00 M, PS at least 8 bytes, none of them zero.
  let good = isZeroByte(em[0] as number) & isZeroByte((em[1] as number) ^ 2);
  let foundZero = 0;
  let zeroIndex = 0;
  for (let i = 2; i < k; i++) {
    const zero = isZeroByte(em[i] as number);
    zeroIndex = select(zero & (foundZero ^ 1), i, zeroIndex);
    foundZero |= zero;
  }
  good &= foundZero & (lessThan(zeroIndex, 10) ^ 1);
  const messageIndex = zeroIndex + 1;
  const realLength = k - messageIndex;

  // Move the message to the start of a maxLength buffer with a data-independent access pattern:
  // shift left by (messageIndex - 11) in log2 steps, each step a conditional shift of 2^j bytes.
  const out = Buffer.from(em.subarray(11));
  const shift = select(good, messageIndex - 11, 0);
  for (let bit = 0; 1 << bit < maxLength; bit++) {
    const step = 1 << bit;
    const take = (shift >>> bit) & 1;
    for (let i = 0; i < maxLength; i++) {
      const from = i + step < maxLength ? (out[i + step] as number) : 0;
      out[i] = select(take, from, out[i] as number);
    }
  }
  for (let i = 0; i < maxLength; i++) out[i] = select(good, out[i] as number, synthetic[i] as number);
  return out.subarray(0, select(good, realLength, syntheticLength));
}

/**
 * RSAES-PKCS1-v1_5 decryption with implicit rejection: the raw RSA operation by OpenSSL, the
 * padding checked here. Throws only for what says nothing about the key (a ciphertext longer than
 * the modulus or not below it: those OpenSSL refuses before any private-key operation).
 */
export function rsaDecryptPkcs1Implicit(key: KeyObject, ciphertext: Buffer): Buffer {
  const derivation = derivationOf(key);
  if (ciphertext.length !== derivation.modulusBytes) throw new RsaInputError('the encrypted key is not as long as the modulus');
  let em: Buffer;
  try {
    em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, ciphertext);
  } catch {
    // A ciphertext not below the modulus: public knowledge, nothing about the private key.
    throw new RsaInputError('the encrypted key is not below the modulus');
  }
  return unpadImplicit(em, ciphertext, derivation);
}

export class RsaInputError extends Error {
  override readonly name = 'RsaInputError';
}

/** For tests and benchmarks: the derivation a key's synthetic messages use. */
export const keyDerivationOf = derivationOf;
