// Certificate revocation lists (RFC 5280 §5): building, parsing, verifying. Pure functions.
//
// A CA's CRL can hold hundreds of thousands of entries, so neither side builds an object tree:
// buildCrl measures every entry first and then writes them all into one preallocated buffer, and
// parseCrl walks the entries with der.ts's bounded reader (general ASN.1 libraries cap their node
// count well below what a large CRL needs).

import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { REVOCATION_REASON_CODES, type RevocationReason } from '../core/types.js';
import { type Signer, signatureAlgorithmFor } from './certificate.js';
import {
  bitString,
  children,
  content,
  decodeOid,
  DerError,
  type DerNode,
  expectTag,
  explicit,
  implicitPrimitive,
  octetString,
  oid,
  raw,
  readNode,
  readOid,
  sequence,
  smallInteger,
  tlv,
  tlvOf,
  unsignedInteger,
} from './der.js';
import { OID } from './oids.js';
import { toPem } from './pem.js';

export type { RevocationReason };

/** CRLReason names in RFC 5280 order (codes 0..10; 7 is not used). */
export const REVOCATION_REASONS: readonly RevocationReason[] = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
];

/** Name -> CRLReason code. */
export const REVOCATION_REASON_CODE: Readonly<Record<RevocationReason, number>> = REVOCATION_REASON_CODES;

/** CRLReason code -> name. */
export const REVOCATION_REASON_BY_CODE: ReadonlyMap<number, RevocationReason> = new Map(
  REVOCATION_REASONS.map((r) => [REVOCATION_REASON_CODES[r], r] as const),
);

export interface CrlEntry {
  /** Lower-case hex of the positive serial magnitude, as certgate stores it. */
  serialHex: string;
  revokedAt: Date;
  reason: RevocationReason | null;
  invalidityDate: Date | null;
}

export interface CrlInput {
  /** The issuer's subject Name, DER. */
  issuerDer: Buffer;
  /** The issuer's subjectKeyIdentifier; null leaves out authorityKeyIdentifier. */
  authorityKeyId: Buffer | null;
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: CrlEntry[];
}

export interface ParsedCrl {
  /** The issuer Name, DER (a view into the input). */
  issuerDer: Buffer;
  crlNumber: bigint | null;
  thisUpdate: Date;
  nextUpdate: Date | null;
  /** Dotted OID of the signature algorithm. */
  signatureAlgorithm: string;
  /** The signed TBSCertList, DER (a view into the input). */
  tbsDer: Buffer;
  signature: Buffer;
  entries: CrlEntry[];
}

const CRL_OID = {
  cRLNumber: '2.5.29.20',
  reasonCode: '2.5.29.21',
  invalidityDate: '2.5.29.24',
} as const;

/** Hard bound on entries when parsing; far above any real CRL, and still a bound. */
const MAX_CRL_ENTRIES = 10_000_000;

export function crlToPem(der: Uint8Array): string {
  return toPem('X509 CRL', der);
}

// ---------- building ----------

function headerLength(len: number): number {
  return len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : len < 0x1000000 ? 5 : 6;
}

function writeHeader(out: Buffer, pos: number, tag: number, len: number): number {
  out[pos++] = tag;
  if (len < 0x80) {
    out[pos++] = len;
    return pos;
  }
  const n = headerLength(len) - 2;
  out[pos++] = 0x80 | n;
  for (let i = n - 1; i >= 0; i--) out[pos++] = (len / 256 ** i) & 0xff;
  return pos;
}

function extension(id: string, value: Buffer): Buffer {
  return sequence(oid(id), octetString(value));
}

/** The reasonCode entry extension for each code, encoded once. */
const REASON_EXTENSIONS: ReadonlyMap<RevocationReason, Buffer> = new Map(
  REVOCATION_REASONS.map((r) => [r, extension(CRL_OID.reasonCode, tlv(0x0a, Buffer.from([REVOCATION_REASON_CODES[r]])))] as const),
);

/** invalidityDate extension up to the GeneralizedTime's 15 characters: SEQUENCE { OID, OCTET STRING { 18 0f ... } }. */
const INVALIDITY_PREFIX = (() => {
  const oidDer = oid(CRL_OID.invalidityDate);
  const timeLen = 17;
  const octetLen = 2 + timeLen;
  const seqLen = oidDer.length + octetLen;
  return Buffer.concat([Buffer.from([0x30, seqLen]), oidDer, Buffer.from([0x04, timeLen, 0x18, 15])]);
})();
const INVALIDITY_EXT_LENGTH = INVALIDITY_PREFIX.length + 15;

