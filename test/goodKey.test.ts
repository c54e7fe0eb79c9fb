import { checkPrimeSync, createPublicKey, generateKeyPairSync, generatePrimeSync, randomBytes, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KeyAlgorithm } from '../src/core/types.js';
import { KEY_ALGORITHMS } from '../src/core/types.js';
import { bitString, nullValue, oid, sequence, unsignedInteger } from '../src/pki/der.js';
import { OID } from '../src/pki/oids.js';
import { checkKey } from '../src/policy/goodKey.js';

const ALL = { keyAlgorithms: [...KEY_ALGORITHMS] };
const spkiOf = (key: KeyObject): Buffer => (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'der', type: 'spki' });
const big = (b: Buffer): bigint => BigInt(`0x${b.toString('hex')}`);
const bytesOf = (n: bigint): Buffer => {
  const hex = n.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
};
const bitLen = (n: bigint): number => n.toString(2).length;

function rsaSpki(n: bigint, e: bigint): Buffer {
  return sequence(sequence(oid(OID.rsaEncryption), nullValue()), bitString(sequence(unsignedInteger(bytesOf(n)), unsignedInteger(bytesOf(e)))));
}
function ecSpki(curveOid: string, point: Buffer): Buffer {
  return sequence(sequence(oid(OID.ecPublicKey), oid(curveOid)), bitString(point));
}

const SMALL = [...Array(1000).keys()].filter((i) => i > 1 && [...Array(i).keys()].slice(2).every((d) => i % d !== 0)).map(BigInt);
const hasSmallFactor = (n: bigint): boolean => SMALL.some((p) => n % p === 0n);
/** A random odd number of exactly `bits` bits with no prime factor below 1000 (not necessarily a product of two primes). */
function roughNumber(bits: number): bigint {
  let n = big(randomBytes(Math.ceil(bits / 8))) >> BigInt(Math.ceil(bits / 8) * 8 - bits);
  n |= (1n << BigInt(bits - 1)) | 1n;
  while (hasSmallFactor(n)) n += 2n;
  return n;
}
function nextPrime(from: bigint): bigint {
  let q = from | 1n;
  while (!checkPrimeSync(q)) q += 2n;
  return q;
}

// Generated once for the file.
const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
const rsaN = big(Buffer.from(rsa2048.export({ format: 'jwk' }).n as string, 'base64url'));
const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey;

function refusal(spki: Buffer, allowed: KeyAlgorithm[] = [...KEY_ALGORITHMS]): { rule: string; detail: string } {
  const r = checkKey(spki, { keyAlgorithms: allowed });
  if (r.ok) throw new Error(`expected a refusal, got ${r.keyAlgorithm}`);
  return r;
}

describe('checkKey: good keys', () => {
  it('accepts real RSA and EC keys and names them as the product does', () => {
    expect(checkKey(spkiOf(rsa2048), ALL)).toEqual({ ok: true, keyAlgorithm: 'rsa-2048' });
    expect(checkKey(spkiOf(p256), ALL)).toEqual({ ok: true, keyAlgorithm: 'ec-p256' });
    expect(checkKey(spkiOf(p384), ALL)).toEqual({ ok: true, keyAlgorithm: 'ec-p384' });
  });

  it('maps RSA sizes exactly: rsa-3072 and rsa-4096 pass, other sizes in range are not product algorithms', () => {
    expect(checkKey(rsaSpki(roughNumber(3072), 65537n), ALL)).toEqual({ ok: true, keyAlgorithm: 'rsa-3072' });
    expect(checkKey(rsaSpki(roughNumber(4096), 65537n), ALL)).toEqual({ ok: true, keyAlgorithm: 'rsa-4096' });
    const odd = refusal(rsaSpki(roughNumber(2500), 65537n));
    expect(odd.rule).toBe('keyAlgorithms');
    expect(odd.detail).toContain('rsa-2500');
    // 8192 bits is within the size rule (the key is fine) but no product algorithm issues it.
    expect(refusal(rsaSpki(roughNumber(8192), 65537n)).rule).toBe('keyAlgorithms');
  });

  it('accepts a compressed EC point', () => {
    for (const key of [p256, p384]) {
      const jwk = key.export({ format: 'jwk' });
      const x = Buffer.from(jwk.x as string, 'base64url');
      const yOdd = (Buffer.from(jwk.y as string, 'base64url').at(-1) as number) & 1;
      const curve = jwk.crv === 'P-256' ? OID.secp256r1 : OID.secp384r1;
      const r = checkKey(ecSpki(curve, Buffer.concat([Buffer.from([2 + yOdd]), x])), ALL);
      expect(r.ok).toBe(true);
    }
  });
});

