// pkijs (over asn1js) as the independent decoder that certgate's hand-written encoders are checked
// against: these helpers read what a relying party would, without any of certgate's DER code.
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { REVOCATION_REASON_CODES, type RevocationReason } from '../../src/core/types.js';

const REASON_BY_CODE = new Map<number, RevocationReason>(Object.entries(REVOCATION_REASON_CODES).map(([name, code]) => [code, name as RevocationReason]));

function reasonOf(code: number): RevocationReason {
  const reason = REASON_BY_CODE.get(code);
  if (!reason) throw new Error(`CRLReason ${code} is not one RFC 5280 defines`);
  return reason;
}

/** An INTEGER's content as lower-case hex, without the 00 octet that keeps a high bit positive. */
export function integerHex(value: asn1js.Integer): string {
  return Buffer.from(value.valueBlock.valueHexView).toString('hex').replace(/^00(?=[89a-f])/, '');
}

export interface PkijsCrlEntry {
  serialHex: string;
  revokedAt: Date;
  reason: RevocationReason | null;
  invalidityDate: Date | null;
}

export interface PkijsCrl {
  crl: pkijs.CertificateRevocationList;
  version: number;
  issuerDer: Buffer;
  crlNumber: bigint | null;
  thisUpdate: Date;
  nextUpdate: Date | null;
  signatureAlgorithm: string;
  entries: PkijsCrlEntry[];
}

export function readCrlWithPkijs(der: Buffer): PkijsCrl {
  const crl = pkijs.CertificateRevocationList.fromBER(der);
  const number = crl.crlExtensions?.extensions.find((e) => e.extnID === '2.5.29.20')?.parsedValue as asn1js.Integer | undefined;
  return {
    crl,
    version: crl.version,
    issuerDer: Buffer.from(crl.issuer.toSchema().toBER()),
    crlNumber: number ? BigInt(`0x${Buffer.from(number.valueBlock.valueHexView).toString('hex')}`) : null,
    thisUpdate: crl.thisUpdate.value,
    nextUpdate: crl.nextUpdate?.value ?? null,
    signatureAlgorithm: crl.signatureAlgorithm.algorithmId,
    entries: (crl.revokedCertificates ?? []).map((e) => {
      const exts = e.crlEntryExtensions?.extensions ?? [];
      const reason = exts.find((x) => x.extnID === '2.5.29.21')?.parsedValue as asn1js.Enumerated | undefined;
      const invalidity = exts.find((x) => x.extnID === '2.5.29.24')?.parsedValue as asn1js.GeneralizedTime | undefined;
      return {
        serialHex: integerHex(e.userCertificate),
        revokedAt: e.revocationDate.value,
        reason: reason ? reasonOf(reason.valueBlock.valueDec) : null,
        invalidityDate: invalidity ? invalidity.toDate() : null,
      };
    }),
  };
}

/** pkijs's own signature check (WebCrypto) of a CRL against its issuer's certificate. */
export function crlSignedBy(der: Buffer, issuerCertDer: Buffer): Promise<boolean> {
  return pkijs.CertificateRevocationList.fromBER(der).verify({ issuerCertificate: pkijs.Certificate.fromBER(issuerCertDer) });
}

export interface PkijsSingleResponse {
  serialHex: string;
  status: 'good' | 'revoked' | 'unknown';
  revokedAt: Date | null;
  /** null: revoked with no revocationReason. */
  reason: RevocationReason | null;
  thisUpdate: Date;
  nextUpdate: Date | null;
}

export interface PkijsOcspResponse {
  basic: pkijs.BasicOCSPResponse;
  responderKeyHash: Buffer | null;
  producedAt: Date;
  responses: PkijsSingleResponse[];
}

