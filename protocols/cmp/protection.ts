// PKIProtection (RFC 9810 §5.1.3): a MAC keyed from a shared secret (PasswordBasedMac, RFC 4211
// §4.4; PBMAC1, RFC 9481 §6.1.2), or a signature by the sender's key, over the protected part's
// DER. The MAC parameters come from the peer, so each is bounded before any work is done.
import { constants, createHmac, hash, pbkdf2Sync, randomBytes, sign as cryptoSign, timingSafeEqual, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { algorithmOf, elementsOf, isContext, isSequence, octetsOf, parseBer, smallIntOf, toDer } from '../../src/pki/asn1.js';
import { DerError } from '../../src/pki/der.js';
import { OID, SIGNATURE_HASH } from '../../src/pki/oids.js';
import { CmpDecodeError } from './asn1Util.js';
import type { AlgorithmId } from './messages.js';

/**
 * A stranger chooses the iteration count and the key is derived on the event loop before the
 * secret is known to match: bounded at 20 times OpenSSL's PasswordBasedMac default (500) and 10
 * times RFC 8018's PBKDF2 minimum (1,000), about 10 ms of CPU at most.
 */
export const MAX_ITERATIONS = 10_000;
export const MAX_SALT_BYTES = 64;
export const MAX_KEY_LENGTH = 64;

/** One-way functions (PBM's owf) by OID, as node:crypto names them. */
const HASH: Record<string, string> = { [OID.sha1]: 'sha1', [OID.sha224]: 'sha224', [OID.sha256]: 'sha256', [OID.sha384]: 'sha384', [OID.sha512]: 'sha512' };
/** HMACs by OID (PBM's mac, PBKDF2's prf, PBMAC1's messageAuthScheme), by the hash they use. */
const HMAC: Record<string, string> = {
  [OID.hmacSha1]: 'sha1',
  [OID.hmacWithSHA1]: 'sha1',
  [OID.hmacWithSHA224]: 'sha224',
  [OID.hmacWithSHA256]: 'sha256',
  [OID.hmacWithSHA384]: 'sha384',
  [OID.hmacWithSHA512]: 'sha512',
};
const HMAC_OID_OF: Record<string, string> = { sha1: OID.hmacWithSHA1, sha224: OID.hmacWithSHA224, sha256: OID.hmacWithSHA256, sha384: OID.hmacWithSHA384, sha512: OID.hmacWithSHA512 };
const HASH_OID_OF: Record<string, string> = Object.fromEntries(Object.entries(HASH).map(([oid, name]) => [name, oid]));
const HASH_BYTES: Record<string, number> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

export type MacAlgorithm =
  | { kind: 'pbm'; alg: AlgorithmId; salt: Buffer; owf: string; iterationCount: number; mac: string }
  | { kind: 'pbmac1'; alg: AlgorithmId; salt: Buffer; iterationCount: number; keyLength: number; prf: string; mac: string };

const badAlg = (message: string): never => {
  throw new CmpDecodeError('badAlg', message);
};

function hashOf(table: Record<string, string>, alg: AlgorithmId, what: string): string {
  // The hash and HMAC identifiers take no parameters, or NULL.
  if (alg.paramsDer && !(alg.paramsDer.length === 2 && alg.paramsDer[0] === 0x05 && alg.paramsDer[1] === 0)) badAlg(`${what} has unexpected parameters`);
  return Object.hasOwn(table, alg.oid) ? (table[alg.oid] as string) : badAlg(`${what} ${alg.oid} is not supported`);
}

function bounded(salt: Buffer, iterationCount: number): void {
  if (salt.length > MAX_SALT_BYTES) badAlg(`the MAC salt is longer than ${MAX_SALT_BYTES} bytes`);
  if (iterationCount < 1 || iterationCount > MAX_ITERATIONS) badAlg(`the MAC iteration count must be between 1 and ${MAX_ITERATIONS}`);
}

/** The MAC a protectionAlg names, with its parameters checked and bounded; CmpDecodeError (badAlg) otherwise. */
export function readMacAlgorithm(alg: AlgorithmId): MacAlgorithm {
  if (alg.oid !== OID.passwordBasedMac && alg.oid !== OID.pbmac1) badAlg(`${alg.oid} is not a MAC certgate verifies (PasswordBasedMac, PBMAC1)`);
  if (!alg.paramsDer) return badAlg('the MAC algorithm has no parameters');
  try {
    return alg.oid === OID.passwordBasedMac ? readPbm(alg, alg.paramsDer) : readPbmac1(alg, alg.paramsDer);
  } catch (e) {
    if (e instanceof DerError || e instanceof RangeError || e instanceof TypeError) return badAlg(`malformed MAC parameters: ${e.message}`);
    throw e;
  }
}

function readPbm(alg: AlgorithmId, paramsDer: Buffer): MacAlgorithm {
  // PBMParameter ::= SEQUENCE { salt OCTET STRING, owf AlgorithmIdentifier, iterationCount INTEGER, mac AlgorithmIdentifier }
  const block = parseBer(paramsDer, 'PBMParameter');
  if (!isSequence(block)) return badAlg('PBMParameter is not a SEQUENCE');
  const [salt, owf, count, mac, ...extra] = elementsOf(block, 'PBMParameter', 4);
  if (!mac || extra.length) return badAlg('malformed PBMParameter');
  const parsed = {
    kind: 'pbm' as const,
    alg,
    salt: octetsOf(salt ?? null, 'salt'),
    owf: hashOf(HASH, algorithmOf(owf ?? null, 'owf'), 'owf'),
    iterationCount: smallIntOf(count ?? null, 'iterationCount'),
    mac: hashOf(HMAC, algorithmOf(mac, 'mac'), 'mac'),
  };
  bounded(parsed.salt, parsed.iterationCount);
  return parsed;
}

function readPbmac1(alg: AlgorithmId, paramsDer: Buffer): MacAlgorithm {
  // PBMAC1-params ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier, messageAuthScheme AlgorithmIdentifier }
  const block = parseBer(paramsDer, 'PBMAC1-params');
  if (!isSequence(block)) return badAlg('PBMAC1-params is not a SEQUENCE');
  const [kdfBlock, macBlock, ...extra] = elementsOf(block, 'PBMAC1-params', 2);
  if (!macBlock || extra.length) return badAlg('malformed PBMAC1-params');
  const kdf = algorithmOf(kdfBlock ?? null, 'keyDerivationFunc');
  if (kdf.oid !== OID.pbkdf2 || !kdf.paramsDer) return badAlg('PBMAC1 is supported with PBKDF2 only');
  const mac = hashOf(HMAC, algorithmOf(macBlock, 'messageAuthScheme'), 'messageAuthScheme');
  // PBKDF2-params ::= SEQUENCE { salt CHOICE { specified OCTET STRING, ... }, iterationCount, keyLength OPTIONAL, prf DEFAULT hmacWithSHA1 }
  const params = parseBer(kdf.paramsDer, 'PBKDF2-params');
  if (!isSequence(params)) return badAlg('PBKDF2-params is not a SEQUENCE');
  const [salt, count, ...rest] = elementsOf(params, 'PBKDF2-params', 4);
  if (!(salt instanceof asn1js.OctetString)) return badAlg('PBKDF2 salt must be specified as an OCTET STRING');
  const keyLength = rest[0] instanceof asn1js.Integer ? smallIntOf(rest.shift() as asn1js.AsnType, 'keyLength') : null;
  const prf = rest[0] ? hashOf(HMAC, algorithmOf(rest.shift() as asn1js.AsnType, 'prf'), 'prf') : 'sha1';
  if (rest.length) return badAlg('malformed PBKDF2-params');
  const parsed = {
    kind: 'pbmac1' as const,
    alg,
    salt: octetsOf(salt, 'salt'),
    iterationCount: smallIntOf(count ?? null, 'iterationCount'),
    // Absent, the key is as long as the HMAC's hash (RFC 8018 leaves it to the MAC).
    keyLength: keyLength ?? (HASH_BYTES[mac] as number),
    prf,
    mac,
  };
  bounded(parsed.salt, parsed.iterationCount);
  if (parsed.keyLength < 1 || parsed.keyLength > MAX_KEY_LENGTH) badAlg(`the PBKDF2 key length must be between 1 and ${MAX_KEY_LENGTH}`);
  return parsed;
}

/**
 * A MAC algorithm's key for one secret: derived once per message (the derivation is the whole
 * cost: OpenSSL's PasswordBasedMac default is 500 hash rounds), it checks the request and then
 * protects the answer.
 */
export interface MacKey {
  mac: MacAlgorithm;
  key: Buffer;
}

export function deriveMacKey(mac: MacAlgorithm, secret: string): MacKey {
  const password = Buffer.from(secret, 'utf8');
  if (mac.kind === 'pbmac1') return { mac, key: pbkdf2Sync(password, mac.salt, mac.iterationCount, mac.keyLength, mac.prf) };
  // RFC 4211 §4.4: owf applied iterationCount times to secret || salt (the one-shot hash() costs
  // half of a createHash() per round).
  let key = hash(mac.owf, Buffer.concat([password, mac.salt]), 'buffer');
  for (let i = 1; i < mac.iterationCount; i++) key = hash(mac.owf, key, 'buffer');
  return { mac, key };
}

export function macWithKey(k: MacKey, protectedPartDer: Buffer): Buffer {
  return createHmac(k.mac.mac, k.key).update(protectedPartDer).digest();
}

export function macOf(mac: MacAlgorithm, secret: string, protectedPartDer: Buffer): Buffer {
  return macWithKey(deriveMacKey(mac, secret), protectedPartDer);
}

/** True when `protection` is the MAC of the protected part under `k` (compared in constant time). */
export function macMatchesKey(k: MacKey, protectedPartDer: Buffer, protection: Buffer): boolean {
  const expected = macWithKey(k, protectedPartDer);
  return expected.length === protection.length && timingSafeEqual(expected, protection);
}

/** True when `protection` is the MAC of the protected part with `secret` (compared in constant time). */
export function macMatches(mac: MacAlgorithm, secret: string, protectedPartDer: Buffer, protection: Buffer): boolean {
  return macMatchesKey(deriveMacKey(mac, secret), protectedPartDer, protection);
}

const octets = (b: Buffer) => new asn1js.OctetString({ valueHex: b });
const oidAlg = (oid: string) => new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: oid })] });

