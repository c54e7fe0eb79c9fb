// The pkiMessage (RFC 8894 §3): a CMS SignedData whose signed attributes carry SCEP's fields and
// whose content is a CMS EnvelopedData for the RA. Parsed and built with pkijs over asn1js; every
// signature, verification and RSA operation is node:crypto's (pkijs's own crypto is WebCrypto,
// which has no RSA PKCS#1 v1.5 encryption).
import { createCipheriv, createDecipheriv, createHash, createPublicKey, constants, publicEncrypt, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { serialOrNull } from '../../src/pki/serial.js';
import {
  CIPHERS,
  CMS,
  DIGEST_OID,
  DIGESTS,
  FAIL_INFO,
  isMessageType,
  MESSAGE_TYPE,
  PKI_STATUS,
  RSA_ENCRYPTION,
  RSASSA_PSS,
  SCEP_ATTR,
  SIGNATURES,
  type ContentCipher,
  type DigestName,
  type FailInfo,
  type MessageType,
  type PkiStatus,
} from './algorithms.js';
import { rsaDecryptPkcs1Implicit, RsaInputError } from './implicitRejection.js';

/** Nothing to reply to: not a pkiMessage, or one without the fields a CertRep must echo. HTTP 400. */
export class MalformedMessage extends Error {
  override readonly name = 'MalformedMessage';
}

/** What a CertRep needs to answer a request, known once its signed attributes are read. */
export interface ReplyTo {
  messageType: number;
  transactionId: string;
  senderNonce: Buffer;
  /** The request's digest when we support it, else SHA-256: the CertRep is signed with it. */
  digest: DigestName;
}

/** A request that can be answered, but only with FAILURE and this failInfo. */
export class ScepFailure extends Error {
  override readonly name = 'ScepFailure';
  constructor(
    readonly failInfo: FailInfo,
    message: string,
  ) {
    super(message);
  }
}

/** A certificate as CMS names it (IssuerAndSerialNumber), with its bytes as sent. */
export interface CertRef {
  der: Buffer;
  /** The issuer Name, DER. */
  issuerDer: Buffer;
  /** The serial number INTEGER's content octets. */
  serial: Buffer;
}

export interface Signer extends CertRef {
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  /** Lower-case hex, as the store keeps serials. */
  serialHex: string;
}

export interface PkiMessage extends ReplyTo {
  messageType: MessageType;
  signer: Signer;
  signingTime: Date | null;
  /** The pkcsPKIEnvelope: a DER ContentInfo holding an EnvelopedData. */
  envelope: Buffer | null;
}

const MAX_TRANSACTION_ID = 128;

function berOf(bytes: Uint8Array): asn1js.AsnType {
  const parsed = asn1js.fromBER(bytes);
  if (parsed.offset === -1 || parsed.result.error) throw new MalformedMessage(`not BER: ${parsed.result.error || 'unreadable'}`);
  if (parsed.offset !== bytes.byteLength) throw new MalformedMessage('trailing data after the message');
  return parsed.result;
}

const bytesOf = (view: ArrayBuffer | Uint8Array): Buffer => Buffer.from(view instanceof Uint8Array ? view : new Uint8Array(view));
const toDer = (schema: { toBER(sizeOnly?: boolean): ArrayBuffer }): Buffer => Buffer.from(schema.toBER(false));

/** The value of an OCTET STRING, primitive or (BER) constructed. */
function octets(value: unknown): Buffer {
  if (!(value instanceof asn1js.OctetString)) throw new MalformedMessage('expected an OCTET STRING');
  return bytesOf(value.getValue());
}

function stringOf(value: unknown, what: string): string {
  if (value instanceof asn1js.PrintableString || value instanceof asn1js.Utf8String || value instanceof asn1js.IA5String) return value.getValue();
  throw new MalformedMessage(`${what} is not a string`);
}

function serialHexOf(serial: asn1js.Integer): string {
  // Zero is no certificate's serial: looking '00' up finds none, as it always did.
  return serialOrNull(bytesOf(serial.valueBlock.valueHexView)) ?? '00';
}

/** The certificates of a SignedData exactly as sent (pkijs re-encodes what it parses). */
function rawCertificates(signedDataSchema: asn1js.AsnType): Buffer[] {
  const seq = signedDataSchema as asn1js.Sequence;
  const set = seq.valueBlock.value.find((b) => b.idBlock.tagClass === 3 && b.idBlock.tagNumber === 0) as asn1js.Constructed | undefined;
  return set ? set.valueBlock.value.map((b) => bytesOf(b.valueBeforeDecodeView)) : [];
}

function refOf(der: Buffer, cert: pkijs.Certificate): CertRef {
  return { der, issuerDer: toDer(cert.issuer.toSchema()), serial: bytesOf(cert.serialNumber.valueBlock.valueHexView) };
}

/** The IssuerAndSerialNumber of a certificate (pkijs keeps the issuer Name's bytes as they came). */
export function certRef(der: Buffer): CertRef {
  return refOf(der, pkijs.Certificate.fromBER(der));
}

function signerOf(der: Buffer, cert: pkijs.Certificate): Signer {
  // Not X509Certificate: it costs half a millisecond, most of it on what is not needed here.
  const spki = toDer(cert.subjectPublicKeyInfo.toSchema());
  return {
    ...refOf(der, cert),
    publicKey: createPublicKey({ key: spki, format: 'der', type: 'spki' }),
    notBefore: cert.notBefore.value,
    notAfter: cert.notAfter.value,
    serialHex: serialHexOf(cert.serialNumber),
  };
}

/** IssuerAndSerialNumber from a CertRef, without parsing the certificate again. */
function issuerAndSerial(ref: Pick<CertRef, 'issuerDer' | 'serial'>): pkijs.IssuerAndSerialNumber {
  return new pkijs.IssuerAndSerialNumber({ issuer: preEncoded<pkijs.RelativeDistinguishedNames>(ref.issuerDer), serialNumber: new asn1js.Integer({ valueHex: ref.serial }) });
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

function timeOf(value: unknown): Date {
  if (value instanceof asn1js.UTCTime || value instanceof asn1js.GeneralizedTime) return value.toDate();
  throw new MalformedMessage('signingTime is not a time');
}

interface ParsedSigned {
  signedData: pkijs.SignedData;
  schema: asn1js.AsnType;
  signerInfo: pkijs.SignerInfo & { signedAttrs: pkijs.SignedAndUnsignedAttributes };
  attrs: Map<string, unknown>;
}

/** A SignedData with one signer and signed attributes, as every pkiMessage is. */
function parseSigned(der: Buffer): ParsedSigned {
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
function verifySigned(p: ParsedSigned, digest: DigestName): { signer: Signer; content: Buffer | null } | ScepFailure {
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

/**
 * Reads and checks a pkiMessage. Throws MalformedMessage when there is nothing to answer (no
 * transactionID or senderNonce to echo); answers `failure` (with `replyTo`) for a request to answer
 * with FAILURE: badAlg, badMessageCheck (a signature or digest that does not verify), badTime.
 */
export function readPkiMessage(der: Buffer, now: Date, maxClockSkewMs: number): { replyTo: ReplyTo; message?: PkiMessage; failure?: ScepFailure } {
  try {
    return readPkiMessageOrThrow(der, now, maxClockSkewMs);
  } catch (e) {
    // pkijs and asn1js meet malformed input with TypeErrors as often as with their own errors.
    if (e instanceof MalformedMessage) throw e;
    throw new MalformedMessage(`not a pkiMessage: ${(e as Error).message}`);
  }
}

function readPkiMessageOrThrow(der: Buffer, now: Date, maxClockSkewMs: number): { replyTo: ReplyTo; message?: PkiMessage; failure?: ScepFailure } {
  const parsed = parseSigned(der);
  const { attrs, signerInfo } = parsed;
  const txValue = attrs.get(SCEP_ATTR.transactionID);
  const nonceValue = attrs.get(SCEP_ATTR.senderNonce);
  const typeValue = attrs.get(SCEP_ATTR.messageType);
  if (txValue === undefined || nonceValue === undefined || typeValue === undefined) throw new MalformedMessage('transactionID, senderNonce and messageType are required');
  const transactionId = stringOf(txValue, 'transactionID');
  if (transactionId.length === 0 || transactionId.length > MAX_TRANSACTION_ID || !/^[\x20-\x7e]+$/.test(transactionId)) throw new MalformedMessage('transactionID must be 1 to 128 printable characters');
  const senderNonce = octets(nonceValue);
  if (senderNonce.length < 8 || senderNonce.length > 64) throw new MalformedMessage('senderNonce must be 8 to 64 bytes (RFC 8894: 16)');
  const typeText = stringOf(typeValue, 'messageType');
  const messageType = /^\d{1,3}$/.test(typeText) ? Number(typeText) : -1;
  const digest = DIGESTS[signerInfo.digestAlgorithm.algorithmId];
  const replyTo: ReplyTo = { messageType, transactionId, senderNonce, digest: digest ?? 'sha256' };
  const fail = (failure: ScepFailure) => ({ replyTo, failure });

  if (!isMessageType(messageType) || messageType === MESSAGE_TYPE.CertRep) return fail(new ScepFailure('badRequest', `messageType ${typeText} is not a request this server answers`));
  if (!digest) return fail(new ScepFailure('badAlg', `digest algorithm ${signerInfo.digestAlgorithm.algorithmId} is not supported (SHA-1, SHA-2)`));
  const verified = verifySigned(parsed, digest);
  if (verified instanceof ScepFailure) return fail(verified);

  let signingTime: Date | null = null;
  const timeValue = attrs.get(CMS.signingTime);
  if (timeValue !== undefined) {
    signingTime = orElse<Date | null>(() => timeOf(timeValue), null);
    if (!signingTime) return fail(new ScepFailure('badMessageCheck', 'signingTime is not a time'));
    if (Math.abs(signingTime.getTime() - now.getTime()) > maxClockSkewMs) return fail(new ScepFailure('badTime', `signingTime ${signingTime.toISOString()} is too far from the server's clock`));
  }
  return { replyTo, message: { ...replyTo, messageType, signer: verified.signer, signingTime, envelope: verified.content } };
}

export interface ReadCertRep {
  status: PkiStatus;
  failInfo: FailInfo | null;
  transactionId: string;
  senderNonce: Buffer;
  recipientNonce: Buffer;
  signer: Signer;
  /** SUCCESS: the pkcsPKIEnvelope. */
  envelope: Buffer | null;
  /** The signed attributes' types, in order. */
  attributeTypes: string[];
}

/** A client's reading of a CertRep (tests and the benchmark play the client). Throws if it does not verify. */
export function readCertRep(der: Buffer): ReadCertRep {
  const parsed = parseSigned(der);
  const { attrs } = parsed;
  const digest = DIGESTS[parsed.signerInfo.digestAlgorithm.algorithmId];
  if (!digest) throw new MalformedMessage('unsupported digest');
  const verified = verifySigned(parsed, digest);
  if (verified instanceof ScepFailure) throw verified;
  if (stringOf(attrs.get(SCEP_ATTR.messageType), 'messageType') !== '3') throw new MalformedMessage('not a CertRep');
  const statusText = stringOf(attrs.get(SCEP_ATTR.pkiStatus), 'pkiStatus');
  const status = (Object.keys(PKI_STATUS) as PkiStatus[]).find((k) => PKI_STATUS[k] === statusText);
  if (!status) throw new MalformedMessage(`pkiStatus ${statusText}`);
  const failText = attrs.has(SCEP_ATTR.failInfo) ? stringOf(attrs.get(SCEP_ATTR.failInfo), 'failInfo') : null;
  return {
    status,
    failInfo: failText === null ? null : ((Object.keys(FAIL_INFO) as FailInfo[]).find((k) => FAIL_INFO[k] === failText) ?? null),
    transactionId: stringOf(attrs.get(SCEP_ATTR.transactionID), 'transactionID'),
    senderNonce: octets(attrs.get(SCEP_ATTR.senderNonce)),
    recipientNonce: octets(attrs.get(SCEP_ATTR.recipientNonce)),
    signer: verified.signer,
    envelope: verified.content && verified.content.length ? verified.content : null,
    attributeTypes: parsed.signerInfo.signedAttrs.attributes.map((a) => a.type),
  };
}

/** `fn()`, or `fallback` when it throws (a malformed value is as good as a wrong one here). */
function orElse<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

function subjectKeyIdMatches(cert: pkijs.Certificate, sid: unknown): boolean {
  // SubjectKeyIdentifier is [0] IMPLICIT OCTET STRING; pkijs leaves it as a raw block.
  const block = sid as { idBlock?: { tagClass: number; tagNumber: number }; valueBlock?: { valueHexView?: Uint8Array } };
  if (block.idBlock?.tagClass !== 3 || block.idBlock.tagNumber !== 0 || !block.valueBlock?.valueHexView) return false;
  const ext = cert.extensions?.find((e) => e.extnID === '2.5.29.14');
  const ski = ext?.parsedValue as asn1js.OctetString | undefined;
  return !!ski && bytesOf(ski.valueBlock.valueHexView).equals(bytesOf(block.valueBlock.valueHexView));
}

/** How openEnvelope's failure begins when no recipient of the envelope is one of ours. */
export const UNKNOWN_RECIPIENT = 'the envelope is not encrypted for this RA';

/** An RA key that can open an envelope addressed to its certificate. */
export interface EnvelopeRecipient {
  cert: pkijs.Certificate;
  key: KeyObject;
}

/**
 * Opens the pkcsPKIEnvelope: finds the recipient that is ours, unwraps the content-encryption key
 * with implicit rejection, decrypts. Every way it can fail after the algorithms are known is the
 * same badMessageCheck, whether the key transport's padding or the content's was wrong.
 */
export function openEnvelope<R extends EnvelopeRecipient>(der: Buffer, recipients: readonly R[]): { content: Buffer; cipher: ContentCipher; recipient: R } {
  let enveloped: pkijs.EnvelopedData;
  try {
    const info = new pkijs.ContentInfo({ schema: berOf(der) });
    if (info.contentType !== CMS.envelopedData) throw new Error('not an EnvelopedData');
    enveloped = new pkijs.EnvelopedData({ schema: info.content });
  } catch (e) {
    throw new ScepFailure('badMessageCheck', `the pkcsPKIEnvelope does not parse: ${(e as Error).message}`);
  }
  let found: { info: pkijs.KeyTransRecipientInfo; recipient: R } | undefined;
  for (const ri of enveloped.recipientInfos) {
    if (ri.variant !== 1) continue;
    const info = ri.value as pkijs.KeyTransRecipientInfo;
    if (!(info.rid instanceof pkijs.IssuerAndSerialNumber)) continue;
    const rid = info.rid;
    const recipient = recipients.find((r) => r.cert.serialNumber.isEqual(rid.serialNumber) && r.cert.issuer.isEqual(rid.issuer));
    if (recipient) {
      found = { info, recipient };
      break;
    }
  }
  if (!found) throw new ScepFailure('badMessageCheck', `${UNKNOWN_RECIPIENT} (fetch GetCACert again)`);
  if (found.info.keyEncryptionAlgorithm.algorithmId !== RSA_ENCRYPTION) {
    throw new ScepFailure('badAlg', `key transport ${found.info.keyEncryptionAlgorithm.algorithmId} is not supported (RSA PKCS#1 v1.5 only)`);
  }
  const eci = enveloped.encryptedContentInfo;
  const cipher = CIPHERS[eci.contentEncryptionAlgorithm.algorithmId];
  if (!cipher) throw new ScepFailure('badAlg', `content encryption ${eci.contentEncryptionAlgorithm.algorithmId} is not supported (AES-CBC, 3DES)`);
  let iv: Buffer;
  let ciphertext: Buffer;
  try {
    iv = octets(eci.contentEncryptionAlgorithm.algorithmParams);
    ciphertext = bytesOf(eci.getEncryptedContent());
  } catch {
    throw new ScepFailure('badMessageCheck', 'the envelope has no IV or no encrypted content');
  }
  if (iv.length !== cipher.ivLength) throw new ScepFailure('badMessageCheck', 'the IV does not fit the cipher');

  let cek: Buffer;
  try {
    cek = rsaDecryptPkcs1Implicit(found.recipient.key, bytesOf(found.info.encryptedKey.valueBlock.valueHexView));
  } catch (e) {
    if (e instanceof RsaInputError) throw new ScepFailure('badMessageCheck', 'the envelope cannot be decrypted');
    throw e;
  }
  // A key of the wrong length (a synthetic one, or a client's mistake) still decrypts, with a key
  // derived from it, so that it costs the same and fails the same way.
  const keyFits = cek.length === cipher.keyLength;
  const key = keyFits ? cek : createHash('sha512').update(cek).digest().subarray(0, cipher.keyLength);
  let content: Buffer | undefined;
  try {
    const decipher = createDecipheriv(cipher.name, key, iv);
    content = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    content = undefined;
  }
  if (!keyFits || !content) throw new ScepFailure('badMessageCheck', 'the envelope cannot be decrypted');
  return { content, cipher, recipient: found.recipient };
}

/** Encrypts `content` for the holder of `recipient`'s key: RSA PKCS#1 v1.5 key transport, `cipher` for the content. */
export function buildEnvelope(content: Buffer, recipient: Pick<Signer, 'issuerDer' | 'serial' | 'publicKey'>, cipher: ContentCipher): Buffer {
  const cek = randomBytes(cipher.keyLength);
  const iv = randomBytes(cipher.ivLength);
  const c = createCipheriv(cipher.name, cek, iv);
  const ciphertext = Buffer.concat([c.update(content), c.final()]);
  const encryptedKey = publicEncrypt({ key: recipient.publicKey, padding: constants.RSA_PKCS1_PADDING }, cek);
  const enveloped = new pkijs.EnvelopedData({
    version: 0,
    recipientInfos: [
      new pkijs.RecipientInfo({
        variant: 1,
        value: new pkijs.KeyTransRecipientInfo({
          version: 0,
          rid: issuerAndSerial(recipient),
          keyEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: RSA_ENCRYPTION, algorithmParams: new asn1js.Null() }),
          encryptedKey: new asn1js.OctetString({ valueHex: encryptedKey }),
        }),
      }),
    ],
    encryptedContentInfo: new pkijs.EncryptedContentInfo({
      contentType: CMS.data,
      contentEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: cipher.oid, algorithmParams: new asn1js.OctetString({ valueHex: iv }) }),
      // One primitive [0]: some clients' parsers know no indefinite lengths.
      encryptedContent: new asn1js.OctetString({ valueHex: ciphertext }),
      disableSplit: true,
    }),
  });
  return toDer(new pkijs.ContentInfo({ contentType: CMS.envelopedData, content: enveloped.toSchema() }).toSchema());
}

