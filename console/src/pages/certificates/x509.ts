// What a person reads of a certificate in its PEM: subject, issuer, validity and fingerprints,
// parsed in the browser (pkijs, the project's own X.509 library) from the chain the API gives.
import { fromBER } from 'asn1js';
import { Certificate as X509 } from 'pkijs';

export interface CertificateFacts {
  pem: string;
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  sha256: string;
  sha1: string;
}

const ATTRIBUTE_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '0.9.2342.19200300.100.1.25': 'DC',
};

/** Each PEM certificate block of a text, in order. */
export function pemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

const derOf = (pem: string): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '')), (ch) => ch.charCodeAt(0));

const hex = (buffer: ArrayBuffer): string =>
  [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');

/** RFC 4514 order (most specific first), as openssl's -nameopt RFC2253 prints it. */
function nameOf(rdn: X509['subject']): string {
  return rdn.typesAndValues
    .map((tv) => `${ATTRIBUTE_NAMES[tv.type] ?? tv.type}=${String(tv.value.valueBlock.value)}`)
    .reverse()
    .join(', ');
}

export async function factsOf(pem: string): Promise<CertificateFacts> {
  const der = derOf(pem);
  const asn1 = fromBER(der.buffer);
  if (asn1.offset === -1) throw new Error('not a DER certificate');
  const cert = new X509({ schema: asn1.result });
  // The console is served over HTTPS or from localhost (its cookie is Secure): SubtleCrypto is there.
  const [sha256, sha1] = await Promise.all([crypto.subtle.digest('SHA-256', der), crypto.subtle.digest('SHA-1', der)]);
  return {
    pem,
    subject: nameOf(cert.subject),
    issuer: nameOf(cert.issuer),
    notBefore: cert.notBefore.value.toISOString(),
    notAfter: cert.notAfter.value.toISOString(),
    sha256: hex(sha256),
    sha1: hex(sha1),
  };
}
