// certgate's answers as PKIMessages (RFC 9483 §3.1): the header answers the request's (same
// version, transactionID, recipNonce = its senderNonce, a fresh senderNonce), and the message is
// protected as the request was: with the MAC key of an authenticated MAC sender, else signed
// by the CMP signer of the product's CA with its certificate and chain in extraCerts.
import type { CmpSigner } from './signers.js';
import { NO_NAME, type InfoTypeAndValue, type PkiBody, type PkiHeader } from './messages.js';
import { assemblePkiMessage, encodeProtectedPart } from './asn1.js';
import { macProtection, signatureProtection, type Protection } from './protect.js';
import type { Sender } from './sender.js';


export interface Answer {
  body: PkiBody;
  /** Certificates the client needs beside the signer's (the issuing chain of a new certificate). */
  extraCerts?: Buffer[];
  generalInfo?: InfoTypeAndValue[];
}

export interface AnswerContext {
  /** The request's header, when it could be read. */
  request: PkiHeader | null;
  /** The authenticated sender; null: the answer is signed. */
  sender: Sender | null;
  /** The answer's senderNonce (decided before: a transaction stores it as the next recipNonce). */
  senderNonce: Buffer;
  now: number;
}

function uniqueDer(list: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const der of list) if (!out.some((d) => d.equals(der))) out.push(der);
  return out;
}

/** The answer's DER; `signer` null (no CA to sign for) leaves it unprotected (RFC 9483 §3.6.4 allows that for errors). */
export function encodeAnswer(answer: Answer, ctx: AnswerContext, signer: CmpSigner | null): Buffer {
  const req = ctx.request;
  const mac = ctx.sender?.kind === 'mac' ? ctx.sender : null;
  let protection: Protection | null = null;
  let senderKID: Buffer | null = null;
  let ownCerts: Buffer[] = [];
  if (mac) {
    protection = macProtection(mac.macKey);
    // RFC 9483 §5.1.3.1: the answer names the same shared secret.
    senderKID = mac.senderKID;
  } else if (signer) {
    protection = signatureProtection(signer.key);
    senderKID = signer.subjectKeyId;
    ownCerts = [signer.certificateDer, ...signer.chainDer];
  }
  const header: PkiHeader = {
    pvno: req?.pvno === 3 ? 3 : 2,
    sender: signer ? { kind: 'directoryName', nameDer: signer.subjectDer } : NO_NAME,
    recipient: req?.sender ?? NO_NAME,
    messageTime: new Date(ctx.now),
    protectionAlg: protection?.alg ?? null,
    senderKID,
    recipKID: mac ? null : (req?.senderKID ?? null),
    transactionID: req?.transactionID ?? null,
    senderNonce: ctx.senderNonce,
    recipNonce: req?.senderNonce ?? null,
    freeText: [],
    generalInfo: answer.generalInfo ?? [],
  };
  const protectedPartDer = encodeProtectedPart(header, answer.body);
  return assemblePkiMessage(protectedPartDer, protection ? protection.protect(protectedPartDer) : null, uniqueDer([...ownCerts, ...(answer.extraCerts ?? [])]));
}
