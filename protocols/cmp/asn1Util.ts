// The CMP codec's own vocabulary beside src/pki/asn1.ts: its error (with the PKIFailureInfo the
// answer carries), its list bound and PKIFreeText.
import * as asn1js from 'asn1js';
import { elementsOf, isSequence, malformed } from '../../src/pki/asn1.js';
import type { FailInfo } from './messages.js';

export class CmpDecodeError extends Error {
  override readonly name = 'CmpDecodeError';
  constructor(
    readonly failInfo: FailInfo,
    message: string,
  ) {
    super(message);
  }
}

/** How many entries of one list (CertReqMsgs, RevDetails, extraCerts, generalInfo ...) a message may carry. */
export const MAX_LIST = 16;

export function entriesOf(block: asn1js.AsnType, what: string): asn1js.AsnType[] {
  return elementsOf(block, what, MAX_LIST);
}

/** PKIFreeText ::= SEQUENCE SIZE (1..MAX) OF UTF8String */
export function freeTextOf(block: asn1js.AsnType | null, what: string): string[] {
  if (!block) return [];
  if (!isSequence(block)) malformed(`${what} is not a SEQUENCE`);
  return entriesOf(block, what).map((s) => {
    if (!(s instanceof asn1js.Utf8String)) return malformed(`${what} holds something other than UTF8String`);
    return s.valueBlock.value;
  });
}

export function freeText(strings: string[]): asn1js.Sequence {
  return new asn1js.Sequence({ value: strings.map((s) => new asn1js.Utf8String({ value: s })) });
}

