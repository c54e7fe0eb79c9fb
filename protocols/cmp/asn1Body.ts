// PKIBody (RFC 9810 §5.1.2): a CHOICE of EXPLICIT context tags, one per message type; the bodies
// certgate reads or writes are decoded into messages.ts's model and encoded back from it.
import * as asn1js from 'asn1js';
import { algorithm, algorithmOf, bigintOf, bitsOf, elementsOf, embed, explicit, explicitInner, integer, isContext, isSequence, malformed, octetsOf, oidOf, parseBer, rawOf, smallIntOf } from '../../src/pki/asn1.js';
import { certTemplate, readCertTemplate } from '../../src/pki/crmfTemplate.js';
import { OID } from '../../src/pki/oids.js';
import { infoTypeAndValue, infoTypeAndValueOf } from './asn1Header.js';
import { entriesOf, freeText, freeTextOf } from './asn1Util.js';
import { FAIL_INFO, PKI_STATUS, type CertResponse, type CertStatus, type FailInfo, type PkiBody, type PkiStatus, type PkiStatusInfo, type RevDetails } from './messages.js';

const BODY_TAG = { ir: 0, ip: 1, cr: 2, cp: 3, p10cr: 4, kur: 7, kup: 8, rr: 11, rp: 12, pkiConf: 19, genm: 21, genp: 22, error: 23, certConf: 24, pollReq: 25, pollRep: 26 } as const;
type ServedType = keyof typeof BODY_TAG;
const TYPE_OF_TAG = new Map<number, ServedType>(Object.entries(BODY_TAG).map(([type, tag]) => [tag, type as ServedType]));
/** PKIBody's last alternative (pollRep); anything past it is no PKIBody at all. */
const LAST_BODY_TAG = 26;

const STATUS_OF_CODE = new Map<number, PkiStatus>(Object.entries(PKI_STATUS).map(([name, code]) => [code, name as PkiStatus]));
const FAIL_OF_BIT = new Map<number, FailInfo>(Object.entries(FAIL_INFO).map(([name, bit]) => [bit, name as FailInfo]));

const sequenceOf = (block: asn1js.AsnType, what: string): asn1js.AsnType[] => (isSequence(block) ? entriesOf(block, what) : malformed(`${what} is not a SEQUENCE`));
const seq = (value: asn1js.AsnType[]) => new asn1js.Sequence({ value });

export function statusInfoOf(block: asn1js.AsnType): PkiStatusInfo {
  if (!isSequence(block)) malformed('PKIStatusInfo is not a SEQUENCE');
  const [statusBlock, ...rest] = elementsOf(block, 'PKIStatusInfo', 3);
  const code = smallIntOf(statusBlock ?? null, 'PKIStatus');
  const status = STATUS_OF_CODE.get(code) ?? malformed(`unknown PKIStatus ${code}`);
  let statusString: string[] = [];
  if (rest[0] && isSequence(rest[0])) statusString = freeTextOf(rest.shift() as asn1js.AsnType, 'statusString');
  const failInfo: FailInfo[] = [];
  if (rest[0]) {
    const { bytes } = bitsOf(rest.shift() as asn1js.AsnType, 'failInfo');
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      if (((bytes[bit >> 3] as number) & (0x80 >> (bit & 7))) === 0) continue;
      const name = FAIL_OF_BIT.get(bit);
      if (name) failInfo.push(name);
    }
  }
  if (rest.length) malformed('malformed PKIStatusInfo');
  return { status, statusString, failInfo };
}

export function statusInfo(info: PkiStatusInfo): asn1js.Sequence {
  const value: asn1js.AsnType[] = [new asn1js.Integer({ value: PKI_STATUS[info.status] })];
  if (info.statusString.length) value.push(freeText(info.statusString));
  if (info.failInfo.length) {
    // A named BIT STRING in DER ends at its last set bit.
    const bits = info.failInfo.map((f) => FAIL_INFO[f]);
    const last = Math.max(...bits);
    const bytes = Buffer.alloc((last >> 3) + 1);
    for (const bit of bits) bytes[bit >> 3] = (bytes[bit >> 3] as number) | (0x80 >> (bit & 7));
    value.push(new asn1js.BitString({ valueHex: bytes, unusedBits: 7 - (last & 7) }));
  }
  return seq(value);
}

