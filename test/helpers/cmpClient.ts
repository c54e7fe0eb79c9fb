// A small CMP client (RFC 9483) on certgate's own codec, for the tests and the benchmark: it builds
// requests (ir, cr, kur, p10cr, certConf, pollReq, rr, genm) protected by a MAC (PasswordBasedMac or
// PBMAC1, with the credential's reference as senderKID) or a signature (certificate and key),
// POSTs them to a loopback URL as application/pkixcmp and reads the answer: its body, whether its
// protection verifies, and whether it answers this transaction and nonce. No retries, no polling.
import { createPublicKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { assemblePkiMessage, decodePkiMessage, encodeProtectedPart } from '../../protocols/cmp/asn1.js';
import { certHash } from '../../protocols/cmp/certHash.js';
import { IMPLICIT_CONFIRM, NO_NAME, type GeneralName, type InfoTypeAndValue, type PkiBody, type PkiHeader, type PkiMessage } from '../../protocols/cmp/messages.js';
import { macMatches, macOf, pbmac1Algorithm, pbmAlgorithm, readMacAlgorithm, signatureProtector, verifySignatureProtection, type MacAlgorithm } from '../../protocols/cmp/protection.js';
import { readCertificateBasics } from '../../src/pki/certInfo.js';
import { buildCertReqMsg } from '../../src/pki/crmf.js';
import { ipToBytes } from '../../src/pki/ip.js';
import { encodeName, parseDnString } from '../../src/pki/name.js';
import { OID, SIGNATURE_HASH } from '../../src/pki/oids.js';
import { httpRequest } from './http.js';

export type CmpProtection =
  | { kind: 'mac'; reference: string; secret: string; mac?: 'pbm' | 'pbmac1'; iterationCount?: number }
  | { kind: 'signature'; certDer: Buffer; key: KeyObject; chain?: Buffer[] }
  | { kind: 'none' };

export interface MessageOptions {
  transactionID?: Buffer;
  senderNonce?: Buffer;
  recipNonce?: Buffer | null;
  messageTime?: Date | null;
  /** Adds id-it-implicitConfirm to generalInfo. */
  implicitConfirm?: boolean;
  generalInfo?: InfoTypeAndValue[];
  pvno?: number;
  extraCerts?: Buffer[];
}

export interface Built {
  der: Buffer;
  header: PkiHeader;
}

export interface CmpReply {
  httpStatus: number;
  contentType: string | null;
  message: PkiMessage;
  /** How the answer is protected and whether it verifies (MAC with our secret, signature with its first extraCert). */
  protection: 'mac' | 'signature' | 'none' | 'bad';
  /** The answer's transactionID is ours and its recipNonce our senderNonce. */
  answersUs: boolean;
}


export const directoryName = (dn: string): Extract<GeneralName, { kind: 'directoryName' }> => ({ kind: 'directoryName', nameDer: encodeName(parseDnString(dn)) });

/** The subjectAltName extension's DER (one Extension) for DNS names and IP addresses. */
export function sanExtension(san: { dns?: string[]; ip?: string[] }): Buffer {
  const names = [
    ...(san.dns ?? []).map((value) => new pkijs.GeneralName({ type: 2, value })),
    ...(san.ip ?? []).map((ip) => new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: ipToBytes(ip) ?? Buffer.alloc(0) }) })),
  ];
  const ext = new pkijs.Extension({ extnID: OID.subjectAltName, critical: false, extnValue: new pkijs.GeneralNames({ names }).toSchema().toBER(false) });
  return Buffer.from(ext.toSchema().toBER(false));
}

/** Extensions ::= SEQUENCE OF Extension, from each Extension's DER. */
export function extensionsOf(extensions: Buffer[]): Buffer {
  return Buffer.from(new asn1js.Sequence({ value: extensions.map((e) => asn1js.fromBER(e).result) }).toBER(false));
}

/** One CertReqMsg for `key`, with a signature POP by it (RFC 9483 §4.1.1). */
export function crmfRequest(o: { key: KeyObject; subject?: string; san?: { dns?: string[]; ip?: string[] }; certReqId?: bigint; oldCertDer?: Buffer; validity?: { notBefore: Date | null; notAfter: Date | null } }): Buffer {
  const spkiDer = createPublicKey(o.key).export({ format: 'der', type: 'spki' });
  const withSan = o.san && ((o.san.dns?.length ?? 0) > 0 || (o.san.ip?.length ?? 0) > 0);
  const old = o.oldCertDer ? readCertificateBasics(o.oldCertDer) : null;
  const protector = signatureProtector(o.key);
  return buildCertReqMsg({
    certReqId: o.certReqId ?? 0n,
    template: {
      subjectDer: o.subject === undefined ? null : encodeName(parseDnString(o.subject)),
      spkiDer,
      extensionsDer: withSan ? extensionsOf([sanExtension(o.san ?? {})]) : null,
      validity: o.validity ?? null,
    },
    oldCertId: old ? { issuerDer: old.issuerDer, serialHex: old.serialHex } : null,
    popo: { alg: protector.alg, key: o.key, hash: SIGNATURE_HASH[protector.alg.oid] ?? null },
  });
}

/** The rr body for a certificate (by its issuer and serial), with a CRLReason. */
export function revocationBody(certDer: Buffer, reasonCode: number | null = null): PkiBody {
  const basics = readCertificateBasics(certDer);
  return { type: 'rr', revocations: [{ issuerDer: basics.issuerDer, serialHex: basics.serialHex, reasonCode }] };
}

