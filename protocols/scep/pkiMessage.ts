// A request as the server reads it (RFC 8894 §3.3): the pkiMessage's signed attributes, its signer
// and signature, and the fields a CertRep must echo; and the IssuerAndSerialNumber that GetCert,
// GetCRL and CertPoll carry in their envelope.
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { CMS, DIGESTS, isMessageType, MESSAGE_TYPE, SCEP_ATTR, type DigestName, type MessageType } from './algorithms.js';
import { berOf, octets, orElse, serialHexOf, stringOf } from './asn1Values.js';
import type { Signer } from './certRef.js';
import { MalformedMessage, ScepFailure } from './messageErrors.js';
import { parseSigned, verifySigned } from './signedData.js';

/** What a CertRep needs to answer a request, known once its signed attributes are read. */
export interface ReplyTo {
  messageType: number;
  transactionId: string;
  senderNonce: Buffer;
  /** The request's digest when we support it, else SHA-256: the CertRep is signed with it. */
  digest: DigestName;
}

export interface PkiMessage extends ReplyTo {
  messageType: MessageType;
  signer: Signer;
  signingTime: Date | null;
  /** The pkcsPKIEnvelope: a DER ContentInfo holding an EnvelopedData. */
  envelope: Buffer | null;
}

const MAX_TRANSACTION_ID = 128;

function timeOf(value: unknown): Date {
  if (value instanceof asn1js.UTCTime || value instanceof asn1js.GeneralizedTime) return value.toDate();
  throw new MalformedMessage('signingTime is not a time');
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

/** IssuerAndSerialNumber (GetCert, GetCRL) and IssuerAndSubject (CertPoll) from a decrypted envelope. */
export function readIssuerAndSerial(der: Buffer): { issuer: pkijs.RelativeDistinguishedNames; serialHex: string } {
  try {
    const ias = new pkijs.IssuerAndSerialNumber({ schema: berOf(der) });
    return { issuer: ias.issuer, serialHex: serialHexOf(ias.serialNumber) };
  } catch (e) {
    throw new ScepFailure('badRequest', `IssuerAndSerialNumber does not parse: ${(e as Error).message}`);
  }
}
