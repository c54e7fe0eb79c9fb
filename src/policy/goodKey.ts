// Is this public key one we will certify (or, for ACME, accept as an account key)? The checks
// follow the habits of Let's Encrypt's goodkey and the Baseline Requirements §6.1.5/6.1.6:
// RSA with e = 65537, a modulus of sane size with no small factors and no factors close enough
// for Fermat's method to find; EC on P-256/P-384 with a point that is really on the curve. Every
// refusal names its rule so a caller can say which one failed. Pure: no I/O, no OpenSSL.
import type { KeyAlgorithm } from '../core/types.js';
import { children, content, expectTag, readNode, readOid, type DerNode } from '../pki/der.js';
import { OID } from '../pki/oids.js';
import { readSpki } from '../pki/spki.js';

export type KeyCheckResult = { ok: true; keyAlgorithm: KeyAlgorithm } | { ok: false; rule: string; detail: string };

/** RSA moduli outside this range are refused whatever the product allows. */
const RSA_MIN_BITS = 2048;
const RSA_MAX_BITS = 8192;
/** Rounds of Fermat's method, from ceil(sqrt(n)); Boulder uses 100 too. */
const FERMAT_ROUNDS = 100;

const refuse = (rule: string, detail: string): KeyCheckResult => ({ ok: false, rule, detail });

const OTHER_ALGORITHMS: Record<string, string> = {
  [OID.ed25519]: 'Ed25519',
  '1.3.101.113': 'Ed448',
  '1.3.101.110': 'X25519',
  '1.3.101.111': 'X448',
  '1.2.840.10040.4.1': 'DSA',
  '1.2.840.10046.2.1': 'DH',
};

/**
 * Checks a SubjectPublicKeyInfo (DER) against the key rules and the product's key algorithms.
 * Never throws: malformed input is a refusal (rule `malformedKey`).
 */
export function checkKey(spkiDer: Buffer, allowed: { keyAlgorithms: readonly KeyAlgorithm[] }): KeyCheckResult {
  try {
    return check(spkiDer, allowed.keyAlgorithms);
  } catch (e) {
    return refuse('malformedKey', `the public key is not a well-formed SubjectPublicKeyInfo: ${(e as Error).message}`);
  }
}

function check(spkiDer: Buffer, allowed: readonly KeyAlgorithm[]): KeyCheckResult {
  const notAllowed = (name: string): KeyCheckResult =>
    refuse('keyAlgorithms', `key algorithm ${name} is not allowed (allowed: ${allowed.join(', ') || 'none'})`);

  // The algorithm first, by hand: readSpki cannot tell an explicit EC curve from a broken one.
  const top = readNode(spkiDer, 0);
  const [algNode, keyNode] = children(spkiDer, expectTag(top, 0x30, 'SubjectPublicKeyInfo'));
  const [oidNode, paramsNode] = children(spkiDer, expectTag(algNode, 0x30, 'algorithm'));
  const alg = readOid(spkiDer, oidNode, 'key algorithm');
  if (alg !== OID.rsaEncryption && alg !== OID.ecPublicKey) return notAllowed(OTHER_ALGORITHMS[alg] ?? `with OID ${alg}`);
  if (alg === OID.ecPublicKey && paramsNode?.tag !== 0x06) {
    return refuse('ecCurve', 'the EC key must name its curve (P-256 or P-384); explicit or missing curve parameters are refused');
  }

  const info = readSpki(spkiDer); // the shared strict reader: trailing data, bit string form, naming
  const bits = content(spkiDer, keyNode as DerNode).subarray(1);
  const result = alg === OID.rsaEncryption ? checkRsa(bits) : checkEc(info.keyAlgorithm, bits);
  if (result) return result;
  const name = info.keyAlgorithm as KeyAlgorithm;
  if (!allowed.includes(name)) return notAllowed(name);
  return { ok: true, keyAlgorithm: name };
}

// ---------- RSA ----------

function positiveInteger(buf: Buffer, node: DerNode | undefined, what: string): bigint {
  const c = content(buf, expectTag(node, 0x02, what));
  if (c.length === 0) throw new Error(`empty ${what}`);
  if ((c[0] as number) & 0x80) throw new Error(`negative ${what}`);
  if (c.length > 1 && c[0] === 0 && ((c[1] as number) & 0x80) === 0) throw new Error(`${what} is not minimally encoded`);
  return BigInt(`0x${c.toString('hex')}`);
}

function checkRsa(key: Buffer): KeyCheckResult | null {
  const seq = readNode(key, 0);
  if (seq.end !== key.length) throw new Error('trailing data after RSAPublicKey');
  const parts = children(key, expectTag(seq, 0x30, 'RSAPublicKey'));
  if (parts.length !== 2) throw new Error('RSAPublicKey must hold exactly a modulus and an exponent');
  const n = positiveInteger(key, parts[0], 'modulus');
  const e = positiveInteger(key, parts[1], 'publicExponent');

  if (e !== 65537n) return refuse('rsaExponent', `the RSA public exponent must be 65537, not ${e > 0xffffffffn ? `a ${bitLength(e)}-bit number` : e}`);
  const size = bitLength(n);
  if (size < RSA_MIN_BITS || size > RSA_MAX_BITS) {
    return refuse('rsaModulusSize', `the RSA modulus is ${size} bits; it must be ${RSA_MIN_BITS} to ${RSA_MAX_BITS} bits`);
  }
  const factor = smallFactor(n);
  if (factor) return refuse('rsaSmallFactor', `the RSA modulus is divisible by ${factor}${factor === 2n ? ' (it is even)' : ''}`);
  if (fermatFactorable(n, FERMAT_ROUNDS)) {
    return refuse('rsaFermat', `the RSA modulus's two factors are so close that Fermat's method finds them within ${FERMAT_ROUNDS} rounds`);
  }
  return null;
}

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

