// PKIHeader (RFC 9810 §5.1.1). The CMP module has EXPLICIT tags: each optional field is a context
// tag around its value.
import * as asn1js from 'asn1js';
import type { GeneralName, InfoTypeAndValue, PkiHeader } from './messages.js';
import {
  algorithm,
  algorithmOf,
  elementsOf,
  embed,
  explicit,
  explicitInner,
  generalizedTime,
  generalizedTimeOf,
  isSequence,
  malformed,
  matchSequence,
  maybe,
  octetsOf,
  oidOf,
  one,
  optionalTag,
  rawOf,
  smallIntOf,
} from '../../src/pki/asn1.js';
import { CmpDecodeError, entriesOf, freeText, freeTextOf } from './asn1Util.js';

const FIELDS = ['pvno', 'sender', 'recipient', 'messageTime', 'protectionAlg', 'senderKID', 'recipKID', 'transactionID', 'senderNonce', 'recipNonce', 'freeText', 'generalInfo'] as const;

const HEADER_SCHEMA = new asn1js.Sequence({
  value: [
    new asn1js.Integer({ name: 'pvno' }),
    new asn1js.Any({ name: 'sender' }),
    new asn1js.Any({ name: 'recipient' }),
    ...FIELDS.slice(3).map((name, i) => optionalTag(i, name)),
  ],
});

/** Nonces and ids are 128 bits in practice; anything past this is not a nonce. */
const MAX_ID_BYTES = 64;

function generalNameOf(block: asn1js.AsnType, what: string): GeneralName {
  if (block.idBlock.tagClass !== 3 || block.idBlock.tagNumber > 8) malformed(`${what} is not a GeneralName`);
  if (block.idBlock.tagNumber === 4) {
    const name = explicitInner(block, what);
    if (!isSequence(name)) malformed(`${what}'s directoryName is not a Name`);
    return { kind: 'directoryName', nameDer: rawOf(name) };
  }
  return { kind: 'other', der: rawOf(block) };
}

export function generalName(name: GeneralName): asn1js.AsnType {
  return name.kind === 'directoryName' ? explicit(4, embed(name.nameDer, 'directoryName')) : embed(name.der, 'GeneralName');
}

function idOf(block: asn1js.AsnType | null, what: string): Buffer | null {
  if (!block) return null;
  const bytes = octetsOf(explicitInner(block, what), what);
  if (bytes.length > MAX_ID_BYTES) malformed(`${what} is longer than ${MAX_ID_BYTES} bytes`);
  return bytes;
}

export function infoTypeAndValueOf(block: asn1js.AsnType, what: string): InfoTypeAndValue {
  if (!isSequence(block)) malformed(`${what} is not an InfoTypeAndValue`);
  const [type, value, ...rest] = elementsOf(block, what, 2);
  if (!type || rest.length) malformed(`malformed ${what}`);
  return { oid: oidOf(type, `${what} infoType`), valueDer: value ? rawOf(value) : null };
}

export function infoTypeAndValue(info: InfoTypeAndValue): asn1js.Sequence {
  const value: asn1js.AsnType[] = [new asn1js.ObjectIdentifier({ value: info.oid })];
  if (info.valueDer) value.push(embed(info.valueDer, 'infoValue'));
  return new asn1js.Sequence({ value });
}

export function decodeHeader(block: asn1js.AsnType): PkiHeader {
  const named = matchSequence(block, HEADER_SCHEMA, FIELDS, 'PKIHeader');
  const pvno = smallIntOf(one(named, 'pvno'), 'pvno');
  if (pvno !== 2 && pvno !== 3) throw new CmpDecodeError('unsupportedVersion', `pvno ${pvno} is not cmp2000 (2) or cmp2021 (3)`);
  const tagged = (key: (typeof FIELDS)[number]) => {
    const b = maybe(named, key);
    return b ? explicitInner(b, key) : null;
  };
  const messageTime = tagged('messageTime');
  const protectionAlg = tagged('protectionAlg');
  const freeTextBlock = tagged('freeText');
  const generalInfo = tagged('generalInfo');
  if (generalInfo && !isSequence(generalInfo)) malformed('generalInfo is not a SEQUENCE');
  return {
    pvno,
    sender: generalNameOf(one(named, 'sender'), 'sender'),
    recipient: generalNameOf(one(named, 'recipient'), 'recipient'),
    messageTime: messageTime ? generalizedTimeOf(messageTime, 'messageTime') : null,
    protectionAlg: protectionAlg ? algorithmOf(protectionAlg, 'protectionAlg') : null,
    senderKID: idOf(maybe(named, 'senderKID'), 'senderKID'),
    recipKID: idOf(maybe(named, 'recipKID'), 'recipKID'),
    transactionID: idOf(maybe(named, 'transactionID'), 'transactionID'),
    senderNonce: idOf(maybe(named, 'senderNonce'), 'senderNonce'),
    recipNonce: idOf(maybe(named, 'recipNonce'), 'recipNonce'),
    freeText: freeTextOf(freeTextBlock, 'freeText'),
    generalInfo: generalInfo ? entriesOf(generalInfo, 'generalInfo entries').map((b) => infoTypeAndValueOf(b, 'generalInfo')) : [],
  };
}

export function encodeHeader(h: PkiHeader): asn1js.Sequence {
  const value: asn1js.AsnType[] = [new asn1js.Integer({ value: h.pvno }), generalName(h.sender), generalName(h.recipient)];
  const octets = (b: Buffer) => new asn1js.OctetString({ valueHex: b });
  if (h.messageTime) value.push(explicit(0, generalizedTime(h.messageTime)));
  if (h.protectionAlg) value.push(explicit(1, algorithm(h.protectionAlg)));
  if (h.senderKID) value.push(explicit(2, octets(h.senderKID)));
  if (h.recipKID) value.push(explicit(3, octets(h.recipKID)));
  if (h.transactionID) value.push(explicit(4, octets(h.transactionID)));
  if (h.senderNonce) value.push(explicit(5, octets(h.senderNonce)));
  if (h.recipNonce) value.push(explicit(6, octets(h.recipNonce)));
  if (h.freeText.length) value.push(explicit(7, freeText(h.freeText)));
  if (h.generalInfo.length) value.push(explicit(8, new asn1js.Sequence({ value: h.generalInfo.map(infoTypeAndValue) })));
  return new asn1js.Sequence({ value });
}
