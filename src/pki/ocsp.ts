// OCSP wire format (RFC 6960), as pure functions: a strict, bounded request parser and a lean
// response builder. The responder service (caching, CA lookup, HTTP) is built on top of this.
//
// Nonces follow RFC 9654 (which obsoletes RFC 8954): the extnValue of id-pkix-ocsp-nonce holds a
// DER OCTET STRING of 1..128 octets. openssl sends exactly that (`04 10 <16 random bytes>`) and
// compares the response's extnValue with the request's byte for byte, so the parser hands back
// the extnValue's content (the inner OCTET STRING, tag and length included) and the builder puts
// those same bytes back into the response's extnValue.

import { createHash, sign as cryptoSign } from 'node:crypto';
import { REVOCATION_REASON_CODES } from '../core/types.js';
import { keyIdentifier, publicKeyBits, signatureAlgorithmFor, signTbs, type AnySigner, type Signer } from './certificate.js';
import { readCertificateBasics } from './certInfo.js';
import { children, content, decodeOid, DerError, expectTag, generalizedTime, header, oid, raw, readNode, tlvOf, type DerNode } from './der.js';
import { OID } from './oids.js';
import { serialHexOfInteger } from './serial.js';

/** Thrown by parseOcspRequest for any malformed or unsupported request: answer malformedRequest. */
export class OcspRequestError extends Error {
  override readonly name = 'OcspRequestError';
}

export interface OcspCertId {
  /** OID of the hash over the issuer name and key. */
  hashAlgorithm: string;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  /** Lower-case hex of the positive serial magnitude, no leading 00 byte ("00" for zero). */
  serialHex: string;
  /** The CertID exactly as received, to echo in the response. */
  der: Buffer;
}

export interface OcspRequest {
  certIds: OcspCertId[];
  /**
   * The nonce extension's extnValue content — the DER OCTET STRING inside it, tag and length
   * included (`04 10 …` from openssl) — to pass unchanged to buildOcspResponse; null if absent.
   */
  nonce: Buffer | null;
}

export type OcspCertStatus =
  | { status: 'good' }
  | { status: 'revoked'; revokedAt: Date; reason: string | null }
  | { status: 'unknown' };

export interface OcspSingleResponseInput {
  /** An OcspCertId's `der`, echoed verbatim. */
  certIdDer: Buffer;
  certStatus: OcspCertStatus;
  thisUpdate: Date;
  nextUpdate: Date;
}

export interface OcspResponseInput {
  /** SHA-1 of the signer's subjectPublicKey bits (ResponderID byKey); see responderKeyHash(). */
  responderKeyHash: Buffer;
  producedAt: Date;
  responses: OcspSingleResponseInput[];
  /** OcspRequest.nonce, or null. */
  nonce: Buffer | null;
  /** The signer's certificate, sent in `certs` (a delegated signer must be; harmless for the CA itself). */
  signerCertDer: Buffer;
}

/** What an OCSP answer says, without who signs it (for a signer that brings its own identity). */
export type OcspAnswerContent = Omit<OcspResponseInput, 'responderKeyHash' | 'signerCertDer'>;

export type OcspErrorStatus = 'malformedRequest' | 'internalError' | 'tryLater' | 'sigRequired' | 'unauthorized';

/** CertID hash algorithms we accept, by OID. */
export const OCSP_HASH_ALGORITHMS: Readonly<Record<string, { name: string; length: number }>> = {
  [OID.sha1]: { name: 'sha1', length: 20 },
  [OID.sha256]: { name: 'sha256', length: 32 },
  [OID.sha384]: { name: 'sha384', length: 48 },
  [OID.sha512]: { name: 'sha512', length: 64 },
};

export const OCSP_LIMITS = {
  /** Larger requests are refused before parsing. */
  maxRequestBytes: 65_536,
  maxCertIds: 100,
  maxExtensions: 16,
  /** RFC 9654: a nonce of 0 or more than 128 octets must be answered with malformedRequest. */
  maxNonceBytes: 128,
  /** 20 octets (RFC 5280 §4.1.2.2) plus the sign byte, with slack for sloppy issuers. */
  maxSerialBytes: 32,
} as const;

// ---------- request ----------

/** The single element inside an EXPLICIT tag. */
function explicitInner(buf: Buffer, node: DerNode, what: string): DerNode {
  const inner = children(buf, node, 1);
  if (inner.length !== 1) throw new OcspRequestError(`${what}: empty explicit tag`);
  return inner[0] as DerNode;
}

function serialHexOf(c: Buffer): string {
  if (c.length > OCSP_LIMITS.maxSerialBytes) throw new OcspRequestError('serialNumber too long');
  return serialHexOfInteger(c);
}