/** The certConf accepting every certificate of an ip/cp/kup. */
export function certConfFor(reply: PkiMessage): PkiBody {
  if (reply.body.type !== 'ip' && reply.body.type !== 'cp' && reply.body.type !== 'kup') throw new Error(`certConf answers an ip, cp or kup, not a ${reply.body.type}`);
  return {
    type: 'certConf',
    // With an explicit "accepted", as openssl cmp writes it.
    statuses: reply.body.responses
      .filter((r) => r.certificateDer)
      .map((r) => ({ certHash: certHash(r.certificateDer as Buffer), certReqId: r.certReqId, statusInfo: { status: 'accepted' as const, statusString: [], failInfo: [] }, hashAlg: null })),
  };
}

export class CmpClient {
  private mac: MacAlgorithm | null = null;

  constructor(
    readonly url: string,
    readonly protection: CmpProtection,
    readonly names: { sender?: GeneralName; recipient?: GeneralName } = {},
  ) {}

  /** A protected request message, with a fresh transactionID and senderNonce unless given. */
  build(body: PkiBody, o: MessageOptions = {}): Built {
    const p = this.protection;
    let protectionAlg = null;
    let senderKID: Buffer | null = null;
    if (p.kind === 'mac') {
      this.mac = p.mac === 'pbmac1' ? pbmac1Algorithm({ iterationCount: p.iterationCount ?? 1000 }) : pbmAlgorithm({ iterationCount: p.iterationCount ?? 500 });
      protectionAlg = this.mac.alg;
      senderKID = Buffer.from(p.reference, 'utf8');
    } else if (p.kind === 'signature') {
      protectionAlg = signatureProtector(p.key).alg;
      senderKID = readCertificateBasics(p.certDer).subjectKeyId;
    }
    const generalInfo = [...(o.generalInfo ?? [])];
    if (o.implicitConfirm) generalInfo.push(IMPLICIT_CONFIRM);
    const sender = this.names.sender ?? (p.kind === 'signature' ? { kind: 'directoryName' as const, nameDer: readCertificateBasics(p.certDer).subjectDer } : NO_NAME);
    const header: PkiHeader = {
      pvno: o.pvno ?? 2,
      sender,
      recipient: this.names.recipient ?? NO_NAME,
      messageTime: o.messageTime === undefined ? new Date() : o.messageTime,
      protectionAlg,
      senderKID,
      recipKID: null,
      transactionID: o.transactionID ?? randomBytes(16),
      senderNonce: o.senderNonce ?? randomBytes(16),
      recipNonce: o.recipNonce ?? null,
      freeText: [],
      generalInfo,
    };
    const protectedPart = encodeProtectedPart(header, body);
    let protection: Buffer | null = null;
    let extraCerts = o.extraCerts ?? [];
    if (p.kind === 'mac' && this.mac) protection = macOf(this.mac, p.secret, protectedPart);
    if (p.kind === 'signature') {
      protection = signatureProtector(p.key).sign(protectedPart);
      extraCerts = [p.certDer, ...(p.chain ?? []), ...extraCerts];
    }
    return { der: assemblePkiMessage(protectedPart, protection, extraCerts), header };
  }

  /** POSTs a built message and reads the answer. */
  async send(built: Built): Promise<CmpReply> {
    const reply = await httpRequest(this.url, { method: 'POST', body: built.der, headers: { 'content-type': 'application/pkixcmp' } });
    const contentType = typeof reply.headers['content-type'] === 'string' ? reply.headers['content-type'] : null;
    let message: PkiMessage;
    try {
      message = decodePkiMessage(reply.body);
    } catch (e) {
      throw new Error(`the answer (HTTP ${reply.status}, ${contentType ?? 'no content type'}) is not a PKIMessage: ${(e as Error).message}`, { cause: e });
    }
    return { httpStatus: reply.status, contentType, message, protection: this.check(message), answersUs: answers(message, built.header) };
  }

  /** build + send. */
  exchange(body: PkiBody, o: MessageOptions = {}): Promise<CmpReply> {
    return this.send(this.build(body, o));
  }

  /** The next message of the same transaction: its transactionID, and the answer's senderNonce as recipNonce. */
  follow(previous: CmpReply, body: PkiBody, o: MessageOptions = {}): Promise<CmpReply> {
    return this.exchange(body, { transactionID: previous.message.header.transactionID ?? undefined, recipNonce: previous.message.header.senderNonce, ...o });
  }

  private check(message: PkiMessage): CmpReply['protection'] {
    const alg = message.header.protectionAlg;
    if (!alg || !message.protection) return 'none';
    if (alg.oid === OID.passwordBasedMac || alg.oid === OID.pbmac1) {
      if (this.protection.kind !== 'mac') return 'bad';
      try {
        return macMatches(readMacAlgorithm(alg), this.protection.secret, message.protectedPartDer, message.protection) ? 'mac' : 'bad';
      } catch {
        return 'bad';
      }
    }
    const signer = message.extraCerts[0];
    if (!signer) return 'bad';
    try {
      return verifySignatureProtection(alg, new X509Certificate(signer).publicKey, message.protectedPartDer, message.protection) ? 'signature' : 'bad';
    } catch {
      return 'bad';
    }
  }
}

function answers(message: PkiMessage, sent: PkiHeader): boolean {
  const same = (a: Buffer | null, b: Buffer | null) => a !== null && b !== null && a.equals(b);
  return same(message.header.transactionID, sent.transactionID) && same(message.header.recipNonce, sent.senderNonce);
}
