// How a failed validation is told: an RFC 8555 problem, and whether the queue job should try again.
// One place decides which low-level errors are worth another attempt, so the three challenge types
// and the CAA check agree: the network or DNS being unwell is retryable, an answer that is there but
// wrong is not (asking again would get the same wrong answer and only delay the client's error).
import type { Failure, ProblemType } from './types.js';

export function fail(type: ProblemType, detail: string, retryable = false): Failure {
  return { ok: false, problem: { type, detail }, retryable };
}

/** The `code` of a Node error (ECONNREFUSED, ENOTFOUND, ERR_SSL_...), if it has one. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  return (err as { name?: unknown }).name === 'AbortError' ? 'ABORT_ERR' : undefined;
}

/**
 * Untrusted text (a response body, a TXT value, a Location header) as it goes into a problem detail:
 * quoted, escaped and cut short, so a hostile server cannot flood or forge the detail the client reads.
 */
export function quote(text: string, max = 64): string {
  const cut = text.length > max ? `${text.slice(0, max)}...` : text;
  return JSON.stringify(cut);
}

const TIMEOUTS = new Set(['ABORT_ERR', 'ETIMEDOUT', 'ETIMEOUT', 'ECANCELLED']);
const CONNECTION_TROUBLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);

/** A failure while connecting to, or talking TCP/TLS/HTTP with, the server being validated. */
export function networkFailure(err: unknown, where: string): Failure {
  const code = errorCode(err) ?? '';
  if (TIMEOUTS.has(code)) return fail('connection', `${where}: timeout`, true);
  if (CONNECTION_TROUBLE.has(code)) return fail('connection', `${where}: ${code}`, true);
  // llhttp's parse errors: the server answered, but not in HTTP. Not a network hiccup.
  if (code.startsWith('HPE_')) return fail('incorrectResponse', `${where}: malformed HTTP response (${code})`);
  // A handshake the server refused or botched: a configuration problem on its side, not transient.
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO') return fail('tls', `${where}: TLS error (${code})`);
  return fail('connection', `${where}: ${code || (err instanceof Error ? err.message : String(err))}`);
}

/** NXDOMAIN or no records of the type: the name's owner has not published it, so asking again won't help. */
export function isAbsent(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ENOTFOUND' || code === 'ENODATA';
}

/** A failed DNS look-up; everything but NXDOMAIN, NODATA and a malformed name is worth retrying (SERVFAIL, timeout, refused). */
export function dnsFailure(err: unknown, rrtype: string, name: string): Failure {
  const code = errorCode(err) ?? 'error';
  if (code === 'ENOTFOUND') return fail('dns', `NXDOMAIN looking up ${rrtype} for ${name}`);
  if (code === 'ENODATA') return fail('dns', `No ${rrtype} records found for ${name}`);
  if (code === 'EBADNAME') return fail('malformed', `${name} is not a name DNS can look up`);
  const what = TIMEOUTS.has(code) ? 'timeout' : code === 'ESERVFAIL' ? 'SERVFAIL' : code;
  return fail('dns', `DNS problem: ${what} looking up ${rrtype} for ${name}`, true);
}