function parseCertId(buf: Buffer, node: DerNode): OcspCertId {
  const fields = children(buf, expectTag(node, 0x30, 'CertID'), 4);
  if (fields.length !== 4) throw new OcspRequestError('CertID must have 4 fields');
  const [algNode, nameNode, keyNode, serialNode] = fields as [DerNode, DerNode, DerNode, DerNode];
  const algParts = children(buf, expectTag(algNode, 0x30, 'hashAlgorithm'), 2);
  const hashAlgorithm = decodeOid(content(buf, expectTag(algParts[0], 0x06, 'hashAlgorithm OID')));
  const params = algParts[1];
  // Absent or NULL parameters are both seen in the wild (openssl sends NULL).
  if (params && (params.tag !== 0x05 || params.end !== params.contentStart)) throw new OcspRequestError('unexpected hashAlgorithm parameters');
  if (!Object.hasOwn(OCSP_HASH_ALGORITHMS, hashAlgorithm)) throw new OcspRequestError(`unsupported CertID hash algorithm ${hashAlgorithm}`);
  const hashLength = (OCSP_HASH_ALGORITHMS[hashAlgorithm] as { length: number }).length;
  const issuerNameHash = content(buf, expectTag(nameNode, 0x04, 'issuerNameHash'));
  const issuerKeyHash = content(buf, expectTag(keyNode, 0x04, 'issuerKeyHash'));
  if (issuerNameHash.length !== hashLength || issuerKeyHash.length !== hashLength) throw new OcspRequestError('CertID hash length does not match its algorithm');
  const serialHex = serialHexOf(content(buf, expectTag(serialNode, 0x02, 'serialNumber')));
  return {
    hashAlgorithm,
    issuerNameHash: Buffer.from(issuerNameHash),
    issuerKeyHash: Buffer.from(issuerKeyHash),
    serialHex,
    der: Buffer.from(raw(buf, node)),
  };
}

/**
 * Reads an Extensions SEQUENCE. Returns the nonce, if any. Unknown non-critical extensions are
 * ignored; an unknown critical one makes the request unacceptable (RFC 6960 §4.4).
 */
function parseExtensions(buf: Buffer, node: DerNode, what: string, allowNonce: boolean): Buffer | null {
  const exts = children(buf, expectTag(node, 0x30, what), OCSP_LIMITS.maxExtensions);
  if (exts.length === 0) throw new OcspRequestError(`${what}: empty`);
  const seen = new Set<string>();
  let nonce: Buffer | null = null;
  for (const ext of exts) {
    const parts = children(buf, expectTag(ext, 0x30, 'Extension'), 3);
    const id = decodeOid(content(buf, expectTag(parts[0], 0x06, 'extnID')));
    if (seen.has(id)) throw new OcspRequestError(`duplicate extension ${id}`);
    seen.add(id);
    let critical = false;
    let i = 1;
    if (parts[i]?.tag === 0x01) {
      const b = content(buf, parts[i] as DerNode);
      if (b.length !== 1 || (b[0] !== 0x00 && b[0] !== 0xff)) throw new OcspRequestError('bad BOOLEAN');
      critical = b[0] === 0xff;
      i++;
    }
    const value = content(buf, expectTag(parts[i], 0x04, 'extnValue'));
    if (i + 1 !== parts.length) throw new OcspRequestError('trailing data in Extension');
    if (allowNonce && id === OID.ocspNonce) {
      const inner = readNode(value, 0);
      if (inner.tag !== 0x04 || inner.end !== value.length) throw new OcspRequestError('nonce extnValue must hold one OCTET STRING');
      const len = inner.end - inner.contentStart;
      if (len < 1 || len > OCSP_LIMITS.maxNonceBytes) throw new OcspRequestError(`nonce must be 1..${OCSP_LIMITS.maxNonceBytes} octets`);
      nonce = Buffer.from(value);
    } else if (critical) {
      throw new OcspRequestError(`unsupported critical extension ${id}`);
    }
  }
  return nonce;
}