function certResponseOf(block: asn1js.AsnType): CertResponse {
  if (!isSequence(block)) malformed('CertResponse is not a SEQUENCE');
  const [id, status, ...rest] = elementsOf(block, 'CertResponse', 4);
  if (!status) malformed('CertResponse has no status');
  let certificateDer: Buffer | null = null;
  if (rest[0] && isSequence(rest[0])) {
    // CertifiedKeyPair ::= SEQUENCE { certOrEncCert, privateKey [0] OPTIONAL, publicationInfo [1] OPTIONAL }
    const [certOrEncCert] = elementsOf(rest.shift() as asn1js.AsnType, 'CertifiedKeyPair', 3);
    if (!certOrEncCert || !isContext(certOrEncCert, 0)) malformed('only a plain certificate is read in a CertifiedKeyPair');
    const cert = explicitInner(certOrEncCert, 'certificate');
    if (!isSequence(cert)) malformed('certificate is not a SEQUENCE');
    certificateDer = rawOf(cert);
  }
  if (rest[0]) octetsOf(rest.shift() as asn1js.AsnType, 'rspInfo');
  if (rest.length) malformed('malformed CertResponse');
  return { certReqId: bigintOf(id ?? null, 'certReqId'), status: statusInfoOf(status), certificateDer };
}

function certResponse(r: CertResponse): asn1js.Sequence {
  const value: asn1js.AsnType[] = [integer(r.certReqId), statusInfo(r.status)];
  if (r.certificateDer) value.push(seq([explicit(0, embed(r.certificateDer, 'certificate'))]));
  return seq(value);
}

function certStatusOf(block: asn1js.AsnType): CertStatus {
  if (!isSequence(block)) malformed('CertStatus is not a SEQUENCE');
  const [hash, id, ...rest] = elementsOf(block, 'CertStatus', 4);
  const certHash = octetsOf(hash ?? null, 'certHash');
  const certReqId = bigintOf(id ?? null, 'certReqId');
  const statusInfo = rest[0] && isSequence(rest[0]) ? statusInfoOf(rest.shift() as asn1js.AsnType) : null;
  let hashAlg = null;
  if (rest[0] && isContext(rest[0], 0)) hashAlg = algorithmOf(explicitInner(rest.shift() as asn1js.AsnType, 'hashAlg'), 'hashAlg');
  if (rest.length) malformed('malformed CertStatus');
  return { certHash, certReqId, statusInfo, hashAlg };
}

function certStatus(s: CertStatus): asn1js.Sequence {
  const value: asn1js.AsnType[] = [new asn1js.OctetString({ valueHex: s.certHash }), integer(s.certReqId)];
  if (s.statusInfo) value.push(statusInfo(s.statusInfo));
  if (s.hashAlg) value.push(explicit(0, algorithm(s.hashAlg)));
  return seq(value);
}

/** The CRLReason of an rr's crlEntryDetails (Extensions), when given. */
function reasonCodeOf(block: asn1js.AsnType): number | null {
  let reason: number | null = null;
  for (const ext of sequenceOf(block, 'crlEntryDetails')) {
    const parts = isSequence(ext) ? elementsOf(ext, 'Extension', 3) : malformed('an Extension is not a SEQUENCE');
    if (parts.length < 2) malformed('malformed Extension');
    const id = oidOf(parts[0] as asn1js.AsnType, 'extension id');
    const value = octetsOf(parts[parts.length - 1] as asn1js.AsnType, 'extension value');
    if (id !== OID.reasonCode) continue;
    const enumerated = parseBer(value, 'reasonCode');
    if (!(enumerated instanceof asn1js.Enumerated)) malformed('reasonCode is not an ENUMERATED');
    const code = smallIntOf(enumerated, 'reasonCode');
    if (code > 10) malformed('reasonCode is out of range');
    reason = code;
  }
  return reason;
}

