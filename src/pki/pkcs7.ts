// Certs-only PKCS#7 (a degenerate CMS SignedData, RFC 5652 §5 with no signers): how Windows and
// Java tools take a certificate with its chain in one file. Built with pkijs.
import * as pkijs from 'pkijs';
import { OID } from './oids.js';

/** DER in (the certificate first, then its chain), DER out. */
export function certsOnlyPkcs7(certificates: readonly Buffer[]): Buffer {
  const signed = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: OID.data }),
    certificates: certificates.map((der) => pkijs.Certificate.fromBER(der)),
    signerInfos: [],
  });
  const info = new pkijs.ContentInfo({ contentType: pkijs.ContentInfo.SIGNED_DATA, content: signed.toSchema(true) });
  return Buffer.from(info.toSchema().toBER(false));
}
