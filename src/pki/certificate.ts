import { createHash, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type { ExtendedKeyUsage, KeyAlgorithm, KeyUsage } from '../core/types.js';
import {
  bitString,
  boolean,
  children,
  content,
  expectTag,
  explicit,
  implicitPrimitive,
  nullValue,
  octetString,
  oid,
  readNode,
  sequence,
  smallInteger,
  tlv,
  time,
  unsignedInteger,
} from './der.js';
import { ipToBytes } from './ip.js';
import { OID, SIGNATURE_HASH, SIGNING_ALGORITHM } from './oids.js';

export interface SubjectAltNameSet {
  dns: string[];
  ip: string[];
  email: string[];
  uri: string[];
}

export interface CertificateProfile {
  /** Unsigned big-endian magnitude. */
  serial: Buffer;
  issuerDer: Buffer;
  subjectDer: Buffer;
  spkiDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  ca?: { pathLength?: number };
  keyUsage: KeyUsage[];
  extendedKeyUsage: ExtendedKeyUsage[];
  san?: SubjectAltNameSet;
  /** Omit to derive it from the public key (RFC 5280 method 1). */
  subjectKeyId?: Buffer;
  authorityKeyId?: Buffer;
  crlUrls?: string[];
  ocspUrls?: string[];
  caIssuerUrls?: string[];
  /** id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1), for delegated OCSP signing certificates. */
  ocspNoCheck?: boolean;
}

export interface Signer {
  key: KeyObject;
  algorithm: KeyAlgorithm;
}

/**
 * A key this process cannot read (it stays in a PKCS#11 token): it signs the to-be-signed bytes
 * itself and answers the signature as X.509 carries it (ECDSA as a DER Ecdsa-Sig-Value, RSA as is).
 */
export interface DelegatedSigner {
  algorithm: KeyAlgorithm;
  sign(tbs: Buffer): Promise<Buffer>;
}

export type AnySigner = Signer | DelegatedSigner;

export function isDelegated(signer: AnySigner): signer is DelegatedSigner {
  return typeof (signer as Partial<DelegatedSigner>).sign === 'function';
}

/**
 * The signature over `tbs`: a KeyObject's on libuv's thread pool (so the event loop stays free),
 * a delegated signer's wherever it computes it.
 */
export function signTbs(tbs: Buffer, signer: AnySigner): Promise<Buffer> {
  if (isDelegated(signer)) return signer.sign(tbs);
  const { hash } = signatureAlgorithmFor(signer.algorithm);
  return new Promise((resolve, reject) => {
    cryptoSign(hash, tbs, { key: signer.key, dsaEncoding: 'der' }, (err, signature) => {
      if (err) reject(err);
      else resolve(signature);
    });
  });
}

const KEY_USAGE_BITS: Record<KeyUsage, number> = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
};

/** 128 random bits, positive, no leading zero byte (so the encoded length is stable). */
export function randomSerial(): Buffer {
  for (;;) {
    const b = randomBytes(16);
    if (b[0] !== 0) return b;
  }
}

const SIGNATURE_ALGORITHMS = new Map<KeyAlgorithm, { der: Buffer; hash: string }>();

/** The AlgorithmIdentifier a key of this type signs under (encoded once), and its hash. */
export function signatureAlgorithmFor(alg: KeyAlgorithm): { der: Buffer; hash: string } {
  let v = SIGNATURE_ALGORITHMS.get(alg);
  if (v) return v;
  const id = SIGNING_ALGORITHM[alg];
  if (!id) throw new Error(`no signature algorithm for key type ${String(alg)}`);
  // RSA's parameters are an explicit NULL (RFC 4055 §5); ECDSA's are absent (RFC 5758 §3.2).
  const der = id === OID.sha256WithRSAEncryption ? sequence(oid(id), nullValue()) : sequence(oid(id));
  SIGNATURE_ALGORITHMS.set(alg, (v = { der, hash: SIGNATURE_HASH[id] as string }));
  return v;
}

/** The subjectPublicKey BIT STRING's value, without its unused-bits octet. */
export function publicKeyBits(spkiDer: Buffer): Buffer {
  const [, keyBits] = children(spkiDer, expectTag(readNode(spkiDer, 0), 0x30, 'SubjectPublicKeyInfo'));
  return content(spkiDer, expectTag(keyBits, 0x03, 'subjectPublicKey')).subarray(1);
}

