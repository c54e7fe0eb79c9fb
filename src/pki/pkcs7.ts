// Certs-only PKCS#7 (a degenerate CMS SignedData, RFC 5652 §5 with no signers): how EST's
// /cacerts (RFC 7030 §4.1.3), SCEP's GetCACert and CertRep content (RFC 8894 §3.4) and REST's
// pkcs7 download hand out certificates, and how Windows and Java tools take a certificate with its
// chain in one file. Built with pkijs over asn1js.
import * as pkijs from 'pkijs';
import { OID } from './oids.js';

/**
 * DER placed into a pkijs structure as it is, neither parsed nor re-encoded: pkijs asks a member
 * (a certificate, a CRL, a Name) for toSchema(), asn1js asks the result for toBER(). Parsing a
 * certificate with pkijs only to encode it again costs about a millisecond of CPU (asn1js parses
 * the TBS part again), and the bytes we hand out are ours, already DER.
 */
class PreEncoded {
  private readonly bytes: ArrayBuffer;
  constructor(der: Uint8Array) {
    this.bytes = der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
  }
  toSchema(): this {
    return this;
  }
  toBER(_sizeOnly?: boolean, writer?: { write(buf: ArrayBuffer): void }): ArrayBuffer {
    if (!writer) return this.bytes;
    writer.write(this.bytes);
    return new ArrayBuffer(0);
  }
}

/** `der` standing in for the pkijs value `T` (a Certificate, a CRL, a Name) that it encodes. */
export const preEncoded = <T>(der: Uint8Array): T => new PreEncoded(der) as unknown as T;

/**
 * A certs-only ContentInfo (DER) carrying these certificates and CRLs (DER, in this order: the
 * certificate first, then its chain). An empty list leaves its field out, as RFC 5652 allows.
 */
export function certsOnlyPkcs7(certificates: readonly Uint8Array[], crls: readonly Uint8Array[] = []): Buffer {
  const signed = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: OID.data }),
    ...(certificates.length ? { certificates: certificates.map((c) => preEncoded<pkijs.Certificate>(c)) } : {}),
    ...(crls.length ? { crls: crls.map((c) => preEncoded<pkijs.CertificateRevocationList>(c)) } : {}),
    signerInfos: [],
  });
  const info = new pkijs.ContentInfo({ contentType: pkijs.ContentInfo.SIGNED_DATA, content: signed.toSchema() });
  return Buffer.from(info.toSchema().toBER(false));
}