/** A PasswordBasedMac algorithm (OpenSSL's defaults: owf sha256, mac hmac-sha1, 500 iterations). */
export function pbmAlgorithm(o: { owf?: string; mac?: string; iterationCount?: number; salt?: Buffer } = {}): MacAlgorithm {
  const owf = o.owf ?? 'sha256';
  const mac = o.mac ?? 'sha1';
  const salt = o.salt ?? randomBytes(16);
  const iterationCount = o.iterationCount ?? 500;
  const macOid = mac === 'sha1' ? OID.hmacSha1 : (HMAC_OID_OF[mac] ?? badAlg(`no HMAC with ${mac}`));
  const params = new asn1js.Sequence({ value: [octets(salt), oidAlg(HASH_OID_OF[owf] ?? badAlg(`no hash ${owf}`)), new asn1js.Integer({ value: iterationCount }), oidAlg(macOid)] });
  return { kind: 'pbm', alg: { oid: OID.passwordBasedMac, paramsDer: toDer(params) }, salt, owf, iterationCount, mac };
}

/** A PBMAC1 algorithm with PBKDF2 (RFC 9481 §6.1.2; keyLength always written; RFC 8018's 1000 iterations unless told). */
export function pbmac1Algorithm(o: { prf?: string; mac?: string; iterationCount?: number; keyLength?: number; salt?: Buffer } = {}): MacAlgorithm {
  const prf = o.prf ?? 'sha256';
  const mac = o.mac ?? 'sha256';
  const salt = o.salt ?? randomBytes(16);
  const iterationCount = o.iterationCount ?? 1000;
  const keyLength = o.keyLength ?? (HASH_BYTES[mac] as number);
  const hmacAlg = (hash: string) => oidAlg(HMAC_OID_OF[hash] ?? badAlg(`no HMAC with ${hash}`));
  const kdfParams = new asn1js.Sequence({ value: [octets(salt), new asn1js.Integer({ value: iterationCount }), new asn1js.Integer({ value: keyLength }), hmacAlg(prf)] });
  const params = new asn1js.Sequence({ value: [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID.pbkdf2 }), kdfParams] }), hmacAlg(mac)] });
  return { kind: 'pbmac1', alg: { oid: OID.pbmac1, paramsDer: toDer(params) }, salt, iterationCount, keyLength, prf, mac };
}

