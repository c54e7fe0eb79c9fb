import { createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type { SubjectAltNameSet } from './certificate.js';
import { bitString, implicitPrimitive, octetString, oid, printableString, sequence, set, smallInteger, tlv, utf8String } from './der.js';
import { ipToBytes } from './ip.js';
import { encodeName, parseDnString } from './name.js';
import { OID } from './oids.js';
import { toPem } from './pem.js';

export interface CsrExtras {
  /** A PKCS#9 challengePassword attribute (SCEP), as a PrintableString (default) or UTF8String. */
  challengePassword?: string;
  challengePasswordType?: 'printable' | 'utf8';
}

/** Builds a signed PKCS#10 request (server-side key generation, test and benchmark fixtures). */
export function buildCsr(key: KeyObject, subject: string, san: Partial<SubjectAltNameSet> = {}, extras: CsrExtras = {}): string {
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const names: Buffer[] = [
    ...(san.dns ?? []).map((d) => implicitPrimitive(2, Buffer.from(d, 'latin1'))),
    ...(san.ip ?? []).map((ip) => implicitPrimitive(7, ipToBytes(ip) ?? Buffer.alloc(0))),
    ...(san.email ?? []).map((e) => implicitPrimitive(1, Buffer.from(e, 'latin1'))),
    ...(san.uri ?? []).map((u) => implicitPrimitive(6, Buffer.from(u, 'latin1'))),
  ];
  const attributes = names.length
    ? [sequence(oid(OID.extensionRequest), set(sequence(sequence(oid(OID.subjectAltName), octetString(sequence(...names))))))]
    : [];
  if (extras.challengePassword !== undefined) {
    const value = extras.challengePasswordType === 'utf8' ? utf8String(extras.challengePassword) : printableString(extras.challengePassword);
    attributes.push(sequence(oid(OID.challengePassword), set(value)));
  }
  // DER orders a SET OF by the encodings of its members.
  attributes.sort(Buffer.compare);
  const info = sequence(smallInteger(0), encodeName(subject ? parseDnString(subject) : []), spki, tlv(0xa0, Buffer.concat(attributes)));
  const isEc = key.asymmetricKeyType === 'ec';
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const hash = isEc && curve === 'secp384r1' ? 'sha384' : 'sha256';
  const alg = isEc ? sequence(oid(hash === 'sha384' ? OID.ecdsaWithSHA384 : OID.ecdsaWithSHA256)) : sequence(oid(OID.sha256WithRSAEncryption), Buffer.from([5, 0]));
  const sig = cryptoSign(hash, info, { key, dsaEncoding: 'der' });
  return toPem('CERTIFICATE REQUEST', sequence(info, alg, bitString(sig)));
}
