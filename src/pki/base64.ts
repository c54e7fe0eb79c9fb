// Base64 as clients send it (RFC 4648 §4): in lines of any length, with white space anywhere, the
// padding sometimes left off. What is tolerated is layout only; the characters themselves must be
// exactly what an encoder makes of some bytes, so that two different texts never mean the same
// bytes (Node's own decoder skips what it does not know and drops a dangling character).

export interface Base64Options {
  /** Also accept base64url's `-` and `_` (RFC 4648 §5) for `+` and `/`: some SCEP clients send it. */
  url?: boolean;
  /** Refuse a last group without its `=` padding (PEM, RFC 7468 §3). */
  padded?: boolean;
}

const STANDARD = /^[A-Za-z0-9+/]*={0,2}$/;
const STANDARD_OR_URL = /^[A-Za-z0-9+/_-]*={0,2}$/;
const WHITESPACE = /\s+/g;

/** The 6-bit value of a base64 or base64url character already known to be one. */
function sextet(code: number): number {
  if (code >= 65 && code <= 90) return code - 65; // A-Z
  if (code >= 97 && code <= 122) return code - 71; // a-z
  if (code >= 48 && code <= 57) return code + 4; // 0-9
  return code === 43 || code === 45 ? 62 : 63; // + or -, / or _
}

/**
 * The bytes of base64 text, white space and line breaks anywhere; null (never a throw) when the
 * text is not canonical base64: a character outside the alphabet, padding that does not complete
 * the last group, a dangling sixth of a byte, or unused bits in the last character that are not 0.
 */
export function decodeLenientBase64(text: string, options: Base64Options = {}): Buffer | null {
  const compact = text.replace(WHITESPACE, '');
  if (!(options.url ? STANDARD_OR_URL : STANDARD).test(compact)) return null;
  const unpadded = compact.endsWith('=') ? compact.replace(/=+$/, '') : compact;
  if ((unpadded !== compact || options.padded) && compact.length % 4 !== 0) return null;
  const rest = unpadded.length % 4;
  if (rest === 1) return null;
  // The last character of a 2- or 3-character group carries 4 or 2 bits no byte uses.
  if (rest !== 0 && (sextet(unpadded.charCodeAt(unpadded.length - 1)) & (rest === 2 ? 0x0f : 0x03)) !== 0) return null;
  // Node's 'base64' decoder reads the URL alphabet too.
  return Buffer.from(unpadded, 'base64');
}