function revDetailsOf(block: asn1js.AsnType): RevDetails {
  if (!isSequence(block)) malformed('RevDetails is not a SEQUENCE');
  const [template, details, ...extra] = elementsOf(block, 'RevDetails', 2);
  if (!template || extra.length) malformed('malformed RevDetails');
  const t = readCertTemplate(template);
  return { issuerDer: t.issuerDer, serialHex: t.serialHex, reasonCode: details ? reasonCodeOf(details) : null };
}

function revDetails(r: RevDetails): asn1js.Sequence {
  const value: asn1js.AsnType[] = [certTemplate({ serialHex: r.serialHex, issuerDer: r.issuerDer })];
  if (r.reasonCode !== null) {
    const reason = new asn1js.Enumerated({ value: r.reasonCode });
    value.push(seq([seq([new asn1js.ObjectIdentifier({ value: OID.reasonCode }), new asn1js.OctetString({ valueHex: reason.toBER() })])]));
  }
  return seq(value);
}

const certificatesOf = (block: asn1js.AsnType, what: string): Buffer[] =>
  sequenceOf(block, what).map((c) => (isSequence(c) ? rawOf(c) : malformed(`${what} holds something other than a certificate`)));

function decodeServed(type: ServedType, content: asn1js.AsnType): PkiBody {
  switch (type) {
    case 'ir':
    case 'cr':
    case 'kur': {
      const requests = sequenceOf(content, 'CertReqMessages');
      if (!requests.length) malformed('CertReqMessages is empty');
      return { type, requests: requests.map((r) => (isSequence(r) ? rawOf(r) : malformed('a CertReqMsg is not a SEQUENCE'))) };
    }
    case 'p10cr':
      if (!isSequence(content)) malformed('p10cr is not a CertificationRequest');
      return { type, csrDer: rawOf(content) };
    case 'ip':
    case 'cp':
    case 'kup': {
      if (!isSequence(content)) malformed('CertRepMessage is not a SEQUENCE');
      const parts = elementsOf(content, 'CertRepMessage', 2);
      let caPubs: Buffer[] = [];
      if (parts[0] && isContext(parts[0], 1)) caPubs = certificatesOf(explicitInner(parts.shift() as asn1js.AsnType, 'caPubs'), 'caPubs');
      const [responses, ...extra] = parts;
      if (!responses || extra.length) malformed('malformed CertRepMessage');
      return { type, caPubs, responses: sequenceOf(responses, 'CertResponses').map(certResponseOf) };
    }
    case 'certConf':
      return { type, statuses: sequenceOf(content, 'CertConfirmContent').map(certStatusOf) };
    case 'pkiConf':
      if (!(content instanceof asn1js.Null)) malformed('pkiConf is not NULL');
      return { type };
    case 'rr': {
      const revocations = sequenceOf(content, 'RevReqContent');
      if (!revocations.length) malformed('RevReqContent is empty');
      return { type, revocations: revocations.map(revDetailsOf) };
    }
    case 'rp': {
      if (!isSequence(content)) malformed('RevRepContent is not a SEQUENCE');
      // revCerts [0] and crls [1] follow; certgate does not read them.
      const [statuses, ...rest] = elementsOf(content, 'RevRepContent', 3);
      if (!statuses) malformed('RevRepContent has no status');
      let last = -1;
      for (const r of rest) {
        if (r.idBlock.tagClass !== 3 || r.idBlock.tagNumber > 1 || r.idBlock.tagNumber <= last) malformed('malformed RevRepContent');
        last = r.idBlock.tagNumber;
      }
      return { type, statuses: sequenceOf(statuses, 'RevRepContent status').map(statusInfoOf) };
    }
    case 'pollReq':
      return {
        type,
        certReqIds: sequenceOf(content, 'PollReqContent').map((entry) => {
          const [id, ...extra] = isSequence(entry) ? elementsOf(entry, 'pollReq entry', 1) : malformed('a pollReq entry is not a SEQUENCE');
          if (extra.length) malformed('malformed pollReq entry');
          return bigintOf(id ?? null, 'certReqId');
        }),
      };
    case 'pollRep':
      return {
        type,
        entries: sequenceOf(content, 'PollRepContent').map((entry) => {
          const [id, after, reason, ...extra] = isSequence(entry) ? elementsOf(entry, 'pollRep entry', 3) : malformed('a pollRep entry is not a SEQUENCE');
          if (extra.length) malformed('malformed pollRep entry');
          const text = freeTextOf(reason ?? null, 'pollRep reason');
          return { certReqId: bigintOf(id ?? null, 'certReqId'), checkAfter: smallIntOf(after ?? null, 'checkAfter'), reason: reason ? text.join('\n') : null };
        }),
      };
    case 'genm':
    case 'genp':
      return { type, infos: sequenceOf(content, 'GenMsgContent').map((i) => infoTypeAndValueOf(i, 'InfoTypeAndValue')) };
    case 'error': {
      if (!isSequence(content)) malformed('ErrorMsgContent is not a SEQUENCE');
      const [status, ...rest] = elementsOf(content, 'ErrorMsgContent', 3);
      if (!status) malformed('ErrorMsgContent has no status');
      const errorCode = rest[0] instanceof asn1js.Integer ? Number(bigintOf(rest.shift() as asn1js.AsnType, 'errorCode')) : null;
      const errorDetails = rest[0] ? freeTextOf(rest.shift() as asn1js.AsnType, 'errorDetails') : [];
      if (rest.length) malformed('malformed ErrorMsgContent');
      return { type, status: statusInfoOf(status), errorCode, errorDetails };
    }
  }
}

