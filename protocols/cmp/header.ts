// The PKIHeader checks every request passes before its body is read (RFC 9483 §3.1, §3.5): a
// transactionID and a senderNonce of at least 128 bits, a messageTime (when sent) within the
// window, and a senderNonce never seen before: a message sent again is refused. The version and
// the longest ids are the codec's to refuse (asn1Header.ts), before any of this.
import type { OneTimeTokens } from '../../src/core/oneTimeTokens.js';
import type { PkiHeader } from './messages.js';
import { CmpRefusal } from './refusal.js';

/** RFC 9483 §3.1: transactionID and senderNonce are 128 bits of random data at least. */
const MIN_RANDOM_BYTES = 16;
const NONCE_KIND = 'cmp-sender-nonce';

export interface HeaderLimits {
  /** How far messageTime may be from certgate's clock. */
  messageTimeWindowMs: number;
  /** How long a senderNonce is remembered: longer than a message can stay acceptable. */
  nonceMemoryMs: number;
}

export interface CheckedHeader {
  transactionId: string;
  senderNonce: Buffer;
}

function randomField(value: Buffer | null, name: string, failInfo: 'badRequest' | 'badSenderNonce'): Buffer {
  if (!value) throw new CmpRefusal(failInfo, `the header has no ${name} (RFC 9483 section 3.1)`);
  if (value.length < MIN_RANDOM_BYTES) throw new CmpRefusal(failInfo, `the header's ${name} is ${value.length} bytes; RFC 9483 section 3.1 asks for at least ${MIN_RANDOM_BYTES}`);
  return value;
}

/** What needs no store: IDs and time. Throws CmpRefusal. */
export function checkHeader(header: PkiHeader, limits: HeaderLimits, now: number): CheckedHeader {
  const transactionId = randomField(header.transactionID, 'transactionID', 'badRequest').toString('hex');
  const senderNonce = randomField(header.senderNonce, 'senderNonce', 'badSenderNonce');
  if (header.messageTime) {
    const skew = header.messageTime.getTime() - now;
    if (Math.abs(skew) > limits.messageTimeWindowMs) {
      throw new CmpRefusal('badTime', `messageTime ${header.messageTime.toISOString()} is ${Math.round(Math.abs(skew) / 1000)} seconds ${skew < 0 ? 'behind' : 'ahead of'} certgate's clock; at most ${Math.round(limits.messageTimeWindowMs / 1000)} are accepted`);
    }
  }
  return { transactionId, senderNonce };
}

/**
 * Records the senderNonce, refusing one already seen (a message replayed, here or at another
 * process of the deployment: the store is shared with Redis, and the claim is one step there).
 */
export async function refuseReplay(tokens: OneTimeTokens, senderNonce: Buffer, limits: HeaderLimits): Promise<void> {
  if (!(await tokens.claim(NONCE_KIND, senderNonce.toString('hex'), limits.nonceMemoryMs))) {
    throw new CmpRefusal('badSenderNonce', 'this senderNonce was used before: the message is a replay (RFC 9483 section 3.5)');
  }
}

/** The recipNonce a message in a running transaction must carry: the senderNonce of certgate's last answer. */
export function checkRecipNonce(header: PkiHeader, expectedHex: string): void {
  if (!header.recipNonce) throw new CmpRefusal('badRecipientNonce', 'the header has no recipNonce: a message in a running transaction returns the senderNonce of the last answer (RFC 9483 section 3.1)');
  if (header.recipNonce.toString('hex') !== expectedHex) throw new CmpRefusal('badRecipientNonce', "the recipNonce is not the senderNonce of certgate's last answer in this transaction");
}
