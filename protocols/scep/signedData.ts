// The signed layer of a pkiMessage (RFC 8894 §3.2): a CMS SignedData with one signer whose signed
// attributes carry SCEP's fields. Read, verified and built with pkijs over asn1js; every signature
// and verification is node:crypto's (pkijs's own crypto is WebCrypto).
import { constants, createHash, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { OID } from '../../src/pki/oids.js';
import { preEncoded } from '../../src/pki/pkcs7.js';
import { CMS, DIGEST_OID, DIGESTS, RSA_ENCRYPTION, RSASSA_PSS, SCEP_ATTR, SIGNATURES, type DigestName } from './algorithms.js';
import { berOf, bytesOf, octets, orElse, toDer } from './asn1Values.js';
import { issuerAndSerial, signerOf, type CertRef, type Signer } from './certRef.js';
import { MalformedMessage, ScepFailure } from './messageErrors.js';

/** The certificates of a SignedData exactly as sent (pkijs re-encodes what it parses). */
function rawCertificates(signedDataSchema: asn1js.AsnType): Buffer[] {
  const seq = signedDataSchema as asn1js.Sequence;
  const set = seq.valueBlock.value.find((b) => b.idBlock.tagClass === 3 && b.idBlock.tagNumber === 0) as asn1js.Constructed | undefined;
  return set ? set.valueBlock.value.map((b) => bytesOf(b.valueBeforeDecodeView)) : [];
}

function attributeMap(attrs: pkijs.Attribute[]): Map<string, unknown> {
  const map = new Map<string, unknown>();
  for (const a of attrs) {
    if (map.has(a.type)) throw new MalformedMessage(`attribute ${a.type} appears twice`);
    if (!Array.isArray(a.values) || a.values.length !== 1) throw new MalformedMessage(`attribute ${a.type} must have exactly one value`);
    map.set(a.type, a.values[0]);
  }
  return map;
}

export interface ParsedSigned {
  signedData: pkijs.SignedData;
  schema: asn1js.AsnType;
  signerInfo: pkijs.SignerInfo & { signedAttrs: pkijs.SignedAndUnsignedAttributes };
  attrs: Map<string, unknown>;
}

/** A SignedData with one signer and signed attributes, as every pkiMessage is. */
export function parseSigned(der: Buffer): ParsedSigned {
  let signedData: pkijs.SignedData;
  let schema: asn1js.AsnType;
  try {
    const info = new pkijs.ContentInfo({ schema: berOf(der) });
    if (info.contentType !== CMS.signedData) throw new MalformedMessage('not a CMS SignedData');
    schema = info.content as asn1js.AsnType;
    signedData = new pkijs.SignedData({ schema });
  } catch (e) {
    if (e instanceof MalformedMessage) throw e;
    throw new MalformedMessage(`not a pkiMessage: ${(e as Error).message}`);
  }
  const signerInfo = signedData.signerInfos[0];
  if (!signerInfo || signedData.signerInfos.length !== 1) throw new MalformedMessage('a pkiMessage has exactly one signer');
  if (!signerInfo.signedAttrs || !Array.isArray(signerInfo.signedAttrs.attributes) || signerInfo.signedAttrs.attributes.length === 0) {
    throw new MalformedMessage('a pkiMessage has signed attributes');
  }
  return { signedData, schema, signerInfo: signerInfo as ParsedSigned['signerInfo'], attrs: attributeMap(signerInfo.signedAttrs.attributes) };
}

/**
 * The signer's certificate (as sent, found by the SignerInfo's identifier), its signature over the
 * signed attributes, and their contentType and messageDigest for the content. Answers the content,
 * or why the message cannot be trusted.
 */
export function verifySigned(p: ParsedSigned, digest: DigestName): { signer: Signer; content: Buffer | null } | ScepFailure {
  try {
    return verifySignedOrThrow(p, digest);
  } catch (e) {
    return new ScepFailure('badMessageCheck', `the message cannot be verified: ${(e as Error).message}`);
  }
}

function verifySignedOrThrow(p: ParsedSigned, digest: DigestName): { signer: Signer; content: Buffer | null } | ScepFailure {
  const { signerInfo, attrs, signedData } = p;
  let signer: Signer | undefined;
  try {
    const sid = signerInfo.sid as unknown;
    // pkijs parsed the certificates already; the bytes as sent come from the same positions.
    const raws = rawCertificates(p.schema);
    (signedData.certificates ?? []).forEach((cert, i) => {
      const raw = raws[i];
      if (signer || !(cert instanceof pkijs.Certificate) || !raw) return;
      const matches = sid instanceof pkijs.IssuerAndSerialNumber ? cert.issuer.isEqual(sid.issuer) && cert.serialNumber.isEqual(sid.serialNumber) : subjectKeyIdMatches(cert, sid);
      if (matches) signer = signerOf(raw, cert);
    });
  } catch (e) {
    return new ScepFailure('badMessageCheck', `the signer's certificate does not parse: ${(e as Error).message}`);
  }
  if (!signer) return new ScepFailure('badMessageCheck', "the signer's certificate is not in the message");

  const algorithm = signerInfo.signatureAlgorithm.algorithmId;
  let options: { hash: DigestName; padding?: number; saltLength?: number; dsaEncoding?: 'der' };
  if (algorithm === RSASSA_PSS) {
    const params = orElse(() => new pkijs.RSASSAPSSParams({ schema: signerInfo.signatureAlgorithm.algorithmParams }), undefined);
    const hash = params && DIGESTS[params.hashAlgorithm.algorithmId];
    if (!params || !hash) return new ScepFailure('badAlg', 'RSASSA-PSS parameters that do not parse or name an unsupported hash');
    options = { hash, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: params.saltLength };
  } else {
    const known = SIGNATURES[algorithm];
    if (!known) return new ScepFailure('badAlg', `signature algorithm ${algorithm} is not supported`);
    options = known.kind === 'rsa' ? { hash: known.hash ?? digest, padding: constants.RSA_PKCS1_PADDING } : { hash: known.hash ?? digest, dsaEncoding: 'der' };
  }
  // The signature covers the DER of the attributes as a SET (RFC 5652 §5.4), taken as received.
  const signedBytes = bytesOf(signerInfo.signedAttrs.encodedValue);
  const signature = bytesOf(signerInfo.signature.valueBlock.valueHexView);
  const { hash, ...keyOptions } = options;
  const key = signer.publicKey;
  if (!orElse(() => verify(hash, signedBytes, { key, ...keyOptions }, signature), false)) {
    return new ScepFailure('badMessageCheck', 'the signature does not verify with the signer certificate');
  }

  const econtent = signedData.encapContentInfo.eContent;
  const content = orElse<Buffer | null | undefined>(() => (econtent ? octets(econtent) : null), undefined);
  if (content === undefined) return new ScepFailure('badMessageCheck', 'the encapsulated content is not an OCTET STRING');
  const contentType = attrs.get(CMS.contentType);
  if (!(contentType instanceof asn1js.ObjectIdentifier) || contentType.getValue() !== signedData.encapContentInfo.eContentType) {
    return new ScepFailure('badMessageCheck', 'the contentType attribute does not name the content');
  }
  const digestValue = attrs.get(CMS.messageDigest);
  if (!orElse(() => octets(digestValue).equals(createHash(digest).update(content ?? Buffer.alloc(0)).digest()), false)) {
    return new ScepFailure('badMessageCheck', 'the messageDigest attribute does not match the content');
  }
  return { signer, content };
}

function subjectKeyIdMatches(cert: pkijs.Certificate, sid: unknown): boolean {
  // SubjectKeyIdentifier is [0] IMPLICIT OCTET STRING; pkijs leaves it as a raw block.
  const block = sid as { idBlock?: { tagClass: number; tagNumber: number }; valueBlock?: { valueHexView?: Uint8Array } };
  if (block.idBlock?.tagClass !== 3 || block.idBlock.tagNumber !== 0 || !block.valueBlock?.valueHexView) return false;
  const ext = cert.extensions?.find((e) => e.extnID === OID.subjectKeyIdentifier);
  const ski = ext?.parsedValue as asn1js.OctetString | undefined;
  return !!ski && bytesOf(ski.valueBlock.valueHexView).equals(bytesOf(block.valueBlock.valueHexView));
}

/** Who signs a message: the certificate and the key, or what signs for a key kept in a token. */
export interface MessageSigner extends CertRef {
  key: KeyObject | ((digest: DigestName, data: Buffer) => Promise<Buffer>);
}

export interface SignedMessage {
  signer: MessageSigner;
  digest: DigestName;
  messageType: number;
  transactionId: string;
  /** SCEP attributes beyond messageType, transactionID and a fresh senderNonce (pkiStatus, recipientNonce, ...). */
  attributes?: { type: string; value: asn1js.AsnType }[];
  /** The pkcsPKIEnvelope, when there is one. */
  envelope?: Buffer;
  senderNonce?: Buffer;
  now?: Date;
}

/**
 * A pkiMessage signed by `signer` (RSA PKCS#1 v1.5, the signature computed on libuv's thread pool):
 * contentType, signingTime and messageDigest, then SCEP's attributes, in DER's SET OF order.
 */
export async function buildPkiMessage(o: SignedMessage): Promise<Buffer> {
  const content = o.envelope ?? Buffer.alloc(0);
  const attributes = [
    attribute(CMS.contentType, new asn1js.ObjectIdentifier({ value: CMS.data })),
    attribute(CMS.signingTime, new asn1js.UTCTime({ valueDate: o.now ?? new Date() })),
    attribute(CMS.messageDigest, new asn1js.OctetString({ valueHex: createHash(o.digest).update(content).digest() })),
    attribute(SCEP_ATTR.messageType, new asn1js.PrintableString({ value: String(o.messageType) })),
    attribute(SCEP_ATTR.transactionID, new asn1js.PrintableString({ value: o.transactionId })),
    attribute(SCEP_ATTR.senderNonce, new asn1js.OctetString({ valueHex: o.senderNonce ?? randomBytes(16) })),
    ...(o.attributes ?? []).map((a) => attribute(a.type, a.value)),
  ];
  // DER orders a SET OF by the encodings of its members.
  const sorted = attributes.map((a) => ({ a, der: toDer(a.toSchema()) })).sort((x, y) => Buffer.compare(x.der, y.der));
  const signedAttrs = new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes: sorted.map((s) => s.a) });
  const toSign = toDer(signedAttrs.toSchema());
  toSign[0] = 0x31;
  const key = o.signer.key;
  const signature =
    typeof key === 'function'
      ? await key(o.digest, toSign)
      : await new Promise<Buffer>((resolve, reject) => sign(o.digest, toSign, { key, padding: constants.RSA_PKCS1_PADDING }, (err, sig) => (err ? reject(err) : resolve(sig))));
  const digestAlgorithm = new pkijs.AlgorithmIdentifier({ algorithmId: DIGEST_OID[o.digest], algorithmParams: new asn1js.Null() });
  const encapContentInfo = new pkijs.EncapsulatedContentInfo({ eContentType: CMS.data });
  // Set after construction: the constructor would split it into a BER constructed string.
  if (o.envelope) encapContentInfo.eContent = new asn1js.OctetString({ valueHex: o.envelope });
  const signed = new pkijs.SignedData({
    version: 1,
    digestAlgorithms: [digestAlgorithm],
    encapContentInfo,
    certificates: [preEncoded<pkijs.Certificate>(o.signer.der)],
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: issuerAndSerial(o.signer),
        digestAlgorithm,
        signedAttrs,
        signatureAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: RSA_ENCRYPTION, algorithmParams: new asn1js.Null() }),
        signature: new asn1js.OctetString({ valueHex: signature }),
      }),
    ],
  });
  return toDer(new pkijs.ContentInfo({ contentType: CMS.signedData, content: signed.toSchema() }).toSchema());
}

function attribute(type: string, value: asn1js.AsnType): pkijs.Attribute {
  return new pkijs.Attribute({ type, values: [value] });
}
