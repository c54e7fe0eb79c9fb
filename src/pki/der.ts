// A small DER encoder and a strict, bounded DER reader. The general ASN.1 libraries build an
// object tree per certificate; on the issuance hot path that cost more than the signature
// itself, so certificate bodies are assembled from byte buffers here.

export class DerError extends Error {
  override readonly name = 'DerError';
}

// ---------- encoding ----------

/** Octets of a tag and a definite length for `len` content octets. */
export function headerLength(len: number): number {
  return len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : len < 0x1000000 ? 5 : 6;
}

/** Writes a tag and a definite length at `pos`; returns the position after them. */
export function writeHeader(out: Buffer, pos: number, tag: number, len: number): number {
  out[pos++] = tag;
  if (len < 0x80) {
    out[pos++] = len;
    return pos;
  }
  const n = headerLength(len) - 2;
  out[pos++] = 0x80 | n;
  for (let i = n - 1; i >= 0; i--) out[pos++] = (len / 256 ** i) & 0xff;
  return pos;
}

/** Just the tag and length of an element whose content is written separately. */
export function header(tag: number, len: number): Buffer {
  const out = Buffer.allocUnsafe(headerLength(len));
  writeHeader(out, 0, tag, len);
  return out;
}

/** One element from its parts, in a single allocation: the certificate builder's hot path. */
export function tlvOf(tag: number, parts: readonly Buffer[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = Buffer.allocUnsafe(headerLength(len) + len);
  let pos = writeHeader(out, 0, tag, len);
  for (const p of parts) pos += p.copy(out, pos);
  return out;
}

export const tlv = (tag: number, content: Buffer): Buffer => tlvOf(tag, [content]);
export const sequence = (...parts: Buffer[]): Buffer => tlvOf(0x30, parts);
export const set = (...parts: Buffer[]): Buffer => tlvOf(0x31, parts);
export const octetString = (b: Buffer): Buffer => tlv(0x04, b);
export const bitString = (b: Buffer, unusedBits = 0): Buffer => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), b]));
export const utf8String = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
export const printableString = (s: string): Buffer => tlv(0x13, Buffer.from(s, 'latin1'));
export const ia5String = (s: string): Buffer => tlv(0x16, Buffer.from(s, 'latin1'));
export const nullValue = (): Buffer => Buffer.from([0x05, 0x00]);
export const boolean = (v: boolean): Buffer => Buffer.from([0x01, 0x01, v ? 0xff : 0x00]);
/** [n] EXPLICIT — constructed context tag wrapping a complete element. */
export const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner);
/** [n] IMPLICIT on a primitive type: context tag replacing the universal one. */
export const implicitPrimitive = (n: number, content: Buffer): Buffer => tlv(0x80 | n, content);

/** INTEGER from an unsigned big-endian magnitude; adds the 0x00 that keeps it positive. */
export function unsignedInteger(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  let body = magnitude.subarray(start);
  if (body.length === 0) body = Buffer.from([0]);
  if ((body[0] as number) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return tlv(0x02, body);
}

export function smallInteger(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new DerError(`integer out of range: ${n}`);
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  return unsignedInteger(Buffer.from(bytes));
}

const oidCache = new Map<string, Buffer>();
export function oid(dotted: string): Buffer {
  const cached = oidCache.get(dotted);
  if (cached) return cached;
  const arcs = dotted.split('.').map((a) => Number(a));
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) throw new DerError(`bad OID ${dotted}`);
  const out: number[] = [];
  const pushArc = (arc: number): void => {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  };
  pushArc((arcs[0] as number) * 40 + (arcs[1] as number));
  for (const a of arcs.slice(2)) pushArc(a);
  const enc = tlv(0x06, Buffer.from(out));
  oidCache.set(dotted, enc);
  return enc;
}

// Times are written straight into the output buffer: a CRL carries one per entry.

/** The date, if DER can carry it (a real date, year 0..9999); DerError otherwise. */
export function checkTime(d: Date, what: string): Date {
  const year = d instanceof Date ? d.getUTCFullYear() : NaN;
  if (!Number.isFinite(year)) throw new DerError(`${what}: invalid date`);
  if (year < 0 || year > 9999) throw new DerError(`${what}: year ${year} cannot be encoded`);
  return d;
}

const isUtcTimeYear = (year: number): boolean => year >= 1950 && year < 2050;

function put2(out: Buffer, pos: number, v: number): number {
  out[pos] = 0x30 + ((v / 10) | 0);
  out[pos + 1] = 0x30 + (v % 10);
  return pos + 2;
}

function writeTimeElement(out: Buffer, pos: number, d: Date, generalized: boolean): number {
  const year = d.getUTCFullYear();
  out[pos++] = generalized ? 0x18 : 0x17;
  out[pos++] = generalized ? 15 : 13;
  if (generalized) pos = put2(out, pos, (year / 100) | 0);
  pos = put2(out, pos, year % 100);
  pos = put2(out, pos, d.getUTCMonth() + 1);
  pos = put2(out, pos, d.getUTCDate());
  pos = put2(out, pos, d.getUTCHours());
  pos = put2(out, pos, d.getUTCMinutes());
  pos = put2(out, pos, d.getUTCSeconds());
  out[pos] = 0x5a; // Z
  return pos + 1;
}

/** Encoded length of time(d): UTCTime (15) for 1950..2049, GeneralizedTime (17) otherwise. */
export function timeLength(d: Date, what = 'time'): number {
  return isUtcTimeYear(checkTime(d, what).getUTCFullYear()) ? 15 : 17;
}