const SMALL_PRIMES: bigint[] = [];
for (let i = 2; i < 1000; i++) if (SMALL_PRIMES.every((p) => BigInt(i) % p !== 0n)) SMALL_PRIMES.push(BigInt(i));
// One big reduction, then 168 small ones on a ~1400-bit remainder instead of on the modulus.
const SMALL_PRIMES_PRODUCT = SMALL_PRIMES.reduce((a, p) => a * p, 1n);

/** The smallest prime below 1000 dividing n, or null. Public values only: not constant time. */
function smallFactor(n: bigint): bigint | null {
  const r = n % SMALL_PRIMES_PRODUCT;
  return SMALL_PRIMES.find((p) => r % p === 0n) ?? null;
}

/** floor(sqrt(n)) by Newton's method from a power of two above the root. */
function isqrt(n: bigint): bigint {
  if (n < 0n) throw new RangeError('square root of a negative number');
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(bitLength(n) / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

// Squares mod 64, 63, 65 and 11: most non-squares are ruled out without a square root.
const squaresMod = (m: number): boolean[] => {
  const t = new Array<boolean>(m).fill(false);
  for (let i = 0; i < m; i++) t[(i * i) % m] = true;
  return t;
};
const SQ64 = squaresMod(64);
const SQ63 = squaresMod(63);
const SQ65 = squaresMod(65);
const SQ11 = squaresMod(11);

function isSquare(n: bigint): boolean {
  if (n < 0n) return false;
  if (!SQ64[Number(n & 63n)]) return false;
  const r = Number(n % 45045n); // 63 * 65 * 11
  if (!SQ63[r % 63] || !SQ65[r % 65] || !SQ11[r % 11]) return false;
  const s = isqrt(n);
  return s * s === n;
}

/**
 * Fermat's method: n = a² - b² = (a - b)(a + b). From a = ceil(sqrt(n)) it finds factors whose
 * distance is small next to n^(1/4) in few rounds; honest key generation never makes such keys.
 */
function fermatFactorable(n: bigint, rounds: number): boolean {
  let a = isqrt(n);
  if (a * a < n) a += 1n;
  let b2 = a * a - n;
  for (let i = 0; i < rounds; i++) {
    if (isSquare(b2)) {
      const b = isqrt(b2);
      // a - b = 1 would be the trivial factorisation 1 · n (n = ((n+1)/2)² - ((n-1)/2)²).
      return a - b > 1n;
    }
    b2 += 2n * a + 1n; // (a+1)² - n
    a += 1n;
  }
  return false;
}

// ---------- EC ----------

interface Curve {
  name: string;
  size: number;
  p: bigint;
  b: bigint;
}

// Short Weierstrass y² = x³ - 3x + b over GF(p) (FIPS 186-4 D.1.2). Both curves have prime order
// (cofactor 1), so a point on the curve that is not the identity has the right order: SP 800-56A
// §5.6.2.3.3 step 4 follows from steps 1-3.
const CURVES: Record<string, Curve> = {
  'ec-p256': {
    name: 'P-256',
    size: 32,
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  },
  'ec-p384': {
    name: 'P-384',
    size: 48,
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
  },
};

function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let result = 1n;
  let b = base % m;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
  }
  return result;
}

function checkEc(keyAlgorithm: string, point: Buffer): KeyCheckResult | null {
  const curve = CURVES[keyAlgorithm];
  if (!curve) {
    const name = keyAlgorithm === 'ec-p521' ? 'P-521' : keyAlgorithm.replace(/^ec-/, 'with OID ');
    return refuse('ecCurve', `the EC curve ${name} is not allowed; only P-256 and P-384 are`);
  }
  const bad = (why: string): KeyCheckResult => refuse('ecPoint', `the ${curve.name} public key is not a valid point: ${why}`);
  const { p, b, size } = curve;
  const form = point[0];
  if (point.length === 1 && form === 0x00) return bad('it is the point at infinity');
  const xBytes = point.subarray(1, 1 + size);
  if (form === 0x04) {
    if (point.length !== 1 + 2 * size) return bad(`an uncompressed point must be ${1 + 2 * size} bytes, not ${point.length}`);
  } else if (form === 0x02 || form === 0x03) {
    if (point.length !== 1 + size) return bad(`a compressed point must be ${1 + size} bytes, not ${point.length}`);
  } else {
    return bad(`unsupported point form 0x${(form ?? 0).toString(16).padStart(2, '0')}`);
  }
  const x = BigInt(`0x${xBytes.toString('hex')}`);
  if (x >= p) return bad('x is not below the field prime');
  const rhs = (((x * x) % p) * x - 3n * x + b + 3n * p) % p;
  if (form === 0x04) {
    const y = BigInt(`0x${point.subarray(1 + size).toString('hex')}`);
    if (y >= p) return bad('y is not below the field prime');
    if ((y * y) % p !== rhs) return bad('it is not on the curve');
    return null;
  }
  // Compressed: x must have a square root of x³ - 3x + b; p ≡ 3 (mod 4) gives it directly.
  const y = modPow(rhs, (p + 1n) / 4n, p);
  if ((y * y) % p !== rhs) return bad('no point on the curve has this x');
  if (y === 0n && form === 0x03) return bad('no point on the curve has this x with an odd y');
  return null;
}