/** RSASSA-PSS-params' hash (the MGF1 hash and salt length must agree with it). */
function pssOf(paramsDer: Buffer | null): { hash: string; saltLength: number } {
  if (!paramsDer) return badAlg('RSASSA-PSS without parameters (SHA-1) is not accepted');
  try {
    const block = parseBer(paramsDer, 'RSASSA-PSS-params');
    if (!isSequence(block)) return badAlg('RSASSA-PSS-params is not a SEQUENCE');
    let hash = 'sha1';
    let mgfHash = 'sha1';
    let saltLength = 20;
    for (const field of elementsOf(block, 'RSASSA-PSS-params', 4)) {
      const inner = elementsOf(field, 'RSASSA-PSS field', 1)[0] ?? badAlg('empty RSASSA-PSS field');
      if (isContext(field, 0)) hash = hashOf(HASH, algorithmOf(inner, 'PSS hash'), 'PSS hash');
      else if (isContext(field, 1)) {
        const mgf = algorithmOf(inner, 'PSS mask generation');
        if (mgf.oid !== OID.mgf1 || !mgf.paramsDer) return badAlg('PSS mask generation must be MGF1');
        mgfHash = hashOf(HASH, algorithmOf(parseBer(mgf.paramsDer, 'MGF1 hash'), 'MGF1 hash'), 'MGF1 hash');
      } else if (isContext(field, 2)) saltLength = smallIntOf(inner, 'PSS salt length');
      else if (isContext(field, 3)) {
        if (smallIntOf(inner, 'PSS trailer') !== 1) badAlg('PSS trailer field must be 1');
      } else badAlg('malformed RSASSA-PSS-params');
    }
    if (hash === 'sha1' || mgfHash !== hash) badAlg('RSASSA-PSS is accepted with SHA-2 and MGF1 of the same hash');
    return { hash, saltLength };
  } catch (e) {
    if (e instanceof DerError) return badAlg(`malformed RSASSA-PSS-params: ${e.message}`);
    throw e;
  }
}