function checkDate(d: Date, what: string): number {
  const ms = d instanceof Date ? d.getTime() : NaN;
  if (!Number.isFinite(ms)) throw new DerError(`${what}: invalid date`);
  return ms;
}

function isUtcTimeYear(year: number): boolean {
  return year >= 1950 && year < 2050;
}

function put2(out: Buffer, pos: number, v: number): number {
  out[pos] = 0x30 + ((v / 10) | 0);
  out[pos + 1] = 0x30 + (v % 10);
  return pos + 2;
}

/** Writes YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ (content only, whole seconds). */
function writeTimeDigits(out: Buffer, pos: number, d: Date, generalized: boolean): number {
  const year = d.getUTCFullYear();
  if (generalized) {
    pos = put2(out, pos, (year / 100) | 0);
  }
  pos = put2(out, pos, year % 100);
  pos = put2(out, pos, d.getUTCMonth() + 1);
  pos = put2(out, pos, d.getUTCDate());
  pos = put2(out, pos, d.getUTCHours());
  pos = put2(out, pos, d.getUTCMinutes());
  pos = put2(out, pos, d.getUTCSeconds());
  out[pos] = 0x5a; // Z
  return pos + 1;
}

/** Time per RFC 5280 §4.1.2.5: UTCTime for 1950..2049, GeneralizedTime otherwise. */
function timeLength(d: Date, what: string): number {
  checkDate(d, what);
  const year = d.getUTCFullYear();
  if (isUtcTimeYear(year)) return 15;
  if (year < 0 || year > 9999) throw new DerError(`${what}: year ${year} cannot be encoded`);
  return 17;
}

function writeTime(out: Buffer, pos: number, d: Date): number {
  const generalized = !isUtcTimeYear(d.getUTCFullYear());
  out[pos] = generalized ? 0x18 : 0x17;
  out[pos + 1] = generalized ? 15 : 13;
  return writeTimeDigits(out, pos + 2, d, generalized);
}

function encodeTime(d: Date, what: string): Buffer {
  const out = Buffer.allocUnsafe(timeLength(d, what));
  writeTime(out, 0, d);
  return out;
}

const HEX = /^[0-9a-fA-F]+$/;

/** Normalizes a serial to even-length lower-case hex without leading zero bytes. */
function normalizeSerialHex(hex: string): string {
  if (typeof hex !== 'string' || !HEX.test(hex)) throw new DerError(`bad serial number "${String(hex).slice(0, 80)}"`);
  let h = hex.length % 2 ? `0${hex}` : hex;
  let start = 0;
  while (start < h.length - 2 && h.charCodeAt(start) === 0x30 && h.charCodeAt(start + 1) === 0x30) start += 2;
  if (start) h = h.slice(start);
  if (h === '00') throw new DerError('serial number must be positive');
  return h.toLowerCase();
}

function crlNumberInteger(n: bigint): Buffer {
  if (typeof n !== 'bigint' || n < 0n) throw new DerError('CRL number must be a non-negative bigint');
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const der = unsignedInteger(Buffer.from(hex, 'hex'));
  // RFC 5280 §5.2.3: conforming CAs MUST NOT use cRLNumber values longer than 20 octets.
  if (der.length - 2 > 20) throw new DerError('CRL number longer than 20 octets');
  return der;
}