/** SHA-1 over the subjectPublicKey bits: RFC 5280 §4.2.1.2 method (1). */
export function keyIdentifier(spkiDer: Buffer): Buffer {
  return createHash('sha1').update(publicKeyBits(spkiDer)).digest();
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

function keyUsageValue(usages: KeyUsage[]): Buffer {
  let bits = 0;
  for (const u of usages) bits |= 0x80 >> KEY_USAGE_BITS[u];
  let unused = 0;
  while (unused < 7 && (bits & (1 << unused)) === 0) unused++;
  return bitString(Buffer.from([bits]), bits === 0 ? 0 : unused);
}

function generalNames(san: SubjectAltNameSet): Buffer {
  const parts: Buffer[] = [];
  for (const d of san.dns) parts.push(implicitPrimitive(2, Buffer.from(d, 'latin1')));
  for (const ip of san.ip) {
    const bytes = ipToBytes(ip);
    if (!bytes) throw new Error(`not an IP address: ${ip}`);
    parts.push(implicitPrimitive(7, bytes));
  }
  for (const e of san.email) parts.push(implicitPrimitive(1, Buffer.from(e, 'latin1')));
  for (const u of san.uri) parts.push(implicitPrimitive(6, Buffer.from(u, 'latin1')));
  return sequence(...parts);
}

function accessDescriptions(method: string, urls: string[]): Buffer[] {
  return urls.map((u) => sequence(oid(method), implicitPrimitive(6, Buffer.from(u, 'latin1'))));
}

const EMPTY_NAME = Buffer.from([0x30, 0x00]);

// basicConstraints, keyUsage and extKeyUsage repeat for every certificate of a product: encode
// each combination once.
const fixedExtensionCache = new Map<string, Buffer[]>();

function fixedExtensions(p: CertificateProfile): Buffer[] {
  const key = `${p.ca ? `ca:${p.ca.pathLength ?? ''}` : 'ee'}|${p.keyUsage.join()}|${p.extendedKeyUsage.join()}`;
  let exts = fixedExtensionCache.get(key);
  if (exts) return exts;
  exts = [
    extension(
      OID.basicConstraints,
      true,
      p.ca ? sequence(boolean(true), ...(p.ca.pathLength === undefined ? [] : [smallInteger(p.ca.pathLength)])) : sequence(),
    ),
  ];
  if (p.keyUsage.length) exts.push(extension(OID.keyUsage, true, keyUsageValue(p.keyUsage)));
  if (p.extendedKeyUsage.length) {
    exts.push(extension(OID.extKeyUsage, false, sequence(...p.extendedKeyUsage.map((u) => oid(OID[u])))));
  }
  if (fixedExtensionCache.size < 256) fixedExtensionCache.set(key, exts);
  return exts;
}

function extensions(p: CertificateProfile): Buffer {
  const exts: Buffer[] = [...fixedExtensions(p)];
  const san = p.san;
  if (san && san.dns.length + san.ip.length + san.email.length + san.uri.length > 0) {
    // With an empty subject the SAN carries the identity and must be critical (RFC 5280 §4.2.1.6).
    exts.push(extension(OID.subjectAltName, p.subjectDer.equals(EMPTY_NAME), generalNames(san)));
  }
  exts.push(extension(OID.subjectKeyIdentifier, false, octetString(p.subjectKeyId ?? keyIdentifier(p.spkiDer))));
  if (p.authorityKeyId) exts.push(extension(OID.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, p.authorityKeyId))));
  if (p.crlUrls?.length) {
    // DistributionPoint { distributionPoint [0] { fullName [0] GeneralNames } }
    const points = p.crlUrls.map((u) => sequence(explicit(0, tlv(0xa0, implicitPrimitive(6, Buffer.from(u, 'latin1'))))));
    exts.push(extension(OID.cRLDistributionPoints, false, sequence(...points)));
  }
  const aia = [...accessDescriptions(OID.ocsp, p.ocspUrls ?? []), ...accessDescriptions(OID.caIssuers, p.caIssuerUrls ?? [])];
  if (aia.length) exts.push(extension(OID.authorityInfoAccess, false, sequence(...aia)));
  if (p.ocspNoCheck) exts.push(extension(OID.ocspNoCheck, false, nullValue()));
  return explicit(3, sequence(...exts));
}

export function buildTbsCertificate(p: CertificateProfile, signatureAlgorithmDer: Buffer): Buffer {
  return sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(p.serial),
    signatureAlgorithmDer,
    p.issuerDer,
    sequence(time(p.notBefore), time(p.notAfter)),
    p.subjectDer,
    p.spkiDer,
    extensions(p),
  );
}

/** Builds and signs a certificate with native crypto. Returns DER. */
export function signCertificate(p: CertificateProfile, signer: Signer): Buffer {
  const alg = signatureAlgorithmFor(signer.algorithm);
  const tbs = buildTbsCertificate(p, alg.der);
  const signature = cryptoSign(alg.hash, tbs, { key: signer.key, dsaEncoding: 'der' });
  return sequence(tbs, alg.der, bitString(signature));
}

/** The same, signed off the event loop: on libuv's thread pool, or by a delegated signer (a token). */
export async function signCertificateAsync(p: CertificateProfile, signer: AnySigner): Promise<Buffer> {
  const alg = signatureAlgorithmFor(signer.algorithm);
  const tbs = buildTbsCertificate(p, alg.der);
  return sequence(tbs, alg.der, bitString(await signTbs(tbs, signer)));
}