/** Decodes the body block (its context tag and content); throws DerError for a malformed one. */
export function decodeBody(block: asn1js.AsnType): PkiBody {
  if (block.idBlock.tagClass !== 3 || block.idBlock.tagNumber > LAST_BODY_TAG || !block.idBlock.isConstructed) malformed('PKIBody is not one of its alternatives');
  const tag = block.idBlock.tagNumber;
  const type = TYPE_OF_TAG.get(tag);
  const content = explicitInner(block, 'PKIBody');
  if (!type) return { type: 'unsupported', tag };
  return decodeServed(type, content);
}

function bodyContent(body: Exclude<PkiBody, { type: 'unsupported' }>): asn1js.AsnType {
  switch (body.type) {
    case 'ir':
    case 'cr':
    case 'kur':
      return seq(body.requests.map((r) => embed(r, 'CertReqMsg')));
    case 'p10cr':
      return embed(body.csrDer, 'CertificationRequest');
    case 'ip':
    case 'cp':
    case 'kup': {
      const value: asn1js.AsnType[] = [];
      if (body.caPubs.length) value.push(explicit(1, seq(body.caPubs.map((c) => embed(c, 'certificate')))));
      value.push(seq(body.responses.map(certResponse)));
      return seq(value);
    }
    case 'certConf':
      return seq(body.statuses.map(certStatus));
    case 'pkiConf':
      return new asn1js.Null();
    case 'rr':
      return seq(body.revocations.map(revDetails));
    case 'rp':
      return seq([seq(body.statuses.map(statusInfo))]);
    case 'pollReq':
      return seq(body.certReqIds.map((id) => seq([integer(id)])));
    case 'pollRep':
      return seq(body.entries.map((e) => seq([integer(e.certReqId), integer(e.checkAfter), ...(e.reason === null ? [] : [freeText([e.reason])])])));
    case 'genm':
    case 'genp':
      return seq(body.infos.map(infoTypeAndValue));
    case 'error': {
      const value: asn1js.AsnType[] = [statusInfo(body.status)];
      if (body.errorCode !== null) value.push(integer(body.errorCode));
      if (body.errorDetails.length) value.push(freeText(body.errorDetails));
      return seq(value);
    }
  }
}

export function encodeBody(body: PkiBody): asn1js.Constructed {
  if (body.type === 'unsupported') throw new Error(`cannot encode a body of tag ${body.tag}: certgate does not build it`);
  return explicit(BODY_TAG[body.type], bodyContent(body));
}
