// The PKIMessage (RFC 9810, formerly RFC 4210, section 5; profile RFC 9483) as the CMP front-end
// reads and writes it. The codec (asn1.ts) turns DER into these and back, for every body certgate
// reads or writes, in both directions (the test client builds requests with the same codec); the
// protection (protection.ts) covers `protectedPartDer`, the DER of SEQUENCE { header, body }.
import { OID } from '../../src/pki/oids.js';

/** An AlgorithmIdentifier: its OID and its parameters' DER (null when absent). */
export interface AlgorithmId {
  oid: string;
  paramsDer: Buffer | null;
}

/** A GeneralName: CMP's sender and recipient are directoryNames (their Name's DER), an empty Name for "none". */
export type GeneralName = { kind: 'directoryName'; nameDer: Buffer } | { kind: 'other'; der: Buffer };

/** An empty Name: CMP's "none" for a sender or recipient it cannot or need not name (RFC 9810 §5.1.1). */
export const NO_NAME: GeneralName = { kind: 'directoryName', nameDer: Buffer.from([0x30, 0x00]) };

export interface InfoTypeAndValue {
  oid: string;
  /** The infoValue's DER; null when absent (a genm asking for this infoType). */
  valueDer: Buffer | null;
}

/** generalInfo's id-it-implicitConfirm (its value is NULL): asked for by a client, granted by an answer. */
export const IMPLICIT_CONFIRM: InfoTypeAndValue = { oid: OID.itImplicitConfirm, valueDer: Buffer.from([0x05, 0x00]) };

export interface PkiHeader {
  /** 2 (cmp2000) or 3 (cmp2021). */
  pvno: number;
  sender: GeneralName;
  recipient: GeneralName;
  messageTime: Date | null;
  protectionAlg: AlgorithmId | null;
  senderKID: Buffer | null;
  recipKID: Buffer | null;
  transactionID: Buffer | null;
  senderNonce: Buffer | null;
  recipNonce: Buffer | null;
  freeText: string[];
  generalInfo: InfoTypeAndValue[];
}

/** PKIStatus (RFC 9810 §5.2.3). */
export const PKI_STATUS = {
  accepted: 0,
  grantedWithMods: 1,
  rejection: 2,
  waiting: 3,
  revocationWarning: 4,
  revocationNotification: 5,
  keyUpdateWarning: 6,
} as const;
export type PkiStatus = keyof typeof PKI_STATUS;

/** PKIFailureInfo bits (RFC 9810 §5.2.3), by bit number. */
export const FAIL_INFO = {
  badAlg: 0,
  badMessageCheck: 1,
  badRequest: 2,
  badTime: 3,
  badCertId: 4,
  badDataFormat: 5,
  wrongAuthority: 6,
  incorrectData: 7,
  missingTimeStamp: 8,
  badPOP: 9,
  certRevoked: 10,
  certConfirmed: 11,
  wrongIntegrity: 12,
  badRecipientNonce: 13,
  timeNotAvailable: 14,
  unacceptedPolicy: 15,
  unacceptedExtension: 16,
  addInfoNotAvailable: 17,
  badSenderNonce: 18,
  badCertTemplate: 19,
  signerNotTrusted: 20,
  transactionIdInUse: 21,
  unsupportedVersion: 22,
  notAuthorized: 23,
  systemUnavail: 24,
  systemFailure: 25,
  duplicateCertReq: 26,
} as const;
export type FailInfo = keyof typeof FAIL_INFO;

export interface PkiStatusInfo {
  status: PkiStatus;
  statusString: string[];
  failInfo: FailInfo[];
}

/** One CertResponse of an ip, cp or kup. */
export interface CertResponse {
  certReqId: bigint;
  status: PkiStatusInfo;
  /** The certificate (DER) when it is issued. */
  certificateDer: Buffer | null;
}

/** One CertStatus of a certConf. */
export interface CertStatus {
  /** The hash of the certificate being confirmed (RFC 9810 §5.3.18: the certificate's signature hash, or hashAlg). */
  certHash: Buffer;
  certReqId: bigint;
  /** Absent: accepted. */
  statusInfo: PkiStatusInfo | null;
  /** cmp2021's explicit hash algorithm. */
  hashAlg: AlgorithmId | null;
}

/** One RevDetails of an rr: the certificate by issuer and serial (its CertTemplate), and the reason. */
export interface RevDetails {
  issuerDer: Buffer | null;
  serialHex: string | null;
  /** CRLReason code from crlEntryDetails; null when absent. */
  reasonCode: number | null;
}

export type PkiBody =
  /** ir, cr, kur: each CertReqMsg's DER (read by src/pki/crmf.ts). */
  | { type: 'ir' | 'cr' | 'kur'; requests: Buffer[] }
  | { type: 'p10cr'; csrDer: Buffer }
  | { type: 'ip' | 'cp' | 'kup'; caPubs: Buffer[]; responses: CertResponse[] }
  | { type: 'certConf'; statuses: CertStatus[] }
  | { type: 'pkiConf' }
  | { type: 'rr'; revocations: RevDetails[] }
  | { type: 'rp'; statuses: PkiStatusInfo[] }
  | { type: 'pollReq'; certReqIds: bigint[] }
  | { type: 'pollRep'; entries: { certReqId: bigint; checkAfter: number; reason: string | null }[] }
  | { type: 'genm' | 'genp'; infos: InfoTypeAndValue[] }
  | { type: 'error'; status: PkiStatusInfo; errorCode: number | null; errorDetails: string[] }
  /** A body certgate does not serve, by its context tag (e.g. 4 for p10cr's neighbours). */
  | { type: 'unsupported'; tag: number };

export type PkiBodyType = PkiBody['type'];

export interface PkiMessage {
  header: PkiHeader;
  body: PkiBody;
  /** The DER of SEQUENCE { header, body } exactly as received: what the protection covers. */
  protectedPartDer: Buffer;
  /** The protection's bits (a MAC or a signature); null when unprotected. */
  protection: Buffer | null;
  /** extraCerts, DER each; for signature protection the first is the signer's. */
  extraCerts: Buffer[];
}
