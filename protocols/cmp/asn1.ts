// PKIMessage (RFC 9810 §5.1) with asn1js: DER in, messages.ts's model out, and back. The protected
// part a MAC or signature covers is SEQUENCE { header, body } over the bytes exactly as received,
// so that a peer's protection is checked over what it protected, never over a re-encoding.
import * as asn1js from 'asn1js';
import { assertDer } from '../../src/pki/csr.js';
import { content, DerError, readNode, tlvOf } from '../../src/pki/der.js';
import { bitsOf, explicitInner, isSequence, matchSequence, one, maybe, optionalTag, parseBer, rawOf } from '../../src/pki/asn1.js';
import { decodeBody, encodeBody } from './asn1Body.js';
import { decodeHeader, encodeHeader } from './asn1Header.js';
import { CmpDecodeError, entriesOf } from './asn1Util.js';
import type { PkiBody, PkiHeader, PkiMessage } from './messages.js';

export { CmpDecodeError, MAX_LIST } from './asn1Util.js';
export { caCertsValue, certReqTemplateValue, rootCaKeyUpdateValue } from './genpValues.js';

/** The largest PKIMessage read: a few certificates and requests, far below it. */
export const MAX_MESSAGE_BYTES = 256 * 1024;

const FIELDS = ['header', 'body', 'protection', 'extraCerts'] as const;
const MESSAGE_SCHEMA = new asn1js.Sequence({
  value: [new asn1js.Sequence({ name: 'header' }), new asn1js.Any({ name: 'body' }), optionalTag(0, 'protection'), optionalTag(1, 'extraCerts')],
});

/** Reads a PKIMessage. Throws CmpDecodeError (badDataFormat, unsupportedVersion) for one that cannot be served. */
export function decodePkiMessage(der: Buffer): PkiMessage {
  if (der.length > MAX_MESSAGE_BYTES) throw new CmpDecodeError('badDataFormat', `the message is larger than ${MAX_MESSAGE_BYTES / 1024} KiB`);
  try {
    return readMessage(der);
  } catch (e) {
    if (e instanceof CmpDecodeError) throw e;
    // asn1js and the readers it feeds throw plain errors on a few malformed inputs (a RangeError for
    // an overlong length, a TypeError for a block of an unexpected class): all of them bad data.
    if (e instanceof DerError || e instanceof RangeError || e instanceof TypeError) throw new CmpDecodeError('badDataFormat', `malformed PKIMessage: ${e.message}`);
    throw e;
  }
}

function readMessage(der: Buffer): PkiMessage {
  // RFC 9810 §5 messages are DER: the parts certgate echoes (names, ids) go back out as they came.
  assertDer(der);
  const top = parseBer(der, 'PKIMessage');
  const named = matchSequence(top, MESSAGE_SCHEMA, FIELDS, 'PKIMessage');
  const headerBlock = one(named, 'header');
  const bodyBlock = one(named, 'body');
  const header = decodeHeader(headerBlock);
  const body = decodeBody(bodyBlock);
  const protectionBlock = maybe(named, 'protection');
  let protection: Buffer | null = null;
  if (protectionBlock) {
    const { bytes, unusedBits } = bitsOf(explicitInner(protectionBlock, 'protection'), 'protection');
    if (unusedBits !== 0) throw new CmpDecodeError('badDataFormat', 'the protection is not whole bytes');
    protection = bytes;
  }
  const extraCertsBlock = maybe(named, 'extraCerts');
  let extraCerts: Buffer[] = [];
  if (extraCertsBlock) {
    const list = explicitInner(extraCertsBlock, 'extraCerts');
    if (!isSequence(list)) throw new CmpDecodeError('badDataFormat', 'extraCerts is not a SEQUENCE');
    extraCerts = entriesOf(list, 'extraCerts').map((c) => {
      if (!isSequence(c)) throw new CmpDecodeError('badDataFormat', 'extraCerts holds something other than a certificate');
      return rawOf(c);
    });
  }
  return { header, body, protectedPartDer: tlvOf(0x30, [rawOf(headerBlock), rawOf(bodyBlock)]), protection, extraCerts };
}

/** The DER of ProtectedPart ::= SEQUENCE { header, body }: what the sender protects. */
export function encodeProtectedPart(header: PkiHeader, body: PkiBody): Buffer {
  return Buffer.from(new asn1js.Sequence({ value: [encodeHeader(header), encodeBody(body)] }).toBER(false));
}

/**
 * A PKIMessage from its protected part's bytes (kept as they are), its protection and extraCerts.
 * PKIMessage's first two elements are ProtectedPart's contents, so only its outer header is read:
 * parsing the whole part again (the certificates in an answer included) cost more than signing it.
 */
export function assemblePkiMessage(protectedPartDer: Buffer, protection: Buffer | null, extraCerts: Buffer[]): Buffer {
  const top = readNode(protectedPartDer, 0);
  if (top.tag !== 0x30 || top.end !== protectedPartDer.length) throw new Error('not a ProtectedPart');
  const parts = [content(protectedPartDer, top)];
  if (protection) parts.push(tlvOf(0xa0, [tlvOf(0x03, [Buffer.from([0]), protection])]));
  if (extraCerts.length) parts.push(tlvOf(0xa1, [tlvOf(0x30, extraCerts)]));
  return tlvOf(0x30, parts);
}