function parseRequestInner(der: Buffer): OcspRequest {
  if (der.length > OCSP_LIMITS.maxRequestBytes) throw new OcspRequestError('request too large');
  const top = readNode(der, 0);
  if (top.end !== der.length) throw new OcspRequestError('trailing data after OCSPRequest');
  const [tbs, sig] = children(der, expectTag(top, 0x30, 'OCSPRequest'), 2);
  expectTag(tbs, 0x30, 'TBSRequest');
  // optionalSignature [0] EXPLICIT Signature: accepted and ignored (we do not require signed requests).
  if (sig) expectTag(sig, 0xa0, 'optionalSignature');

  const fields = children(der, tbs as DerNode, 4);
  let i = 0;
  if (fields[i]?.tag === 0xa0) {
    const v = content(der, expectTag(explicitInner(der, fields[i] as DerNode, 'version'), 0x02, 'version'));
    if (v.length !== 1 || v[0] !== 0) throw new OcspRequestError('unsupported OCSP request version');
    i++;
  }
  if (fields[i]?.tag === 0xa1) {
    explicitInner(der, fields[i] as DerNode, 'requestorName'); // GeneralName: not used
    i++;
  }
  const list = expectTag(fields[i++], 0x30, 'requestList');
  let nonce: Buffer | null = null;
  if (fields[i]?.tag === 0xa2) {
    nonce = parseExtensions(der, explicitInner(der, fields[i] as DerNode, 'requestExtensions'), 'requestExtensions', true);
    i++;
  }
  if (i !== fields.length) throw new OcspRequestError('unexpected field in TBSRequest');

  const requests = children(der, list, OCSP_LIMITS.maxCertIds);
  if (requests.length === 0) throw new OcspRequestError('empty requestList');
  const certIds = requests.map((req) => {
    const [certId, singleExts, extra] = children(der, expectTag(req, 0x30, 'Request'), 2);
    if (extra) throw new OcspRequestError('unexpected field in Request');
    if (singleExts) parseExtensions(der, explicitInner(der, expectTag(singleExts, 0xa0, 'singleRequestExtensions'), 'singleRequestExtensions'), 'singleRequestExtensions', false);
    return parseCertId(der, certId as DerNode);
  });
  return { certIds, nonce };
}

/** Parses a DER OCSPRequest. Throws OcspRequestError — and nothing else — on any malformed input. */
export function parseOcspRequest(der: Buffer): OcspRequest {
  try {
    if (!(der instanceof Uint8Array)) throw new OcspRequestError('request must be bytes');
    const buf = Buffer.isBuffer(der) ? der : Buffer.from((der as Uint8Array).buffer, (der as Uint8Array).byteOffset, (der as Uint8Array).byteLength);
    return parseRequestInner(buf);
  } catch (e) {
    if (e instanceof OcspRequestError) throw e;
    throw new OcspRequestError(e instanceof DerError ? e.message : 'malformed OCSP request');
  }
}

// ---------- issuer matching ----------

/**
 * The CertID hashes for certificates issued by `issuerCertDer`: the hash of its subject Name DER
 * and of its subjectPublicKey BIT STRING value (without the unused-bits byte).
 */
export function issuerHashes(issuerCertDer: Buffer, hashAlgorithm: string): { nameHash: Buffer; keyHash: Buffer } {
  if (!Object.hasOwn(OCSP_HASH_ALGORITHMS, hashAlgorithm)) throw new Error(`unsupported OCSP hash algorithm ${hashAlgorithm}`);
  const hash = (OCSP_HASH_ALGORITHMS[hashAlgorithm] as { name: string }).name;
  const { subjectDer, spkiDer } = readCertificateBasics(issuerCertDer);
  return {
    nameHash: createHash(hash).update(subjectDer).digest(),
    keyHash: createHash(hash).update(publicKeyBits(spkiDer)).digest(),
  };
}

/** ResponderID byKey for a signer certificate: SHA-1 of its subjectPublicKey bits. */
export function responderKeyHash(signerCertDer: Buffer): Buffer {
  return keyIdentifier(readCertificateBasics(signerCertDer).spkiDer);
}

// ---------- response ----------

const GOOD = Buffer.from([0x80, 0x00]);
const UNKNOWN = Buffer.from([0x82, 0x00]);
/** revocationReason [0] EXPLICIT CRLReason for each reason but unspecified, which is left out (as RFC 5280 §5.3.1 has the CRL do). */
const REASON_DER = new Map<string, Buffer>(
  Object.entries(REVOCATION_REASON_CODES)
    .filter(([name]) => name !== 'unspecified')
    .map(([name, code]) => [name, Buffer.from([0xa0, 0x03, 0x0a, 0x01, code])]),
);
const STATUS_SUCCESSFUL = Buffer.from([0x0a, 0x01, 0x00]);
const BASIC_OID = oid(OID.ocspBasic);
const NONCE_OID = oid(OID.ocspNonce);
const BIT_STRING_NO_UNUSED = Buffer.from([0x00]);

