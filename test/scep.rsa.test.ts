// RSA PKCS#1 v1.5 decryption with implicit rejection (protocols/scep/implicitRejection.ts): right
// for every well-formed padding, a deterministic synthetic answer for every malformed one, and
// the same time for both.
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyDerivationOf, rsaDecryptPkcs1Implicit, RsaInputError, unpadImplicit } from '../protocols/scep/implicitRejection.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
const K = 256;

/** A ciphertext whose decryption is exactly `em` (raw RSA, no padding). */
const rawEncrypt = (em: Buffer): Buffer => publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, em);

function nonZero(n: number): Buffer {
  const b = randomBytes(n);
  for (let i = 0; i < n; i++) if (b[i] === 0) b[i] = 1 + (i % 255);
  return b;
}

/** 00 02 PS 00 M with a PS of `psLength` non-zero bytes. */
function encoded(message: Buffer, psLength = K - 3 - message.length): Buffer {
  return Buffer.concat([Buffer.from([0, 2]), nonZero(psLength), Buffer.from([0]), message]);
}

const MALFORMED: Record<string, () => Buffer> = {
  'first byte not zero': () => Buffer.concat([Buffer.from([1, 2]), nonZero(K - 35), Buffer.from([0]), randomBytes(32)]),
  'block type 1 (a signature)': () => Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(K - 35, 0xff), Buffer.from([0]), randomBytes(32)]),
  'padding string of 7 bytes': () => Buffer.concat([Buffer.from([0, 2]), nonZero(7), Buffer.from([0]), randomBytes(K - 10)]),
  'no zero separator': () => Buffer.concat([Buffer.from([0, 2]), nonZero(K - 2)]),
  'zero right after the type': () => Buffer.concat([Buffer.from([0, 2, 0]), randomBytes(K - 3)]),
};

describe('RSA PKCS#1 v1.5 with implicit rejection', () => {
  it('decrypts what PKCS#1 v1.5 encryption made, for every message length', () => {
    for (const length of [0, 1, 2, 16, 24, 32, 100, 244, 245]) {
      const m = randomBytes(length);
      expect(rsaDecryptPkcs1Implicit(privateKey, publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, m)).equals(m)).toBe(true);
    }
    // The shortest padding string allowed (8 bytes) and the longest message.
    const m = randomBytes(K - 11);
    expect(rsaDecryptPkcs1Implicit(privateKey, rawEncrypt(encoded(m, 8))).equals(m)).toBe(true);
  });

  for (const [name, make] of Object.entries(MALFORMED)) {
    it(`answers a synthetic message for a padding with ${name}: the same every time, depending on key and ciphertext`, () => {
      const c = rawEncrypt(make());
      const a = rsaDecryptPkcs1Implicit(privateKey, c);
      expect(a.length).toBeLessThanOrEqual(K - 11);
      expect(rsaDecryptPkcs1Implicit(privateKey, c).equals(a)).toBe(true);
      // Another ciphertext, another answer (lengths and bytes pseudo-random).
      const b = rsaDecryptPkcs1Implicit(privateKey, rawEncrypt(make()));
      expect(b.equals(a)).toBe(false);
      // The synthetic message comes from the private key: another key answers otherwise.
      const em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, c);
      expect(unpadImplicit(em, c, keyDerivationOf(other.privateKey)).equals(a)).toBe(false);
    });
  }

  it('gives synthetic lengths spread over the whole range, as a real message could have', () => {
    const lengths = Array.from({ length: 200 }, () => rsaDecryptPkcs1Implicit(privateKey, rawEncrypt(MALFORMED['no zero separator']!())).length);
    expect(Math.max(...lengths)).toBeGreaterThan(150);
    expect(Math.min(...lengths)).toBeLessThan(100);
    expect(new Set(lengths).size).toBeGreaterThan(100);
  });

  it('refuses only what is public: a ciphertext of the wrong length or not below the modulus', () => {
    expect(() => rsaDecryptPkcs1Implicit(privateKey, randomBytes(255))).toThrow(RsaInputError);
    expect(() => rsaDecryptPkcs1Implicit(privateKey, Buffer.alloc(256, 0xff))).toThrow(RsaInputError);
  });

  /**
   * Interleaved runs of each input, many times; the median of each kind is compared, so that a
   * scheduler hiccup or a GC pause in one run cannot decide the outcome. The bound is generous: a
   * padding oracle by timing is a difference the implementation would show on every run, not a
   * few percent of noise.
   */
  function medians(kinds: Record<string, () => void>, rounds: number): Record<string, number> {
    const times: Record<string, number[]> = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
    const names = Object.keys(kinds);
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < names.length; i++) {
        const name = names[(r + i) % names.length] as string;
        const t = process.hrtime.bigint();
        (kinds[name] as () => void)();
        times[name]?.push(Number(process.hrtime.bigint() - t));
      }
    }
    return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.sort((a, b) => a - b)[Math.floor(v.length / 2)] as number]));
  }

  const spread = (m: Record<string, number>): number => Math.max(...Object.values(m)) / Math.min(...Object.values(m));

  it('takes the same time to unpad a valid and an invalid padding (medians of interleaved runs)', () => {
    const d = keyDerivationOf(privateKey);
    const inputs = (make: () => Buffer) => Array.from({ length: 16 }, () => {
      const em = make();
      return { em, c: randomBytes(K) };
    });
    const sets: Record<string, { em: Buffer; c: Buffer }[]> = {
      valid: inputs(() => encoded(randomBytes(32))),
      'valid, long message': inputs(() => encoded(randomBytes(200))),
      ...Object.fromEntries(Object.entries(MALFORMED).map(([name, make]) => [name, inputs(make)])),
    };
    let i = 0;
    const kinds = Object.fromEntries(
      Object.entries(sets).map(([name, list]) => [
        name,
        () => {
          const x = list[i++ % list.length] as { em: Buffer; c: Buffer };
          unpadImplicit(x.em, x.c, d);
        },
      ]),
    );
    medians(kinds, 200); // warm-up
    const m = medians(kinds, 1500);
    expect(spread(m), JSON.stringify(m)).toBeLessThan(1.5);
  });

  it('takes the same time to decrypt a valid and an invalid padding, RSA included', () => {
    const valid = Array.from({ length: 8 }, () => publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, randomBytes(32)));
    const invalid = Array.from({ length: 8 }, () => rawEncrypt(MALFORMED['no zero separator']!()));
    let i = 0;
    const kinds = {
      valid: () => rsaDecryptPkcs1Implicit(privateKey, valid[i++ % valid.length] as Buffer),
      invalid: () => rsaDecryptPkcs1Implicit(privateKey, invalid[i++ % invalid.length] as Buffer),
    };
    medians(kinds, 30);
    const m = medians(kinds, 300);
    expect(spread(m), JSON.stringify(m)).toBeLessThan(1.3);
  });
});
