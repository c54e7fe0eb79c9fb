// TSIG (RFC 8945): signs a DNS message with a shared HMAC key and checks the signed answer, so
// that only the key holder can change a zone and a forged answer cannot pass for the server's.
// dns-packet encodes the TSIG record (type 250, its RDATA as raw bytes); the RDATA layout and
// the digest input are written here because dns-packet knows neither.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { dnsWire } from './dnsWire.js';

export const TSIG_ALGORITHMS = ['hmac-sha256', 'hmac-sha512', 'hmac-sha384', 'hmac-sha1'] as const;
export type TsigAlgorithm = (typeof TSIG_ALGORITHMS)[number];

export interface TsigKey {
  /** The key's name as the server knows it (BIND: `key "<name>" { … }`). */
  name: string;
  algorithm: TsigAlgorithm;
  secret: Buffer;
}

const HASH: Record<TsigAlgorithm, string> = { 'hmac-sha256': 'sha256', 'hmac-sha512': 'sha512', 'hmac-sha384': 'sha384', 'hmac-sha1': 'sha1' };

/** Seconds the two clocks may differ; 300 is what RFC 8945 recommends and nsupdate sends. */
const FUDGE = 300;
const CLASS_ANY = 255;

/** TSIG error codes (RFC 8945 §5.3) in the words an operator needs. */
const TSIG_ERRORS: Record<number, string> = {
  16: 'BADSIG: the server computed another signature, so the secret is wrong',
  17: 'BADKEY: the server does not know this key name or algorithm',
  18: 'BADTIME: the clocks of certgate and the DNS server differ by more than five minutes',
  22: 'BADTRUNC: the server refused a truncated signature',
};

export function describeTsigError(code: number): string {
  return TSIG_ERRORS[code] ?? `TSIG error ${code}`;
}

/** Lower-case, uncompressed wire form: the canonical form the digest covers. */
function canonicalName(name: string): Buffer {
  return dnsWire.nameBytes(name.toLowerCase());
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u48(n: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
}

interface TsigFields {
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  other: Buffer;
  algorithm: string;
}

/** The digest's "TSIG variables" (RFC 8945 §4.3.3): everything of the record but the MAC and the original id. */
function variables(key: TsigKey, f: Pick<TsigFields, 'timeSigned' | 'fudge' | 'error' | 'other'>): Buffer {
  return Buffer.concat([
    canonicalName(key.name),
    u16(CLASS_ANY),
    Buffer.alloc(4), // TTL 0
    canonicalName(key.algorithm),
    u48(f.timeSigned),
    u16(f.fudge),
    u16(f.error),
    u16(f.other.length),
    f.other,
  ]);
}

function mac(key: TsigKey, parts: Buffer[]): Buffer {
  const h = createHmac(HASH[key.algorithm], key.secret);
  for (const p of parts) h.update(p);
  return h.digest();
}

function rdata(algorithm: string, f: Omit<TsigFields, 'algorithm'>): Buffer {
  return Buffer.concat([
    canonicalName(algorithm),
    u48(f.timeSigned),
    u16(f.fudge),
    u16(f.mac.length),
    f.mac,
    u16(f.originalId),
    u16(f.error),
    u16(f.other.length),
    f.other,
  ]);
}

function parseRdata(data: Buffer): TsigFields {
  const algorithm = dnsWire.readName(data, 0);
  let o = algorithm.bytes;
  const timeSigned = data.readUIntBE(o, 6);
  const fudge = data.readUInt16BE(o + 6);
  const macSize = data.readUInt16BE(o + 8);
  o += 10;
  const macBytes = data.subarray(o, o + macSize);
  o += macSize;
  const originalId = data.readUInt16BE(o);
  const error = data.readUInt16BE(o + 2);
  const otherLen = data.readUInt16BE(o + 4);
  const other = data.subarray(o + 6, o + 6 + otherLen);
  if (other.length !== otherLen) throw new Error('TSIG record is cut short');
  return { algorithm: algorithm.name.toLowerCase(), timeSigned, fudge, mac: Buffer.from(macBytes), originalId, error, other: Buffer.from(other) };
}

export interface SignedMessage {
  wire: Buffer;
  /** The request's MAC: the answer's signature covers it, tying the answer to this request. */
  mac: Buffer;
}

/** Appends a TSIG record to an encoded message (its ARCOUNT grows by one). */
export function signMessage(message: Buffer, key: TsigKey, now: Date = new Date()): SignedMessage {
  const timeSigned = Math.floor(now.getTime() / 1000);
  const fields = { timeSigned, fudge: FUDGE, error: 0, other: Buffer.alloc(0) };
  const requestMac = mac(key, [message, variables(key, fields)]);
  const record = dnsWire.encodeRecord({
    name: key.name,
    type: 'TSIG',
    class: 'ANY',
    ttl: 0,
    data: rdata(key.algorithm, { ...fields, mac: requestMac, originalId: message.readUInt16BE(0) }),
  });
  const header = Buffer.from(message.subarray(0, 12));
  header.writeUInt16BE(header.readUInt16BE(10) + 1, 10);
  return { wire: Buffer.concat([header, message.subarray(12), record]), mac: requestMac };
}

export type ResponseSignature =
  | { status: 'valid' }
  /** No TSIG record at all. */
  | { status: 'unsigned' }
  /** The server could not verify the request (BADKEY, BADSIG, BADTIME): it says why, unsigned. */
  | { status: 'server-error'; error: number }
  /** Signed, but not by this key for this request (or out of time): forged or garbled. */
  | { status: 'invalid'; reason: string };

/** Checks the answer's TSIG against the key and the request's MAC (RFC 8945 §5.3.1 and §5.4). */
export function verifyResponse(response: Buffer, key: TsigKey, requestMac: Buffer, now: Date = new Date()): ResponseSignature {
  const last = dnsWire.lastAdditional(response);
  if (!last || last.record.type !== 'TSIG') return { status: 'unsigned' };
  if (last.record.name.toLowerCase() !== key.name.toLowerCase()) return { status: 'invalid', reason: `signed with another key (${last.record.name})` };
  let f: TsigFields;
  try {
    f = parseRdata(last.record.data as Buffer);
  } catch (err) {
    return { status: 'invalid', reason: `its TSIG record does not parse (${(err as Error).message})` };
  }
  if (f.error !== 0 && f.mac.length === 0) return { status: 'server-error', error: f.error };
  if (f.algorithm !== key.algorithm) return { status: 'invalid', reason: `signed with another algorithm (${f.algorithm})` };
  // The digest covers the message as it was before the record was added, under the original id.
  const unsigned = Buffer.from(response.subarray(0, last.offset));
  unsigned.writeUInt16BE(f.originalId, 0);
  unsigned.writeUInt16BE(unsigned.readUInt16BE(10) - 1, 10);
  const expected = mac(key, [u16(requestMac.length), requestMac, unsigned, variables(key, f)]);
  if (f.mac.length !== expected.length || !timingSafeEqual(f.mac, expected)) return { status: 'invalid', reason: 'its signature does not match the key' };
  // A signed BADTIME answer carries the server's own time, which is the point: its error counts first.
  if (f.error !== 0) return { status: 'server-error', error: f.error };
  if (Math.abs(now.getTime() / 1000 - f.timeSigned) > f.fudge) return { status: 'invalid', reason: 'its signature time is outside the allowed clock difference' };
  return { status: 'valid' };
}
