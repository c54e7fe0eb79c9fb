import { verify as cryptoVerify } from 'node:crypto';
import { children, content, decodeOid, decodeString, decodeTime, DerError, expectTag, raw, readNode, readOid, type DerNode } from './der.js';
import { bytesToIp } from './ip.js';
import { parseName, type ParsedName } from './name.js';
import { OID, SIGNATURE_HASH } from './oids.js';
import { fromPem, PemError } from './pem.js';
import { publicKeyFor, readSpki, type SpkiInfo } from './spki.js';

export class CsrError extends Error {
  override readonly name = 'CsrError';
}

export interface SubjectAltNames {
  dns: string[];
  ip: string[];
  email: string[];
  uri: string[];
  /** GeneralName forms we do not issue (otherName, directoryName, ...), by tag. */
  unsupported: number[];
}

export interface ParsedCsr {
  /** A PKCS#10 CertificationRequest, unless it says otherwise (a CRMF CertReqMsg: src/pki/crmf.ts). */
  format?: 'pkcs10' | 'crmf';
  der: Buffer;
  /** The signed part, exactly as received (a CRMF request's: its CertRequest, signed by its POP). */
  infoDer: Buffer;
  subjectDer: Buffer;
  subject: ParsedName;
  spkiDer: Buffer;
  spki: SpkiInfo;
  /** ec-p256, ec-p384, rsa-2048, ... */
  keyAlgorithm: string;
  signatureAlgorithm: string;
  signature: Buffer;
  san: SubjectAltNames;
  challengePassword: string | null;
}

const MAX_CSR_BYTES = 64 * 1024;

