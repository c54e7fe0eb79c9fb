// Certificate serial numbers. certgate keeps a serial as the lower-case hex of its positive
// magnitude, with no leading zero byte (RFC 5280 §4.1.2.2: positive, at most 20 octets from a
// conforming CA), so that a serial typed by a person, printed by openssl, read from an X509Certificate
// or decoded from DER finds the same row.
import { DerError } from './der.js';

const HEX = /^[0-9a-fA-F]+$/;
/** What people copy along with the digits: openssl's and browsers' colons, viewers' spaces. */
const SEPARATORS = /[:\s]/g;

/** Any hex spelling of a positive serial, in certgate's form; throws DerError for anything else. */
export function normalizeSerialHex(hex: string): string {
  if (typeof hex !== 'string' || !HEX.test(hex)) throw new DerError(`bad serial number "${String(hex).slice(0, 80)}"`);
  let h = hex.length % 2 ? `0${hex}` : hex;
  let start = 0;
  while (start < h.length - 2 && h.charCodeAt(start) === 0x30 && h.charCodeAt(start + 1) === 0x30) start += 2;
  if (start) h = h.slice(start);
  if (h === '00') throw new DerError('serial number must be positive');
  return h.toLowerCase();
}

/**
 * A serial as a person gives it (any case, with or without colons or spaces between the bytes),
 * in certgate's form. `refuse` makes the caller's error from the reason (e.g. a 400 naming its field).
 */
export function serialFromText(text: string, refuse: (reason: string) => Error): string {
  try {
    return normalizeSerialHex(text.replace(SEPARATORS, ''));
  } catch (e) {
    if (e instanceof DerError) throw refuse(e.message);
    throw e;
  }
}

/**
 * A serial someone else encoded (a certificate certgate may not have issued, a client's message),
 * as hex or as INTEGER content octets, leniently: in certgate's form, or null when no certificate
 * of certgate's can have it (empty, zero, not hex).
 */
export function serialOrNull(serial: string | Uint8Array): string | null {
  try {
    return normalizeSerialHex(typeof serial === 'string' ? serial : Buffer.from(serial).toString('hex'));
  } catch {
    return null;
  }
}

/** A serial INTEGER's content octets in certgate's form, strictly: minimally encoded and not negative. */
export function serialHexOfInteger(c: Uint8Array): string {
  if (c.length === 0) throw new DerError('empty serial number');
  const b0 = c[0] as number;
  if (c.length > 1) {
    const b1 = c[1] as number;
    if ((b0 === 0x00 && b1 < 0x80) || (b0 === 0xff && b1 >= 0x80)) throw new DerError('serial number is not minimally encoded');
  }
  if (b0 & 0x80) throw new DerError('negative serial number');
  const bytes = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  return (b0 === 0 && c.length > 1 ? bytes.subarray(1) : bytes).toString('hex');
}

/** The INTEGER content octets of a serial in certgate's form: a leading zero byte when the top bit is set. */
export function serialIntegerContent(serialHex: string): Buffer {
  const magnitude = Buffer.from(normalizeSerialHex(serialHex), 'hex');
  return (magnitude[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), magnitude]) : magnitude;
}
