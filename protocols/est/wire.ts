// EST's wire format (RFC 7030 §4, RFC 8951): base64 bodies in, base64 bodies out, plain-text errors.
// Every answer has a Content-Length and leaves in one write: strongSwan's client reads the status
// line, the headers and the start of the body from its first TLS record, and refuses chunked bodies.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { decodeLenientBase64 } from '../../src/pki/base64.js';

/** The largest request body EST reads: a PKCS#10 request with a 16384-bit RSA key is under 8 KiB. */
export const MAX_BODY_BYTES = 64 * 1024;

export const PKCS7_CERTS_ONLY = 'application/pkcs7-mime; smime-type=certs-only';

/** An EST answer other than success: status, a sentence for a person, and headers to add. */
export class EstHttpError extends Error {
  override readonly name = 'EstHttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export const UNAUTHORIZED_HEADERS = { 'WWW-Authenticate': 'Basic realm="certgate EST"' } as const;

export const unauthorized = (message: string): EstHttpError => new EstHttpError(401, message, UNAUTHORIZED_HEADERS);

/** Sends the whole answer at once: status, headers with Content-Length, body. */
export function send(res: ServerResponse, status: number, contentType: string, body: Buffer | string, headers: Readonly<Record<string, string>> = {}): void {
  const payload = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  res.writeHead(status, {
    ...headers,
    'Content-Type': contentType,
    'Content-Length': String(payload.length),
    'Cache-Control': 'no-store',
  });
  res.end(payload);
}

/** A plain-text answer (every EST error), ending in a line break. */
export function sendText(res: ServerResponse, status: number, text: string, headers: Readonly<Record<string, string>> = {}): void {
  // Latin-1 on the wire: a reason quoting the caller's input must not break the one-byte framing.
  const safe = text.replace(/[^\x20-\x7e]/g, '?');
  send(res, status, 'text/plain; charset=us-ascii', `${safe}\n`, headers);
}

/** Base64 in lines of `lineLength` characters separated by CRLF (0: one line, no line break). */
export function base64Lines(der: Uint8Array, lineLength: number): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  if (lineLength <= 0 || b64.length <= lineLength) return lineLength <= 0 ? b64 : `${b64}\r\n`;
  let out = '';
  for (let i = 0; i < b64.length; i += lineLength) out += `${b64.slice(i, i + lineLength)}\r\n`;
  return out;
}

/** Sends DER as a base64 body of `contentType` (RFC 7030 §4: Content-Transfer-Encoding base64). */
export function sendBase64(res: ServerResponse, contentType: string, der: Uint8Array, lineLength: number): void {
  send(res, 200, contentType, base64Lines(der, lineLength), { 'Content-Transfer-Encoding': 'base64' });
}

const PEM_ARMOR = /-----(BEGIN|END) [A-Z0-9 ]{1,64}-----/g;

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The media type of a Content-Type header, lower case, without parameters. */
export function mediaType(headers: IncomingHttpHeaders): string | undefined {
  return headerValue(headers, 'content-type')?.split(';')[0]?.trim().toLowerCase() || undefined;
}

/**
 * The DER of a request body of type application/pkcs10 (RFC 7030 §4.2.1): base64, with or without
 * line breaks (PEM armour tolerated), as RFC 7030 and 8951 send it; binary DER when the sender
 * says `Content-Transfer-Encoding: binary` (or 8bit), or sends no Content-Transfer-Encoding and a
 * body that is DER rather than text.
 */
export function decodePkcs10Body(body: Buffer, headers: IncomingHttpHeaders): Buffer {
  const type = mediaType(headers);
  if (type !== 'application/pkcs10') {
    throw new EstHttpError(415, `the request body must be application/pkcs10 (a base64 PKCS#10 request, RFC 7030 section 4.2.1), not ${type ?? 'untyped'}`);
  }
  const cte = headerValue(headers, 'content-transfer-encoding')?.trim().toLowerCase();
  if (cte !== undefined && !['base64', 'binary', '8bit', '7bit'].includes(cte)) {
    throw new EstHttpError(400, `Content-Transfer-Encoding ${cte} is not supported: send base64 (or binary DER)`);
  }
  if (body.length === 0) throw new EstHttpError(400, 'the request body is empty: send a base64 PKCS#10 request');
  if (cte === 'binary' || cte === '8bit') return body;
  const text = body.toString('latin1');
  const decoded = decodeLenientBase64(text.replace(PEM_ARMOR, ''));
  if (decoded) {
    if (decoded.length === 0) throw new EstHttpError(400, 'the request body is empty: send a base64 PKCS#10 request');
    return decoded;
  }
  // DER starts with a SEQUENCE (0x30, which is also the base64 digit "0") and, unlike base64 text,
  // has bytes outside the base64 alphabet.
  if (cte === undefined && body[0] === 0x30) return body;
  throw new EstHttpError(400, 'the request body is not base64: send the PKCS#10 request base64-encoded (RFC 7030 section 4.2.1)');
}

/** The user name and password of an `Authorization: Basic` header; null when there is none; 'malformed'. */
export function parseBasicAuth(header: string | undefined): { username: string; password: string } | null | 'malformed' {
  if (header === undefined || header.trim() === '') return null;
  const m = /^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header);
  if (!m) return /^Basic\b/i.test(header.trim()) ? 'malformed' : null;
  const decoded = decodeLenientBase64(m[1] as string);
  if (!decoded) return 'malformed';
  const text = decoded.toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return 'malformed';
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}
