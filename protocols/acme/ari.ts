// ACME Renewal Information (RFC 9773): certificate ids and suggested renewal windows.
import { X509Certificate } from 'node:crypto';
import type { CertificateRecord } from '../../src/core/types.js';
import { readCertificateBasics } from '../../src/pki/certInfo.js';
import { serialIntegerContent, serialOrNull } from '../../src/pki/serial.js';

/** base64url(authorityKeyIdentifier keyIdentifier) "." base64url(serial DER content). */
export function ariCertId(certificatePem: string, issuerPem: string): string {
  const issuer = readCertificateBasics(Buffer.from(new X509Certificate(issuerPem).raw));
  const leaf = readCertificateBasics(Buffer.from(new X509Certificate(certificatePem).raw));
  return `${(issuer.subjectKeyId ?? Buffer.alloc(0)).toString('base64url')}.${serialIntegerContent(leaf.serialHex).toString('base64url')}`;
}

export function parseAriCertId(id: string): { keyId: Buffer; serialHex: string } | null {
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(id);
  if (!m) return null;
  const serialHex = serialOrNull(Buffer.from(m[2] as string, 'base64url'));
  if (!serialHex) return null; // empty, or zero: no certificate has that serial
  return { keyId: Buffer.from(m[1] as string, 'base64url'), serialHex };
}

/** Renew in the last third of the lifetime (from 2/3 to 5/6); a revoked certificate at once. */
export function renewalWindow(cert: CertificateRecord, now: Date): { start: string; end: string } {
  if (cert.revokedAt) return { start: new Date(now.getTime() - 3_600_000).toISOString(), end: now.toISOString() };
  const from = cert.validFrom.getTime();
  const life = cert.validTo.getTime() - from;
  return { start: new Date(from + (life * 2) / 3).toISOString(), end: new Date(from + (life * 5) / 6).toISOString() };
}
