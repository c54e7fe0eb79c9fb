// The CMS EST speaks: certs-only SignedData (RFC 5652 §5, "degenerate" SignedData without signers,
// RFC 7030 §4.1.3 and §4.2.3), built and read with pkijs over asn1js.
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

export class CmsError extends Error {
  override readonly name = 'CmsError';
}

/** asn1js's RawData, but taking part in the encoding of the block that contains it. */
class PreEncoded extends asn1js.RawData {
  override toBER(_sizeOnly?: boolean, writer?: asn1js.ViewWriter): ArrayBuffer {
    const buffer = this.dataView.slice().buffer;
    if (!writer) return buffer;
    writer.write(buffer);
    return new ArrayBuffer(0);
  }
}

/**
 * A certificate that is already DER, encoded as it is. Reading it into pkijs's fields only to encode
 * them again costs about 1.5 ms of CPU (asn1js parses the TBS part again to encode it), and a
 * certs-only message needs none of them: this is the difference between EST keeping up with REST
 * and not.
 */
class EncodedCertificate extends pkijs.Certificate {
  constructor(private readonly der: Uint8Array) {
    super();
  }

  override toSchema(): asn1js.Sequence {
    return new PreEncoded({ data: this.der }) as unknown as asn1js.Sequence;
  }
}

/** A certs-only ContentInfo (DER) carrying these certificates (DER), in this order. */
export function certsOnly(certificatesDer: readonly Uint8Array[]): Buffer {
  const signed = new pkijs.SignedData({
    version: 1,
    digestAlgorithms: [],
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: pkijs.ContentInfo.DATA }),
    certificates: certificatesDer.map((der) => new EncodedCertificate(der)),
    signerInfos: [],
  });
  const info = new pkijs.ContentInfo({ contentType: pkijs.ContentInfo.SIGNED_DATA, content: signed.toSchema(true) });
  return Buffer.from(info.toSchema().toBER(false));
}

/** The certificates (DER) of a certs-only ContentInfo, in order; throws CmsError for anything else. */
export function readCertsOnly(der: Uint8Array): Buffer[] {
  let signed: pkijs.SignedData;
  try {
    const asn = asn1js.fromBER(der);
    if (asn.offset === -1 || asn.offset !== der.byteLength) throw new CmsError('not one DER value');
    const info = new pkijs.ContentInfo({ schema: asn.result });
    if (info.contentType !== pkijs.ContentInfo.SIGNED_DATA) throw new CmsError(`content type ${info.contentType} is not signed-data`);
    signed = new pkijs.SignedData({ schema: info.content });
  } catch (e) {
    if (e instanceof CmsError) throw e;
    throw new CmsError(`malformed CMS: ${(e as Error).message}`);
  }
  if (signed.signerInfos.length) throw new CmsError('a certs-only message has no signers');
  return (signed.certificates ?? []).map((c) => {
    if (!(c instanceof pkijs.Certificate)) throw new CmsError('a certs-only message carries X.509 certificates only');
    return Buffer.from(c.toSchema().toBER(false));
  });
}