/**
 * True when `signature` is the sender's signature over the protected part. An algorithm certgate does
 * not verify is a CmpDecodeError (badAlg); a key that does not fit the algorithm is a bad signature.
 */
export function verifySignatureProtection(alg: AlgorithmId, publicKey: KeyObject, protectedPartDer: Buffer, signature: Buffer): boolean {
  if (alg.oid === OID.rsassaPss) {
    const { hash, saltLength } = pssOf(alg.paramsDer);
    if (publicKey.asymmetricKeyType !== 'rsa' && publicKey.asymmetricKeyType !== 'rsa-pss') return false;
    try {
      return cryptoVerify(hash, protectedPartDer, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, signature);
    } catch {
      return false;
    }
  }
  if (!Object.hasOwn(SIGNATURE_HASH, alg.oid)) return badAlg(`signature algorithm ${alg.oid} is not supported`);
  const hash = SIGNATURE_HASH[alg.oid] ?? null;
  const keyType = publicKey.asymmetricKeyType;
  const ecdsa = alg.oid === OID.ecdsaWithSHA256 || alg.oid === OID.ecdsaWithSHA384 || alg.oid === OID.ecdsaWithSHA512;
  const fits = alg.oid === OID.ed25519 ? keyType === 'ed25519' : ecdsa ? keyType === 'ec' : keyType === 'rsa';
  if (!fits) return false;
  try {
    return cryptoVerify(hash, protectedPartDer, { key: publicKey, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

const NULL_PARAMS = Buffer.from([0x05, 0x00]);

/** Signs protected parts with `key`: ECDSA with its curve's hash, RSA PKCS#1 v1.5 with SHA-256, Ed25519. */
export function signatureProtector(key: KeyObject): { alg: AlgorithmId; sign(protectedPartDer: Buffer): Buffer } {
  let alg: AlgorithmId;
  let hash: string | null;
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    hash = curve === 'secp384r1' ? 'sha384' : curve === 'secp521r1' ? 'sha512' : 'sha256';
    alg = { oid: hash === 'sha384' ? OID.ecdsaWithSHA384 : hash === 'sha512' ? OID.ecdsaWithSHA512 : OID.ecdsaWithSHA256, paramsDer: null };
  } else if (key.asymmetricKeyType === 'rsa') {
    hash = 'sha256';
    alg = { oid: OID.sha256WithRSAEncryption, paramsDer: NULL_PARAMS };
  } else if (key.asymmetricKeyType === 'ed25519') {
    hash = null;
    alg = { oid: OID.ed25519, paramsDer: null };
  } else {
    throw new Error(`cannot sign CMP messages with a ${String(key.asymmetricKeyType)} key`);
  }
  return { alg, sign: (protectedPartDer) => cryptoSign(hash, protectedPartDer, { key, dsaEncoding: 'der' }) };
}
