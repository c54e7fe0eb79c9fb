// Certificate revocation lists (RFC 5280 §5): building, as a pure function.
//
// A CA's CRL can hold hundreds of thousands of entries, so no object tree is built: buildCrl
// measures every entry first and then writes them all into one preallocated buffer. What it
// writes is checked against pkijs and openssl (test/crl.test.ts); bench/codecs.ts shows why it is
// not built with pkijs.

import { sign as cryptoSign } from 'node:crypto';
import { REVOCATION_REASON_CODES, type RevocationReason } from '../core/types.js';
import { type AnySigner, type Signer, signatureAlgorithmFor, signTbs } from './certificate.js';
import {
  bitString,
  checkTime,
  DerError,
  explicit,
  headerLength,
  implicitPrimitive,
  octetString,
  oid,
  sequence,
  smallInteger,
  time,
  timeLength,
  tlv,
  tlvOf,
  unsignedInteger,
  writeGeneralizedTime,
  writeHeader,
  writeTime,
} from './der.js';
import { OID } from './oids.js';
import { toPem } from './pem.js';
import { normalizeSerialHex } from './serial.js';

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

export function crlToPem(der: Uint8Array): string {
  return toPem('X509 CRL', der);
}

// ---------- building ----------

function extension(id: string, value: Buffer): Buffer {
  return sequence(oid(id), octetString(value));
}

/** The reasonCode entry extension for each code, encoded once. */
const REASON_EXTENSIONS: ReadonlyMap<RevocationReason, Buffer> = new Map(
  REVOCATION_REASONS.map((r) => [r, extension(OID.reasonCode, tlv(0x0a, Buffer.from([REVOCATION_REASON_CODES[r]])))] as const),
);

/** invalidityDate extension up to its GeneralizedTime (17 octets): SEQUENCE { OID, OCTET STRING { … } }. */
const INVALIDITY_PREFIX = (() => {
  const oidDer = oid(OID.invalidityDate);
  const timeLen = 17;
  return Buffer.concat([Buffer.from([0x30, oidDer.length + 2 + timeLen]), oidDer, Buffer.from([0x04, timeLen])]);
})();
const INVALIDITY_EXT_LENGTH = INVALIDITY_PREFIX.length + 17;

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
      checkTime(e.invalidityDate, 'invalidityDate');
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
    pos = writeTime(out, pos, e.revokedAt, 'revocationDate');
    const extLen = extLens[i] as number;
    if (extLen) {
      pos = writeHeader(out, pos, 0x30, extLen);
      if (e.reason !== null && e.reason !== 'unspecified') pos += (REASON_EXTENSIONS.get(e.reason) as Buffer).copy(out, pos);
      if (e.invalidityDate !== null) {
        pos += INVALIDITY_PREFIX.copy(out, pos);
        pos = writeGeneralizedTime(out, pos, e.invalidityDate, 'invalidityDate');
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
  const tbs = tbsCertList(input, alg.der);
  const signature = cryptoSign(alg.hash, tbs, { key: signer.key, dsaEncoding: 'der' });
  return tlvOf(0x30, [tbs, alg.der, bitString(signature)]);
}

/** The same, signed off the event loop, or by a delegated signer (a key in a token). */
export async function buildCrlAsync(input: CrlInput, signer: AnySigner): Promise<Buffer> {
  const alg = signatureAlgorithmFor(signer.algorithm);
  const tbs = tbsCertList(input, alg.der);
  return tlvOf(0x30, [tbs, alg.der, bitString(await signTbs(tbs, signer))]);
}

function tbsCertList(input: CrlInput, signatureAlgorithmDer: Buffer): Buffer {
  const revoked = encodeRevokedCertificates(input.entries);
  const crlExts: Buffer[] = [];
  if (input.authorityKeyId) {
    crlExts.push(extension(OID.authorityKeyIdentifier, sequence(implicitPrimitive(0, input.authorityKeyId))));
  }
  crlExts.push(extension(OID.cRLNumber, crlNumberInteger(input.crlNumber)));
  const parts: Buffer[] = [
    smallInteger(1), // v2
    signatureAlgorithmDer,
    input.issuerDer,
    time(input.thisUpdate, 'thisUpdate'),
    time(input.nextUpdate, 'nextUpdate'),
  ];
  if (revoked) parts.push(revoked);
  parts.push(explicit(0, sequence(...crlExts)));
  return tlvOf(0x30, parts);
}