describe('checkKey: the product decides the algorithms', () => {
  it('refuses a good key the product does not allow, listing the allowed ones', () => {
    const r = refusal(spkiOf(p384), ['ec-p256', 'rsa-2048']);
    expect(r).toEqual({ ok: false, rule: 'keyAlgorithms', detail: 'key algorithm ec-p384 is not allowed (allowed: ec-p256, rsa-2048)' });
    expect(refusal(spkiOf(rsa2048), ['ec-p256']).rule).toBe('keyAlgorithms');
    expect(refusal(spkiOf(rsa2048), ['rsa-3072']).rule).toBe('keyAlgorithms');
  });

  it('refuses Ed25519, DSA and unknown algorithms with the allowed list', () => {
    const ed = refusal(spkiOf(generateKeyPairSync('ed25519').publicKey), ['ec-p256']);
    expect(ed).toEqual({ ok: false, rule: 'keyAlgorithms', detail: 'key algorithm Ed25519 is not allowed (allowed: ec-p256)' });
    const dsa = sequence(sequence(oid('1.2.840.10040.4.1'), sequence(unsignedInteger(Buffer.from([23])), unsignedInteger(Buffer.from([11])), unsignedInteger(Buffer.from([4])))), bitString(unsignedInteger(Buffer.from([9]))));
    expect(refusal(dsa).detail).toContain('DSA');
    const unknown = refusal(sequence(sequence(oid('1.2.3.4.5')), bitString(Buffer.from([1, 2, 3]))));
    expect(unknown.rule).toBe('keyAlgorithms');
    expect(unknown.detail).toContain('1.2.3.4.5');
  });
});

describe('checkKey: RSA rules', () => {
  it('refuses any public exponent but 65537 (rsaExponent)', () => {
    for (const e of [1n, 3n, 17n, 65536n, 65539n, 2n ** 64n + 1n]) {
      expect(refusal(rsaSpki(rsaN, e)).rule).toBe('rsaExponent');
    }
    expect(refusal(rsaSpki(rsaN, 1n)).detail).toContain('not 1');
  });

  it('refuses moduli below 2048 or above 8192 bits (rsaModulusSize)', () => {
    for (const bits of [512, 1024, 2047, 8193, 8200]) {
      const r = refusal(rsaSpki(roughNumber(bits), 65537n));
      expect(r.rule).toBe('rsaModulusSize');
      expect(r.detail).toContain(`${bits} bits`);
    }
  });

  it('refuses a modulus with a prime factor below 1000, even ones included (rsaSmallFactor)', () => {
    const base = roughNumber(2040);
    for (const p of [2n, 3n, 5n, 997n]) {
      let n = base * p;
      while (bitLen(n) < 2048) n *= 1009n; // a prime above 1000 only grows it
      const r = refusal(rsaSpki(n, 65537n));
      expect(r.rule).toBe('rsaSmallFactor');
      expect(r.detail).toContain(`divisible by ${p}`);
    }
    // 1009 · rough is not refused for its factor: 1009 is above the bound.
    const r = checkKey(rsaSpki(roughNumber(2039) * 1009n, 65537n), ALL);
    expect(r.ok || r.rule === 'keyAlgorithms').toBe(true); // 2048 or 2049 bits
  });

  it("refuses factors close enough for Fermat's method, and only those (rsaFermat)", () => {
    let p: bigint;
    do p = generatePrimeSync(1024, { bigint: true });
    while (bitLen(p * nextPrime(p + 2n)) !== 2048);
    // Neighbouring primes: found in the first round.
    expect(refusal(rsaSpki(p * nextPrime(p + 2n), 65537n)).rule).toBe('rsaFermat');
    // |p - q| ≈ 2^516: about 32 rounds from ceil(sqrt(n)), inside the budget of 100.
    expect(refusal(rsaSpki(p * nextPrime(p + 2n ** 516n), 65537n)).rule).toBe('rsaFermat');
    // |p - q| ≈ 2^522: about 2^17 rounds; out of reach, and the key is otherwise fine.
    expect(checkKey(rsaSpki(p * nextPrime(p + 2n ** 522n), 65537n), ALL)).toEqual({ ok: true, keyAlgorithm: 'rsa-2048' });
  });

  it('refuses malformed RSAPublicKey encodings (malformedKey)', () => {
    const rsaAlg = sequence(oid(OID.rsaEncryption), nullValue());
    const nInt = unsignedInteger(bytesOf(rsaN));
    const eInt = unsignedInteger(bytesOf(65537n));
    const negN = Buffer.from(nInt);
    negN.writeUInt8(0x80, 4); // the sign byte 0x00 becomes 0x80: a negative modulus
    const cases = [
      sequence(rsaAlg, bitString(Buffer.concat([sequence(nInt, eInt), Buffer.from([0])]))), // trailing byte
      sequence(rsaAlg, bitString(sequence(nInt, eInt, eInt))), // extra element
      sequence(rsaAlg, bitString(sequence(nInt))), // no exponent
      sequence(rsaAlg, bitString(sequence(negN, eInt))), // negative modulus
    ];
    for (const spki of cases) expect(refusal(spki).rule).toBe('malformedKey');
  });
});