/** The revokedCertificates SEQUENCE, written into one buffer; null when there are no entries. */
function encodeRevokedCertificates(entries: readonly CrlEntry[]): Buffer | null {
  const n = entries.length;
  if (n === 0) return null;
  const serials: string[] = new Array<string>(n);
  const serialLens = new Uint32Array(n);
  const extLens = new Uint32Array(n);
  const entryLens = new Uint32Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const e = entries[i] as CrlEntry;
    const hex = normalizeSerialHex(e.serialHex);
    serials[i] = hex;
    const highBit = parseInt(hex.slice(0, 2), 16) >= 0x80 ? 1 : 0;
    const serialLen = hex.length / 2 + highBit;
    serialLens[i] = serialLen;
    let extLen = 0;
    if (e.reason !== null && e.reason !== 'unspecified') {
      const ext = REASON_EXTENSIONS.get(e.reason);
      if (!ext) throw new DerError(`unknown revocation reason "${String(e.reason)}"`);
      extLen += ext.length;
    }
    if (e.invalidityDate !== null) {
      checkDate(e.invalidityDate, 'invalidityDate');
      const y = e.invalidityDate.getUTCFullYear();
      if (y < 0 || y > 9999) throw new DerError(`invalidityDate: year ${y} cannot be encoded`);
      extLen += INVALIDITY_EXT_LENGTH;
    }
    extLens[i] = extLen;
    let len = headerLength(serialLen) + serialLen + timeLength(e.revokedAt, 'revocationDate');
    if (extLen) len += headerLength(extLen) + extLen;
    entryLens[i] = len;
    total += headerLength(len) + len;
  }

  const out = Buffer.allocUnsafe(headerLength(total) + total);
  let pos = writeHeader(out, 0, 0x30, total);
  for (let i = 0; i < n; i++) {
    const e = entries[i] as CrlEntry;
    pos = writeHeader(out, pos, 0x30, entryLens[i] as number);
    const serialLen = serialLens[i] as number;
    const hex = serials[i] as string;
    pos = writeHeader(out, pos, 0x02, serialLen);
    if (serialLen !== hex.length / 2) out[pos++] = 0;
    pos += out.write(hex, pos, 'hex');
    pos = writeTime(out, pos, e.revokedAt);
    const extLen = extLens[i] as number;
    if (extLen) {
      pos = writeHeader(out, pos, 0x30, extLen);
      if (e.reason !== null && e.reason !== 'unspecified') pos += (REASON_EXTENSIONS.get(e.reason) as Buffer).copy(out, pos);
      if (e.invalidityDate !== null) {
        pos += INVALIDITY_PREFIX.copy(out, pos);
        pos = writeTimeDigits(out, pos, e.invalidityDate, true);
      }
    }
  }
  if (pos !== out.length) throw new Error(`CRL encoder length mismatch: ${pos} != ${out.length}`);
  return out;
}

/**
 * A signed v2 CRL (DER CertificateList). Entries keep the given order; reasonCode is left out
 * for null and 'unspecified' (RFC 5280 §5.3.1), invalidityDate is written when known.
 */
export function buildCrl(input: CrlInput, signer: Signer): Buffer {
  const alg = signatureAlgorithmFor(signer.algorithm);
  const revoked = encodeRevokedCertificates(input.entries);
  const crlExts: Buffer[] = [];
  if (input.authorityKeyId) {
    crlExts.push(extension(OID.authorityKeyIdentifier, sequence(implicitPrimitive(0, input.authorityKeyId))));
  }
  crlExts.push(extension(CRL_OID.cRLNumber, crlNumberInteger(input.crlNumber)));
  const parts: Buffer[] = [
    smallInteger(1), // v2
    alg.der,
    input.issuerDer,
    encodeTime(input.thisUpdate, 'thisUpdate'),
    encodeTime(input.nextUpdate, 'nextUpdate'),
  ];
  if (revoked) parts.push(revoked);
  parts.push(explicit(0, sequence(...crlExts)));
  const tbs = tlvOf(0x30, parts);
  const signature = cryptoSign(alg.hash, tbs, { key: signer.key, dsaEncoding: 'der' });
  return tlvOf(0x30, [tbs, alg.der, bitString(signature)]);
}

// ---------- parsing ----------

function digits2(buf: Uint8Array, pos: number): number {
  const a = (buf[pos] as number) - 0x30;
  const b = (buf[pos + 1] as number) - 0x30;
  if (a < 0 || a > 9 || b < 0 || b > 9) throw new DerError('bad time value');
  return a * 10 + b;
}

/** Strict UTCTime / GeneralizedTime (…Z, whole seconds), with range checks on every field. */
function readTime(buf: Uint8Array, node: DerNode | undefined, what: string): Date {
  if (!node) throw new DerError(`missing ${what}`);
  let pos = node.contentStart;
  const len = node.end - pos;
  let year: number;
  if (node.tag === 0x17 && len === 13) {
    const yy = digits2(buf, pos);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
    pos += 2;
  } else if (node.tag === 0x18 && len === 15) {
    year = digits2(buf, pos) * 100 + digits2(buf, pos + 2);
    pos += 4;
  } else throw new DerError(`${what}: bad time value`);
  const month = digits2(buf, pos);
  const day = digits2(buf, pos + 2);
  const hour = digits2(buf, pos + 4);
  const minute = digits2(buf, pos + 6);
  const second = digits2(buf, pos + 8);
  if (buf[pos + 10] !== 0x5a) throw new DerError(`${what}: time must end in Z`);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    throw new DerError(`${what}: time field out of range`);
  }
  // setUTCFullYear, unlike Date.UTC, leaves years 0..99 alone.
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  if (d.getUTCDate() !== day) throw new DerError(`${what}: no such day`);
  return d;
}