/** Writes time(d) at `pos`; returns the position after it. */
export function writeTime(out: Buffer, pos: number, d: Date, what = 'time'): number {
  return writeTimeElement(out, pos, checkTime(d, what), !isUtcTimeYear(d.getUTCFullYear()));
}

/** Writes generalizedTime(d) (17 octets) at `pos`; returns the position after it. */
export function writeGeneralizedTime(out: Buffer, pos: number, d: Date, what = 'time'): number {
  return writeTimeElement(out, pos, checkTime(d, what), true);
}

/** UTCTime through 2049, GeneralizedTime after, as RFC 5280 §4.1.2.5 requires. Whole seconds. */
export function time(d: Date, what = 'time'): Buffer {
  const out = Buffer.allocUnsafe(timeLength(d, what));
  writeTime(out, 0, d, what);
  return out;
}

/** GeneralizedTime YYYYMMDDHHMMSSZ, whole seconds: what OCSP (RFC 6960) and invalidityDate use. */
export function generalizedTime(d: Date, what = 'time'): Buffer {
  const out = Buffer.allocUnsafe(17);
  writeGeneralizedTime(out, 0, d, what);
  return out;
}

// ---------- decoding ----------

export interface DerNode {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset one past the last content byte. */
  end: number;
}

/** Reads the element at `offset`. Rejects indefinite lengths, high tag numbers and overruns. */
export function readNode(buf: Uint8Array, offset: number, limit = buf.length): DerNode {
  if (offset + 2 > limit) throw new DerError('truncated DER element');
  const tag = buf[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError('high-tag-number form is not supported');
  let lenByte = buf[offset + 1] as number;
  let pos = offset + 2;
  let len: number;
  if (lenByte < 0x80) {
    len = lenByte;
  } else {
    lenByte &= 0x7f;
    if (lenByte === 0) throw new DerError('indefinite length is not DER');
    if (lenByte > 4) throw new DerError('DER length too large');
    if (pos + lenByte > limit) throw new DerError('truncated DER length');
    len = 0;
    for (let i = 0; i < lenByte; i++) len = len * 256 + (buf[pos + i] as number);
    pos += lenByte;
  }
  if (pos + len > limit) throw new DerError('DER element overruns its container');
  return { tag, start: offset, contentStart: pos, end: pos + len };
}

/**
 * The direct children of a constructed element. `max` bounds how many there may be (a guard
 * against hostile input); raise it only where a large count is legitimate, e.g. CRL entries.
 */
export function children(buf: Uint8Array, node: DerNode, max = 100_000): DerNode[] {
  if ((node.tag & 0x20) === 0) throw new DerError('expected a constructed element');
  const out: DerNode[] = [];
  let pos = node.contentStart;
  while (pos < node.end) {
    const child = readNode(buf, pos, node.end);
    out.push(child);
    pos = child.end;
    if (out.length > max) throw new DerError('too many elements');
  }
  return out;
}

export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) throw new DerError(`missing ${what}`);
  if (node.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`);
  return node;
}

export function content(buf: Uint8Array, node: DerNode): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + node.contentStart, node.end - node.contentStart);
}

export function raw(buf: Uint8Array, node: DerNode): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + node.start, node.end - node.start);
}

export function decodeOid(bytes: Buffer): string {
  if (bytes.length === 0 || bytes.length > 64) throw new DerError('bad OID length');
  const arcs: number[] = [];
  let v = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER) throw new DerError('OID arc too large');
    if ((b & 0x80) === 0) {
      if (arcs.length === 0) {
        const first = v < 80 ? Math.floor(v / 40) : 2;
        arcs.push(first, v - first * 40);
      } else arcs.push(v);
      v = 0;
    } else if (i === bytes.length - 1) throw new DerError('truncated OID');
  }
  return arcs.join('.');
}

export function readOid(buf: Uint8Array, node: DerNode | undefined, what: string): string {
  return decodeOid(content(buf, expectTag(node, 0x06, what)));
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes a string-ish element (UTF8String, PrintableString, IA5String, T61String, BMPString...). */
export function decodeString(buf: Uint8Array, node: DerNode): string {
  const c = content(buf, node);
  switch (node.tag) {
    case 0x0c:
      // Buffer.toString would turn invalid bytes into U+FFFD: a name we would print but not sign.
      try {
        return UTF8.decode(c);
      } catch {
        throw new DerError('invalid UTF-8 in UTF8String');
      }
    case 0x1e: {
      // BMPString: UTF-16BE
      const swapped = Buffer.from(c);
      if (swapped.length % 2) throw new DerError('odd BMPString length');
      swapped.swap16();
      return swapped.toString('utf16le');
    }
    case 0x13:
    case 0x16:
    case 0x14:
    case 0x1a:
    case 0x12:
      return c.toString('latin1');
    default:
      throw new DerError(`unexpected string tag 0x${node.tag.toString(16)}`);
  }
}

export function decodeTime(buf: Uint8Array, node: DerNode): Date {
  const s = content(buf, node).toString('latin1');
  let m: RegExpMatchArray | null;
  if (node.tag === 0x17 && (m = s.match(/^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/))) {
    const yy = Number(m[1]);
    return new Date(Date.UTC(yy < 50 ? 2000 + yy : 1900 + yy, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  if (node.tag === 0x18 && (m = s.match(/^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/))) {
    return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  throw new DerError('bad time value');
}