/** A successful OCSPResponse's BasicOCSPResponse as pkijs reads it. */
export function readOcspWithPkijs(der: Buffer): PkijsOcspResponse {
  const response = pkijs.OCSPResponse.fromBER(der);
  if (response.responseStatus.valueBlock.valueDec !== 0) throw new Error(`OCSP responseStatus ${response.responseStatus.valueBlock.valueDec}`);
  if (response.responseBytes?.responseType !== '1.3.6.1.5.5.7.48.1.1') throw new Error('not a BasicOCSPResponse');
  const basic = pkijs.BasicOCSPResponse.fromBER(response.responseBytes.response.valueBlock.valueHexView);
  const data = basic.tbsResponseData;
  // ResponderID: pkijs unwraps byName [1] into a Name and byKey [2] into its KeyHash OCTET STRING.
  const responder = data.responderID as asn1js.OctetString | pkijs.RelativeDistinguishedNames;
  const byKey = responder instanceof pkijs.RelativeDistinguishedNames ? null : responder;
  return {
    basic,
    responderKeyHash: byKey ? Buffer.from(byKey.valueBlock.valueHexView) : null,
    producedAt: data.producedAt,
    responses: data.responses.map((r) => {
      const cs = r.certStatus as asn1js.BaseBlock & { valueBlock: { value?: asn1js.BaseBlock[] } };
      const status = (['good', 'revoked', 'unknown'] as const)[cs.idBlock.tagNumber];
      if (!status || cs.idBlock.tagClass !== 3) throw new Error('CertStatus is not [0], [1] or [2]');
      let revokedAt: Date | null = null;
      let reason: RevocationReason | null = null;
      if (status === 'revoked') {
        const [time, reasonTag] = cs.valueBlock.value ?? [];
        revokedAt = (time as asn1js.GeneralizedTime).toDate();
        const code = (reasonTag as asn1js.Constructed | undefined)?.valueBlock.value[0] as asn1js.Enumerated | undefined;
        reason = code ? reasonOf(code.valueBlock.valueDec) : null;
      }
      return { serialHex: integerHex(r.certID.serialNumber), status, revokedAt, reason, thisUpdate: r.thisUpdate, nextUpdate: r.nextUpdate ?? null };
    }),
  };
}

/** pkijs's signature check of a BasicOCSPResponse, its signer taken from `certs` and chained to `trusted`. */
export function ocspSignedFor(basic: pkijs.BasicOCSPResponse, trustedDer: Buffer): Promise<boolean> {
  return basic.verify({ trustedCerts: [pkijs.Certificate.fromBER(trustedDer)] });
}

/** Why readCertsOnly refused its input. */
export class CertsOnlyError extends Error {
  override readonly name = 'CertsOnlyError';
}

/**
 * What a certs-only PKCS#7 (EST /cacerts, SCEP GetCACert, a CertRep's content, REST's pkcs7
 * download) holds, each certificate and CRL as sent; a CertsOnlyError for anything else.
 */
export function readCertsOnly(der: Uint8Array): { certificates: Buffer[]; crls: Buffer[] } {
  let signed: pkijs.SignedData;
  let seq: asn1js.Sequence;
  // asn1js and pkijs meet malformed input with errors of every kind.
  try {
    const parsed = asn1js.fromBER(der);
    if (parsed.offset === -1 || parsed.offset !== der.byteLength) throw new CertsOnlyError('not one DER value');
    const info = new pkijs.ContentInfo({ schema: parsed.result });
    if (info.contentType !== pkijs.ContentInfo.SIGNED_DATA) throw new CertsOnlyError(`content type ${info.contentType} is not signed-data`);
    seq = info.content as asn1js.Sequence;
    signed = new pkijs.SignedData({ schema: seq });
  } catch (e) {
    if (e instanceof CertsOnlyError) throw e;
    throw new CertsOnlyError(`malformed CMS: ${(e as Error).message}`);
  }
  if (signed.signerInfos.length) throw new CertsOnlyError('a certs-only message has no signers');
  if ((signed.certificates ?? []).some((c) => !(c instanceof pkijs.Certificate))) throw new CertsOnlyError('a certs-only message carries X.509 certificates only');
  // pkijs re-encodes what it parses; the bytes as sent are the members of [0] and [1].
  const members = (tag: number): Buffer[] => {
    const set = seq.valueBlock.value.find((b) => b.idBlock.tagClass === 3 && b.idBlock.tagNumber === tag) as asn1js.Constructed | undefined;
    return set ? set.valueBlock.value.map((b) => Buffer.from(b.valueBeforeDecodeView)) : [];
  };
  return { certificates: members(0), crls: members(1) };
}