describe('checkKey: EC rules', () => {
  const point = (key: KeyObject): Buffer => spkiOf(key).subarray(-(key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 97 : 65));

  it('refuses P-521, unknown curves and explicit parameters (ecCurve)', () => {
    const p521 = refusal(spkiOf(generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).publicKey));
    expect(p521.rule).toBe('ecCurve');
    expect(p521.detail).toContain('P-521');
    expect(refusal(spkiOf(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey)).rule).toBe('ecCurve');
    const explicit = sequence(sequence(oid(OID.ecPublicKey), sequence(unsignedInteger(Buffer.from([1])))), bitString(point(p256)));
    expect(refusal(explicit).rule).toBe('ecCurve');
    expect(refusal(sequence(sequence(oid(OID.ecPublicKey)), bitString(point(p256)))).rule).toBe('ecCurve');
  });

  it('refuses points off the curve, at infinity, of the wrong length or form (ecPoint)', () => {
    const good = point(p256);
    const offCurve = Buffer.from(good);
    offCurve[64] = (offCurve[64] as number) ^ 1;
    const p = big(Buffer.from('ffffffff00000001000000000000000000000000ffffffffffffffffffffffff', 'hex'));
    const xTooBig = Buffer.concat([Buffer.from([4]), bytesOf(p + 1n), good.subarray(33)]);
    const hybrid = Buffer.from(good);
    hybrid[0] = 0x06;
    const cases: [Buffer, string][] = [
      [offCurve, 'not on the curve'],
      [Buffer.from([0]), 'infinity'],
      [good.subarray(0, 64), 'must be 65 bytes'],
      [Buffer.concat([good, Buffer.from([0])]), 'must be 65 bytes'],
      [Buffer.concat([Buffer.from([4]), Buffer.alloc(64)]), 'not on the curve'], // (0, 0)
      [xTooBig, 'not below the field prime'],
      [hybrid, 'point form 0x06'],
      [good.subarray(0, 33), 'must be 65 bytes'],
      [Buffer.concat([Buffer.from([2]), good.subarray(1)]), 'compressed point must be 33 bytes'],
    ];
    for (const [pt, why] of cases) {
      const r = refusal(ecSpki(OID.secp256r1, pt));
      expect(r.rule).toBe('ecPoint');
      expect(r.detail).toContain(why);
    }
    // A P-256 point under the P-384 OID is the wrong length.
    expect(refusal(ecSpki(OID.secp384r1, good)).rule).toBe('ecPoint');
    const off384 = Buffer.from(point(p384));
    off384[10] = (off384[10] as number) ^ 0x40;
    expect(refusal(ecSpki(OID.secp384r1, off384)).rule).toBe('ecPoint');
  });

  it('agrees with OpenSSL on which P-256/P-384 points are valid (compressed and uncompressed)', () => {
    const opensslAccepts = (spki: Buffer): boolean => {
      try {
        createPublicKey({ key: spki, format: 'der', type: 'spki' });
        return true;
      } catch {
        return false;
      }
    };
    const curves = [
      { oid: OID.secp256r1, good: point(p256) },
      { oid: OID.secp384r1, good: point(p384) },
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...curves),
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 2 }),
        fc.boolean(),
        ({ oid: curveOid, good }, compress, edits, randomX) => {
          const size = (good.length - 1) / 2;
          let pt = Buffer.from(good);
          if (compress) pt = Buffer.concat([Buffer.from([2 + ((good.at(-1) as number) & 1)]), randomX ? randomBytes(size) : good.subarray(1, 1 + size)]);
          for (const [pos, val] of edits) pt[1 + (pos % (pt.length - 1))] = val; // keep the form byte
          const spki = ecSpki(curveOid, pt);
          expect(checkKey(spki, ALL).ok).toBe(opensslAccepts(spki));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('checkKey: never throws', () => {
  it('refuses random bytes and mutated keys without throwing', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        expect(checkKey(Buffer.from(bytes), ALL).ok).toBe(false);
      }),
      { numRuns: 2000 },
    );
    const seeds = [spkiOf(rsa2048), spkiOf(p256), spkiOf(p384)];
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        (seed, edits, cut) => {
          const m = Buffer.from(seed);
          for (const [pos, val] of edits) m[pos % m.length] = val;
          const r = checkKey(m.subarray(0, m.length - (cut % 3 === 0 ? cut % m.length : 0)), ALL);
          expect(typeof r.ok).toBe('boolean');
        },
      ),
      { numRuns: 1500 },
    );
  });
});