/** Positive INTEGER content -> lower-case hex without leading zero bytes. */
function serialHexOf(buf: Uint8Array, node: DerNode): string {
  const len = node.end - node.contentStart;
  if (len === 0) throw new DerError('empty serial number');
  if ((buf[node.contentStart] as number) & 0x80) throw new DerError('negative serial number');
  let start = node.contentStart;
  while (start < node.end - 1 && buf[start] === 0) start++;
  if (start === node.end - 1 && buf[start] === 0) throw new DerError('serial number must be positive');
  return Buffer.from(buf.buffer, buf.byteOffset + start, node.end - start).toString('hex');
}

interface ParsedExtension {
  /** OID content bytes: compared as bytes, decoded only for messages. */
  id: Buffer;
  critical: boolean;
  value: Buffer;
}

const oidContent = (dotted: string): Buffer => oid(dotted).subarray(2);
const REASON_CODE_ID = oidContent(CRL_OID.reasonCode);
const INVALIDITY_DATE_ID = oidContent(CRL_OID.invalidityDate);
const CRL_NUMBER_ID = oidContent(CRL_OID.cRLNumber);

function readExtensions(buf: Uint8Array, node: DerNode, what: string): ParsedExtension[] {
  const out: ParsedExtension[] = [];
  const seen = new Set<string>();
  const list = children(buf, expectTag(node, 0x30, what), 1000);
  if (list.length === 0) throw new DerError(`${what}: empty`);
  for (const ext of list) {
    const parts = children(buf, expectTag(ext, 0x30, 'Extension'));
    if (parts.length < 2 || parts.length > 3) throw new DerError('Extension: wrong number of fields');
    const id = content(buf, expectTag(parts[0], 0x06, 'extnID'));
    const key = id.toString('latin1');
    let critical = false;
    if (parts.length === 3) {
      const c = content(buf, expectTag(parts[1], 0x01, 'critical'));
      if (c.length !== 1 || (c[0] !== 0 && c[0] !== 0xff)) throw new DerError('critical: bad BOOLEAN');
      critical = c[0] === 0xff;
    }
    const value = content(buf, expectTag(parts[parts.length - 1], 0x04, 'extnValue'));
    if (seen.has(key)) throw new DerError(`${what}: duplicate extension ${decodeOid(id)}`);
    seen.add(key);
    out.push({ id, critical, value });
  }
  return out;
}

/** The single element an extension value must hold, with nothing after it. */
function single(value: Buffer, tag: number, what: string): DerNode {
  const node = expectTag(readNode(value, 0), tag, what);
  if (node.end !== value.length) throw new DerError(`${what}: trailing data`);
  return node;
}

function readEntry(buf: Uint8Array, node: DerNode): CrlEntry {
  const f = children(buf, expectTag(node, 0x30, 'revoked certificate'));
  if (f.length < 2 || f.length > 3) throw new DerError('revoked certificate: wrong number of fields');
  const serialHex = serialHexOf(buf, expectTag(f[0], 0x02, 'userCertificate'));
  const revokedAt = readTime(buf, f[1], 'revocationDate');
  let reason: RevocationReason | null = null;
  let invalidityDate: Date | null = null;
  if (f[2]) {
    for (const ext of readExtensions(buf, f[2], 'crlEntryExtensions')) {
      if (ext.id.equals(REASON_CODE_ID)) {
        const c = content(ext.value, single(ext.value, 0x0a, 'reasonCode'));
        const r = c.length === 1 ? REVOCATION_REASON_BY_CODE.get(c[0] as number) : undefined;
        if (!r) throw new DerError('reasonCode: unknown CRLReason');
        reason = r;
      } else if (ext.id.equals(INVALIDITY_DATE_ID)) {
        invalidityDate = readTime(ext.value, single(ext.value, 0x18, 'invalidityDate'), 'invalidityDate');
      } else if (ext.critical) {
        // certificateIssuer (indirect CRLs) and anything else we cannot honour.
        throw new DerError(`unsupported critical CRL entry extension ${decodeOid(ext.id)}`);
      }
    }
  }
  return { serialHex, revokedAt, reason, invalidityDate };
}

/**
 * Parses a DER CertificateList (v1 or v2). Strict and bounded: anything malformed throws
 * DerError. Critical extensions it does not understand (delta CRLs, issuing distribution
 * points, indirect CRL entries) also throw, since ignoring them could misreport status.
 * The signature is not checked here: see verifyCrlSignature.
 */
