// Certificates issued by other CAs, as the inventory imports them: the fields it lists and
// filters on, and the checks of an import (the chain it came with, whether one of our CAs signed it).
import { X509Certificate } from 'node:crypto';
import { readGeneralNames, type SubjectAltNames } from './csr.js';
import { children, content, decodeTime, DerError, expectTag, raw, readNode, readOid, type DerNode } from './der.js';
import { parseName } from './name.js';
import { OID } from './oids.js';
import { pemBlocks, PemError, toPem } from './pem.js';
import { normalizeSerialHex } from './serial.js';
import { readSpki } from './spki.js';

export class ForeignCertificateError extends Error {
  override readonly name = 'ForeignCertificateError';
}

export interface ForeignCertificate {
  x509: X509Certificate;
  /** Re-encoded from the DER: one PEM spelling whatever the file looked like. */
  pem: string;
  /** certgate's form: lower-case hex, no leading zero byte. */
  serialNumber: string;
  /** As certgate prints names (C=.., O=.., CN=..), the order of the certificate. */
  issuer: string;
  subject: string;
  commonName: string | null;
  san: Omit<SubjectAltNames, 'unsupported'>;
  /** certgate's spelling: ec-p256, rsa-2048, ed25519, ... */
  keyAlgorithm: string;
  validFrom: Date;
  validTo: Date;
}

const MAX_CERTIFICATE_BYTES = 64 * 1024;
export const MAX_CHAIN_LENGTH = 10;

/** The DER of every certificate in a PEM text; anything else in it (a private key!) is refused. */
export function certificatesInPem(text: string, what: string): Buffer[] {
  let blocks: { label: string; der: Buffer }[];
  try {
    blocks = pemBlocks(text);
  } catch (e) {
    throw new ForeignCertificateError(`${what}: ${(e as PemError).message}`);
  }
  if (blocks.length === 0) throw new ForeignCertificateError(`${what}: no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  const other = blocks.find((b) => b.label !== 'CERTIFICATE');
  if (other) throw new ForeignCertificateError(`${what} holds a ${other.label} block: send certificates only`);
  return blocks.map((b) => b.der);
}

/** Reads one certificate issued anywhere. Throws ForeignCertificateError with a readable reason. */
export function readForeignCertificate(der: Buffer): ForeignCertificate {
  if (der.length > MAX_CERTIFICATE_BYTES) throw new ForeignCertificateError('certificate larger than 64 KiB');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch (e) {
    throw new ForeignCertificateError(`not an X.509 certificate: ${(e as Error).message}`);
  }
  try {
    return { x509, pem: toPem('CERTIFICATE', der), serialNumber: normalizeSerialHex(x509.serialNumber), ...fieldsOf(der) };
  } catch (e) {
    if (e instanceof DerError || e instanceof RangeError) throw new ForeignCertificateError(`malformed certificate: ${e.message}`);
    throw e;
  }
}

function fieldsOf(der: Buffer): Omit<ForeignCertificate, 'x509' | 'pem' | 'serialNumber'> {
  const top = readNode(der, 0);
  if (top.end !== der.length) throw new DerError('trailing data after the certificate');
  const [tbs] = children(der, expectTag(top, 0x30, 'Certificate'));
  const fields = children(der, expectTag(tbs, 0x30, 'TBSCertificate'));
  // version, serialNumber, signature (X509Certificate has checked them), then what we read.
  let i = fields[0]?.tag === 0xa0 ? 3 : 2;
  const issuer = parseName(der, expectTag(fields[i++], 0x30, 'issuer'));
  const [notBefore, notAfter] = children(der, expectTag(fields[i++], 0x30, 'validity')) as [DerNode, DerNode];
  const subject = parseName(der, expectTag(fields[i++], 0x30, 'subject'));
  const spki = raw(der, expectTag(fields[i++], 0x30, 'subjectPublicKeyInfo'));
  const san: SubjectAltNames = { dns: [], ip: [], email: [], uri: [], unsupported: [] };
  const extensions = fields.slice(i).find((f) => f.tag === 0xa3);
  if (extensions) {
    const [list] = children(der, extensions);
    for (const ext of children(der, expectTag(list, 0x30, 'extensions'))) {
      const parts = children(der, expectTag(ext, 0x30, 'Extension'));
      if (readOid(der, parts[0], 'extension id') !== OID.subjectAltName) continue;
      readGeneralNames(content(der, expectTag(parts[parts.length - 1], 0x04, 'extension value')), san);
    }
  }
  return {
    issuer: issuer.text,
    subject: subject.text,
    commonName: subject.commonName,
    san: { dns: san.dns, ip: san.ip, email: san.email, uri: san.uri },
    keyAlgorithm: readSpki(spki).keyAlgorithm,
    validFrom: decodeTime(der, notBefore),
    validTo: decodeTime(der, notAfter),
  };
}

/** True when `issuer`'s key signed `cert` (names that merely match do not count). */
export function isSignedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/**
 * What is wrong with a certificate and the chain it came with, or null. From the certificate up,
 * each one's issuer must be in the chain and its signature must verify with that issuer's key;
 * the chain may stop short of its root (a trust anchor is often left out).
 */
export function chainProblem(leaf: X509Certificate, chain: readonly X509Certificate[]): string | null {
  if (chain.length > MAX_CHAIN_LENGTH) return `a chain of more than ${MAX_CHAIN_LENGTH} certificates`;
  const unused = new Set(chain);
  const nameOf = (c: X509Certificate): string => (c === leaf ? 'the certificate' : oneLine(c.subject));
  for (let current = leaf; ; ) {
    if (current.checkIssued(current)) return isSignedBy(current, current) ? null : `the self-signature of ${nameOf(current)} does not verify`;
    const named = [...unused].filter((c) => current.checkIssued(c));
    if (named.length === 0) return current === leaf ? `the chain does not hold the certificate's issuer (${oneLine(leaf.issuer)})` : null;
    const issuer = named.find((c) => isSignedBy(current, c));
    if (!issuer) return `the signature of ${nameOf(current)} does not verify with the key of ${oneLine((named[0] as X509Certificate).subject)}`;
    unused.delete(issuer);
    current = issuer;
  }
}

const oneLine = (name: string): string => name.split('\n').join(', ');

const ATTRIBUTE_SPELLING = new Map(['C', 'ST', 'L', 'O', 'OU', 'CN', 'serialNumber', 'emailAddress'].map((a) => [a.toLowerCase(), a]));

/**
 * The spellings under which certgate may have stored a distinguished name written as a person or
 * a tool writes it: `C=US, O=Example, CN=CA` (certgate), `C = US, O = Example, CN = CA`
 * (openssl), one attribute per line (node), or most specific first (RFC 4514).
 */
export function storedDnCandidates(text: string): string[] {
  const attributes = text
    .trim()
    .replace(/^(issuer|subject)\s*[=:]\s*/i, '')
    .split(/(?<!\\)[,\n+]/)
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const eq = part.indexOf('=');
      if (eq < 1) return part;
      const type = part.slice(0, eq).trim();
      return `${ATTRIBUTE_SPELLING.get(type.toLowerCase()) ?? type}=${part.slice(eq + 1).trim()}`;
    });
  return [...new Set([attributes.join(', '), [...attributes].reverse().join(', ')])];
}