/**
 * DER placed into a pkijs structure as it is, neither parsed nor re-encoded: pkijs asks a
 * certificate-set or CRL member for toSchema(), asn1js asks the result for toBER(). Parsing a
 * certificate with pkijs costs about a millisecond; the certificates a reply carries are ours.
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

const preEncoded = <T>(der: Uint8Array): T => new PreEncoded(der) as unknown as T;

/** A degenerate SignedData (no signers): the certs-only PKCS#7 of GetCACert and of a CertRep's content. DER in, DER out. */
export function certsOnly(certificates: readonly Buffer[], crls: readonly Buffer[] = []): Buffer {
  const signed = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: CMS.data }),
    ...(certificates.length ? { certificates: certificates.map((c) => preEncoded<pkijs.Certificate>(c)) } : {}),
    ...(crls.length ? { crls: crls.map((c) => preEncoded<pkijs.CertificateRevocationList>(c)) } : {}),
    signerInfos: [],
  });
  return toDer(new pkijs.ContentInfo({ contentType: CMS.signedData, content: signed.toSchema() }).toSchema());
}

/** Who signs a message: the certificate and the key. */
export interface MessageSigner extends CertRef {
  key: KeyObject;
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
  const signature = await new Promise<Buffer>((resolve, reject) =>
    sign(o.digest, toSign, { key: o.signer.key, padding: constants.RSA_PKCS1_PADDING }, (err, sig) => (err ? reject(err) : resolve(sig))),
  );
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

export interface CertRep {
  signer: MessageSigner;
  digest: DigestName;
  transactionId: string;
  recipientNonce: Buffer;
  status: PkiStatus;
  failInfo?: FailInfo;
  /** SUCCESS: the pkcsPKIEnvelope. */
  envelope?: Buffer;
}

function attribute(type: string, value: asn1js.AsnType): pkijs.Attribute {
  return new pkijs.Attribute({ type, values: [value] });
}

/** A CertRep (messageType 3) signed by the RA. */
export function buildCertRep(o: CertRep): Promise<Buffer> {
  return buildPkiMessage({
    signer: o.signer,
    digest: o.digest,
    messageType: MESSAGE_TYPE.CertRep,
    transactionId: o.transactionId,
    attributes: [
      { type: SCEP_ATTR.pkiStatus, value: new asn1js.PrintableString({ value: PKI_STATUS[o.status] }) },
      ...(o.status === 'FAILURE' ? [{ type: SCEP_ATTR.failInfo, value: new asn1js.PrintableString({ value: FAIL_INFO[o.failInfo ?? 'badRequest'] }) }] : []),
      { type: SCEP_ATTR.recipientNonce, value: new asn1js.OctetString({ valueHex: o.recipientNonce }) },
    ],
    ...(o.envelope ? { envelope: o.envelope } : {}),
  });
}

export const parseCertificate = (der: Buffer): pkijs.Certificate => pkijs.Certificate.fromBER(der);

/** IssuerAndSerialNumber (GetCert, GetCRL) and IssuerAndSubject (CertPoll) from a decrypted envelope. */
export function readIssuerAndSerial(der: Buffer): { issuer: pkijs.RelativeDistinguishedNames; serialHex: string } {
  try {
    const ias = new pkijs.IssuerAndSerialNumber({ schema: berOf(der) });
    return { issuer: ias.issuer, serialHex: serialHexOf(ias.serialNumber) };
  } catch (e) {
    throw new ScepFailure('badRequest', `IssuerAndSerialNumber does not parse: ${(e as Error).message}`);
  }
}

/** What a certs-only SignedData holds, each certificate and CRL as sent (GetCACert, a CertRep's content). */
export function readCertsOnly(der: Buffer): { certificates: Buffer[]; crls: Buffer[] } {
  const info = new pkijs.ContentInfo({ schema: berOf(der) });
  if (info.contentType !== CMS.signedData) throw new MalformedMessage('not a CMS SignedData');
  const seq = info.content as asn1js.Sequence;
  new pkijs.SignedData({ schema: seq });
  const crlSet = seq.valueBlock.value.find((b) => b.idBlock.tagClass === 3 && b.idBlock.tagNumber === 1) as asn1js.Constructed | undefined;
  return { certificates: rawCertificates(seq), crls: crlSet ? crlSet.valueBlock.value.map((b) => bytesOf(b.valueBeforeDecodeView)) : [] };
}