export function parseCrl(der: Buffer): ParsedCrl {
  const top = expectTag(readNode(der, 0), 0x30, 'CertificateList');
  if (top.end !== der.length) throw new DerError('trailing data after CertificateList');
  const outer = children(der, top, 3);
  if (outer.length !== 3) throw new DerError('CertificateList: wrong number of fields');
  const tbsNode = expectTag(outer[0], 0x30, 'TBSCertList');
  const outerAlg = expectTag(outer[1], 0x30, 'signatureAlgorithm');
  const sigNode = expectTag(outer[2], 0x03, 'signatureValue');

  const f = children(der, tbsNode, 16);
  let i = 0;
  if (f[0]?.tag === 0x02) {
    const v = content(der, f[0]);
    if (v.length !== 1 || v[0] !== 1) throw new DerError('unsupported CRL version');
    i++;
  }
  const innerAlg = expectTag(f[i++], 0x30, 'signature');
  if (!raw(der, innerAlg).equals(raw(der, outerAlg))) throw new DerError('signature algorithms differ');
  const signatureAlgorithm = readOid(der, children(der, outerAlg, 2)[0], 'algorithm');
  const issuer = expectTag(f[i++], 0x30, 'issuer');
  const thisUpdate = readTime(der, f[i++], 'thisUpdate');
  let nextUpdate: Date | null = null;
  if (f[i]?.tag === 0x17 || f[i]?.tag === 0x18) nextUpdate = readTime(der, f[i++], 'nextUpdate');

  const entries: CrlEntry[] = [];
  if (f[i]?.tag === 0x30) {
    const list = children(der, f[i++] as DerNode, MAX_CRL_ENTRIES);
    entries.length = list.length;
    for (let k = 0; k < list.length; k++) entries[k] = readEntry(der, list[k] as DerNode);
  }

  let crlNumber: bigint | null = null;
  if (f[i]?.tag === 0xa0) {
    const wrapped = children(der, f[i++] as DerNode, 1);
    if (wrapped.length !== 1) throw new DerError('crlExtensions: expected one element');
    for (const ext of readExtensions(der, wrapped[0] as DerNode, 'crlExtensions')) {
      if (ext.id.equals(CRL_NUMBER_ID)) {
        const c = content(ext.value, single(ext.value, 0x02, 'cRLNumber'));
        if (c.length === 0 || c.length > 21) throw new DerError('cRLNumber: bad length');
        if ((c[0] as number) & 0x80) throw new DerError('cRLNumber: negative');
        crlNumber = BigInt(`0x${c.toString('hex')}`);
      } else if (ext.critical) {
        throw new DerError(`unsupported critical CRL extension ${decodeOid(ext.id)}`);
      }
    }
  }
  if (i !== f.length) throw new DerError('TBSCertList: unexpected field');

  const sig = content(der, sigNode);
  if (sig.length === 0 || sig[0] !== 0) throw new DerError('signatureValue: unused bits');

  return {
    issuerDer: raw(der, issuer),
    crlNumber,
    thisUpdate,
    nextUpdate,
    signatureAlgorithm,
    tbsDer: raw(der, tbsNode),
    signature: sig.subarray(1),
    entries,
  };
}

// ---------- verifying ----------

const VERIFY_HASH: Readonly<Record<string, string | null>> = {
  [OID.ecdsaWithSHA256]: 'sha256',
  [OID.ecdsaWithSHA384]: 'sha384',
  [OID.ecdsaWithSHA512]: 'sha512',
  [OID.sha256WithRSAEncryption]: 'sha256',
  [OID.sha384WithRSAEncryption]: 'sha384',
  [OID.sha512WithRSAEncryption]: 'sha512',
  [OID.ed25519]: null,
};

/** True when the issuer's key signed tbsDer. False for unknown algorithms or a key of the wrong type. */
export function verifyCrlSignature(parsed: Pick<ParsedCrl, 'signatureAlgorithm' | 'tbsDer' | 'signature'>, issuerPublicKey: KeyObject): boolean {
  if (!Object.hasOwn(VERIFY_HASH, parsed.signatureAlgorithm)) return false;
  const hash = VERIFY_HASH[parsed.signatureAlgorithm] ?? null;
  try {
    return cryptoVerify(hash, parsed.tbsDer, { key: issuerPublicKey, dsaEncoding: 'der' }, parsed.signature);
  } catch {
    return false;
  }
}