/** Parses a PKCS#10 request from PEM text or DER bytes. Throws CsrError with a readable reason. */
export function parseCsr(input: string | Buffer): ParsedCsr {
  let der: Buffer;
  try {
    der = typeof input === 'string' ? fromPem(input, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']) : input;
  } catch (e) {
    throw new CsrError(`malformed CSR: ${(e as PemError).message}`);
  }
  if (der.length > MAX_CSR_BYTES) throw new CsrError('malformed CSR: larger than 64 KiB');
  try {
    return parseCsrDer(der);
  } catch (e) {
    if (e instanceof CsrError) throw e;
    if (e instanceof DerError || e instanceof RangeError || e instanceof TypeError) throw new CsrError(`malformed CSR: ${e.message}`);
    // createPublicKey throws plain Errors with OpenSSL reasons for bad keys.
    throw new CsrError(`malformed CSR: ${(e as Error).message}`);
  }
}

function parseCsrDer(der: Buffer): ParsedCsr {
  const top = readNode(der, 0);
  if (top.end !== der.length) throw new CsrError('malformed CSR: trailing data after the request');
  const [infoNode, algNode, sigNode, ...extra] = children(der, expectTag(top, 0x30, 'CertificationRequest'));
  if (extra.length) throw new CsrError('malformed CSR: unexpected elements');
  expectTag(infoNode, 0x30, 'CertificationRequestInfo');
  const [versionNode, subjectNode, spkiNode, attrsNode] = children(der, infoNode as DerNode, 4);
  const version = content(der, expectTag(versionNode, 0x02, 'version'));
  if (version.length !== 1 || version[0] !== 0) throw new CsrError('malformed CSR: version must be 0 (v1)');
  const subject = parseName(der, expectTag(subjectNode, 0x30, 'subject'));
  const spkiDer = raw(der, expectTag(spkiNode, 0x30, 'subjectPublicKeyInfo'));
  const spki = readSpki(spkiDer);

  const san: SubjectAltNames = { dns: [], ip: [], email: [], uri: [], unsupported: [] };
  let challengePassword: string | null = null;
  if (attrsNode) {
    for (const attr of children(der, expectTag(attrsNode, 0xa0, 'attributes'))) {
      const [typeNode, valuesNode] = children(der, expectTag(attr, 0x30, 'Attribute'), 2);
      const type = readOid(der, typeNode, 'attribute type');
      const values = children(der, expectTag(valuesNode, 0x31, 'attribute values'));
      if (type === OID.extensionRequest) {
        // Single-valued (PKCS#9): reading only the first of several would drop the others' names.
        if (values.length !== 1) throw new CsrError('malformed CSR: extensionRequest must have exactly one value');
        readRequestedExtensions(der, values[0], san);
      } else if (type === OID.challengePassword && values[0]) {
        challengePassword = decodeString(der, values[0]);
      }
    }
  }

  const [sigAlgOidNode] = children(der, expectTag(algNode, 0x30, 'signatureAlgorithm'), 2);
  const signatureAlgorithm = readOid(der, sigAlgOidNode, 'signature algorithm');
  const sigBits = content(der, expectTag(sigNode, 0x03, 'signature'));
  if (sigBits.length < 2 || sigBits[0] !== 0) throw new CsrError('malformed CSR: bad signature bit string');

  checkDerTree(der, top, 0);

  return {
    der,
    infoDer: raw(der, infoNode as DerNode),
    subjectDer: raw(der, subjectNode as DerNode),
    subject,
    spkiDer,
    spki,
    keyAlgorithm: spki.keyAlgorithm,
    signatureAlgorithm,
    signature: sigBits.subarray(1),
    san,
    challengePassword,
  };
}

// Universal types that DER always encodes primitive.
const PRIMITIVE_ONLY = new Set([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x09, 0x0a, 0x0d, 0x0c, 0x12, 0x13, 0x14, 0x16, 0x17, 0x18, 0x1a, 0x1c, 0x1e]);

/**
 * The request is DER throughout, also in the parts we do not read (unknown attributes, algorithm
 * parameters, otherName values): framing at every depth, and the content rules of the universal
 * types a decoder checks. A request another decoder refuses is refused here too.
 */
function checkDerTree(der: Buffer, node: DerNode, depth: number): void {
  if (depth > 32) throw new DerError('nested too deeply');
  const universal = (node.tag & 0xc0) === 0;
  const type = node.tag & 0x1f;
  if (node.tag & 0x20) {
    // Universal tag 0 is reserved (end-of-contents), constructed or not.
    if (universal && type === 0) throw new DerError('universal tag 0 is reserved');
    if (universal && PRIMITIVE_ONLY.has(type)) throw new DerError(`constructed encoding of primitive type 0x${type.toString(16)}`);
    for (const child of children(der, node)) checkDerTree(der, child, depth + 1);
    return;
  }
  if (!universal) return;
  const c = content(der, node);
  const bad = (why: string): never => {
    throw new DerError(why);
  };
  switch (type) {
    case 0x00:
      return bad('end-of-contents octets are not DER');
    case 0x01:
      return void (c.length !== 1 && bad('BOOLEAN must be one byte'));
    case 0x02:
    case 0x0a:
      return void (c.length === 0 && bad('empty INTEGER'));
    case 0x03:
      return void ((c.length === 0 || (c[0] as number) > 7 || (c.length === 1 && c[0] !== 0)) && bad('malformed BIT STRING'));
    case 0x05:
      return void (c.length !== 0 && bad('NULL with content'));
    // X.690 §8.9.1, §8.11.1: a SEQUENCE or SET is always constructed (a parser that takes the
    // primitive form reads other bytes than one that refuses it).
    case 0x10:
    case 0x11:
      return bad(`primitive encoding of ${type === 0x10 ? 'SEQUENCE' : 'SET'}`);
    case 0x06:
      decodeOid(c);
      return;
    case 0x17:
    case 0x18:
      decodeTime(der, node);
      return;
    case 0x1c:
      return void (c.length % 4 && bad('UniversalString length is not a multiple of 4'));
    case 0x1e:
      return void (c.length % 2 && bad('odd BMPString length'));
  }
}

/**
 * The subjectAltName requested in a SEQUENCE OF Extension (a CSR's extensionRequest, a CRMF
 * CertTemplate's extensions), read the same way whatever carries it.
 */
export function readRequestedSan(extensionsDer: Buffer): SubjectAltNames {
  const top = readNode(extensionsDer, 0);
  if (top.end !== extensionsDer.length) throw new DerError('trailing data after the requested extensions');
  const san: SubjectAltNames = { dns: [], ip: [], email: [], uri: [], unsupported: [] };
  readRequestedExtensions(extensionsDer, top, san);
  return san;
}

/** Throws DerError unless `der` is one DER element throughout (see checkDerTree). */
export function assertDer(der: Buffer): void {
  const top = readNode(der, 0);
  if (top.end !== der.length) throw new DerError('trailing data');
  checkDerTree(der, top, 0);
}

function readRequestedExtensions(der: Buffer, extsNode: DerNode | undefined, san: SubjectAltNames): void {
  for (const ext of children(der, expectTag(extsNode, 0x30, 'requested extensions'))) {
    const parts = children(der, expectTag(ext, 0x30, 'Extension'));
    // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING },
    // checked for every extension, not only the one we read: a malformed request is refused whole.
    const id = readOid(der, parts[0], 'extension id');
    if (parts.length < 2 || parts.length > 3) throw new DerError('an Extension is an id, an optional critical flag and a value');
    if (parts.length === 3) expectTag(parts[1], 0x01, 'extension critical flag');
    const value = content(der, expectTag(parts[parts.length - 1], 0x04, 'extension value'));
    if (id !== OID.subjectAltName) continue;
    readGeneralNames(value, san);
  }
}

export function readGeneralNames(value: Buffer, san: SubjectAltNames): void {
  const seq = readNode(value, 0);
  if (seq.end !== value.length) throw new DerError('trailing data in GeneralNames');
  checkDerTree(value, seq, 0);
  for (const gn of children(value, expectTag(seq, 0x30, 'GeneralNames'))) {
    const c = content(value, gn);
    switch (gn.tag) {
      case 0x81:
        san.email.push(asciiName(c, 'rfc822Name'));
        break;
      case 0x82:
        san.dns.push(asciiName(c, 'dNSName'));
        break;
      case 0x86:
        san.uri.push(asciiName(c, 'uniformResourceIdentifier'));
        break;
      case 0x87:
        if (c.length !== 4 && c.length !== 16) throw new DerError('iPAddress must be 4 or 16 bytes');
        san.ip.push(bytesToIp(c));
        break;
      case 0xa0: {
        // otherName: type-id OID, [0] EXPLICIT value
        const [typeId, explicitValue, ...rest] = children(value, gn);
        readOid(value, typeId, 'otherName type-id');
        if (rest.length || children(value, expectTag(explicitValue, 0xa0, 'otherName value')).length !== 1) throw new DerError('malformed otherName');
        san.unsupported.push(gn.tag);
        break;
      }
      case 0xa4: {
        const [name, ...rest] = children(value, gn);
        if (!name || rest.length) throw new DerError('malformed directoryName');
        parseName(value, name);
        san.unsupported.push(gn.tag);
        break;
      }
      case 0x88:
        decodeOid(c);
        san.unsupported.push(gn.tag);
        break;
      case 0xa3:
      case 0xa5:
        // x400Address and ediPartyName: no enrollment client sends them, and their structure is
        // too loose to check (pkijs refuses some that would pass a framing check).
        throw new DerError(`${gn.tag === 0xa3 ? 'x400Address' : 'ediPartyName'} names are not accepted in a request`);
      default:
        // Not a GeneralName at all (a constructed dNSName, a universal tag, [9] and up).
        throw new DerError(`not a GeneralName: tag 0x${gn.tag.toString(16)}`);
    }
  }
}

function asciiName(c: Buffer, what: string): string {
  for (const b of c) if (b < 0x20 || b > 0x7e) throw new DerError(`${what} must be printable ASCII`);
  return c.toString('latin1');
}

export type CsrSignatureCheck = Pick<ParsedCsr, 'infoDer' | 'spkiDer' | 'spki' | 'signatureAlgorithm' | 'signature'>;

/** True when the CSR is signed by the key it carries (proof of possession). */
export function verifyCsrSignature(csr: CsrSignatureCheck): boolean {
  if (!Object.hasOwn(SIGNATURE_HASH, csr.signatureAlgorithm)) {
    throw new CsrError(`unsupported CSR signature algorithm ${csr.signatureAlgorithm}`);
  }
  const hash = SIGNATURE_HASH[csr.signatureAlgorithm] ?? null;
  try {
    const key = publicKeyFor(csr.spkiDer, csr.spki);
    return cryptoVerify(hash, csr.infoDer, { key, dsaEncoding: 'der' }, csr.signature);
  } catch {
    // An invalid key, or a key that does not fit the algorithm, makes OpenSSL throw: either way
    // the signature does not verify.
    return false;
  }
}