function certStatusDer(s: OcspCertStatus): Buffer {
  switch (s.status) {
    case 'good':
      return GOOD;
    case 'unknown':
      return UNKNOWN;
    case 'revoked': {
      // revoked [1] IMPLICIT RevokedInfo { revocationTime, revocationReason [0] EXPLICIT CRLReason OPTIONAL }
      const time = generalizedTime(s.revokedAt, 'revocationTime');
      if (s.reason === null || s.reason === 'unspecified') return tlvOf(0xa1, [time]);
      const reason = REASON_DER.get(s.reason);
      if (!reason) throw new Error(`unknown revocation reason "${s.reason}"`);
      return tlvOf(0xa1, [time, reason]);
    }
  }
}

/** Builds and signs a successful OCSPResponse carrying a BasicOCSPResponse. Returns DER. */
export function buildOcspResponse(input: OcspResponseInput, signer: Signer): Buffer {
  const tbs = tbsResponseData(input);
  const alg = signatureAlgorithmFor(signer.algorithm);
  const signature = cryptoSign(alg.hash, tbs, { key: signer.key, dsaEncoding: 'der' });
  return ocspResponse(input, tbs, alg.der, signature);
}

/** The same, signed off the event loop, or by a delegated signer (a CA key in a token). */
export async function buildOcspResponseAsync(input: OcspResponseInput, signer: AnySigner): Promise<Buffer> {
  const tbs = tbsResponseData(input);
  const alg = signatureAlgorithmFor(signer.algorithm);
  return ocspResponse(input, tbs, alg.der, await signTbs(tbs, signer));
}

function tbsResponseData(input: OcspResponseInput): Buffer {
  if (input.responses.length === 0) throw new Error('an OCSP response needs at least one SingleResponse');
  const single = input.responses.map((r) =>
    tlvOf(0x30, [r.certIdDer, certStatusDer(r.certStatus), generalizedTime(r.thisUpdate, 'thisUpdate'), tlvOf(0xa0, [generalizedTime(r.nextUpdate, 'nextUpdate')])]),
  );
  const tbsParts = [
    tlvOf(0xa2, [tlvOf(0x04, [input.responderKeyHash])]), // ResponderID byKey [2] EXPLICIT KeyHash
    generalizedTime(input.producedAt, 'producedAt'),
    tlvOf(0x30, single),
  ];
  if (input.nonce) {
    // responseExtensions [1] EXPLICIT Extensions { Extension { id-pkix-ocsp-nonce, extnValue } }
    tbsParts.push(tlvOf(0xa1, [tlvOf(0x30, [tlvOf(0x30, [NONCE_OID, tlvOf(0x04, [input.nonce])])])]));
  }
  return tlvOf(0x30, tbsParts);
}

function ocspResponse(input: OcspResponseInput, tbs: Buffer, algorithmDer: Buffer, signature: Buffer): Buffer {

  // Everything from BasicOCSPResponse outwards goes into one allocation.
  const cert = input.signerCertDer;
  const certsSeqHdr = header(0x30, cert.length);
  const certsHdr = header(0xa0, certsSeqHdr.length + cert.length);
  const sigHdr = header(0x03, signature.length + 1);
  const basicLen = tbs.length + algorithmDer.length + sigHdr.length + 1 + signature.length + certsHdr.length + certsSeqHdr.length + cert.length;
  const basicHdr = header(0x30, basicLen);
  const octetHdr = header(0x04, basicHdr.length + basicLen);
  const bytesLen = BASIC_OID.length + octetHdr.length + basicHdr.length + basicLen;
  const bytesSeqHdr = header(0x30, bytesLen);
  const bytesHdr = header(0xa0, bytesSeqHdr.length + bytesLen);
  const topLen = STATUS_SUCCESSFUL.length + bytesHdr.length + bytesSeqHdr.length + bytesLen;
  const parts = [
    header(0x30, topLen),
    STATUS_SUCCESSFUL,
    bytesHdr,
    bytesSeqHdr,
    BASIC_OID,
    octetHdr,
    basicHdr,
    tbs,
    algorithmDer,
    sigHdr,
    BIT_STRING_NO_UNUSED,
    signature,
    certsHdr,
    certsSeqHdr,
    cert,
  ];
  return Buffer.concat(parts);
}

const ERROR_CODES: Record<OcspErrorStatus, number> = {
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  sigRequired: 5,
  unauthorized: 6,
};

/** An unsuccessful OCSPResponse: just the status, no responseBytes. */
export function ocspErrorResponse(status: OcspErrorStatus): Buffer {
  const code = ERROR_CODES[status];
  if (code === undefined) throw new Error(`unknown OCSP error status ${String(status)}`);
  return Buffer.from([0x30, 0x03, 0x0a, 0x01, code]);
}
