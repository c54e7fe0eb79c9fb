// http-01 (RFC 8555 §8.3): GET http://<name>/.well-known/acme-challenge/<token> must answer 200 with
// the key authorization. HTTP itself is node:http's and node:https's; this module only decides where
// to connect, which redirects to follow and what the answer means.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { pinnedLookup } from './addressPolicy.js';
import type { Attempt } from './attempt.js';
import { isDnsName, type Target } from './identifiers.js';
import { fail, networkFailure, quote } from './problems.js';
import { addressesOf, firstReachable } from './resolver.js';
import type { DcvSettings, Failure, ValidationResult } from './types.js';

/** Boulder's limit: a client's misconfigured site gets a short, definite answer. */
export const MAX_REDIRECTS = 10;
/** A key authorization is well under 300 bytes; anything past this is not one, and is not read on. */
export const MAX_BODY_BYTES = 8 * 1024;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = 'certgate-dcv (+RFC 8555 http-01)';

interface Answer {
  status: number;
  location?: string;
  /** Present for a 200 that fitted within MAX_BODY_BYTES. */
  body?: Buffer;
  tooLarge: boolean;
}

/** "[::1]" -> "::1": WHATWG URLs keep the brackets of an IPv6 host. */
function bare(hostname: string): string {
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
}

function portFor(url: URL, settings: DcvSettings): number {
  return url.protocol === 'https:' ? settings.tlsAlpn01Port : settings.http01Port;
}

/** The URL as it was really fetched (with the configured port), for problem details. */
function shown(url: URL, settings: DcvSettings): string {
  const copy = new URL(url);
  copy.port = String(portFor(url, settings));
  return copy.href;
}

/**
 * Where a request went, for problem details: the first URL in full (certgate built it), a redirect's
 * target by scheme, host and port only. A redirect's path and query may come from a server inside
 * the network, and a problem detail must not carry them back to the client.
 */
function placeOf(url: URL, hop: number, settings: DcvSettings): string {
  const full = shown(url, settings);
  return hop === 0 ? full : `${new URL(full).origin} (redirect ${hop})`;
}

/**
 * Where a redirect may lead: http or https, to a DNS name (never an IP address, in any of the
 * spellings WHATWG's parser turns into one: 2130706433, 0x7f.1, 0177.0.0.1, [::1]), on the
 * scheme's default port or its configured one: http-01's port for http, tls-alpn-01's (443) for
 * https. The connection always goes to the configured port, as Boulder does, so a redirect cannot
 * aim the validator at some other service of the host.
 * The result is kept on the default port, so one place reached by two spellings is one URL for loop detection.
 * Problem details name the scheme, host or port that was refused, never the rest of the Location.
 */
export function redirectTarget(location: string | undefined, from: URL, settings: DcvSettings): { ok: true; url: URL } | Failure {
  const source = `Redirect from ${from.origin}`;
  if (location === undefined || location === '') return fail('incorrectResponse', `${source} has no Location`);
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    return fail('incorrectResponse', `${source} to an invalid URL`);
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') return fail('incorrectResponse', `${source} to a ${quote(next.protocol, 16)} URL: only http and https are followed`);
  if (next.port !== '' && Number(next.port) !== portFor(next, settings)) return fail('incorrectResponse', `${source} to port ${next.port}: port ${next.port} is neither the default nor the configured port`);
  const host = bare(next.hostname);
  if (isIP(host)) return fail('incorrectResponse', `${source} to the IP address ${host}: redirects are followed to DNS names only`);
  if (!isDnsName(host)) return fail('incorrectResponse', `${source} to a host that is not a DNS name`);
  next.port = '';
  next.hash = '';
  next.username = '';
  next.password = '';
  return { ok: true, url: next };
}

/** One GET of `url` from `address`: the status, and either the Location or at most MAX_BODY_BYTES of body. */
function get(url: URL, address: string, attempt: Attempt): Promise<Answer> {
  const https = url.protocol === 'https:';
  const host = bare(url.hostname);
  const options = {
    host: address,
    port: portFor(url, attempt.settings),
    method: 'GET',
    path: `${url.pathname}${url.search}`,
    // The address was checked by the caller: should node ever want to resolve anything, it gets that
    // address again and nothing else, so the name is never looked up a second time (DNS rebinding).
    lookup: pinnedLookup(address),
    // The resolved address is connected to; the name goes in Host (and SNI), so virtual hosts answer.
    headers: { host: url.hostname, 'user-agent': USER_AGENT, accept: '*/*', connection: 'close' },
    agent: false,
    signal: attempt.signal,
    // An https redirect's certificate is not checked (nor is it by Boulder): the key authorization
    // in the body is the proof, and a site that redirects to https often has no valid certificate yet.
    ...(https ? { rejectUnauthorized: false, ...(isIP(host) ? {} : { servername: host }) } : {}),
  };
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => {
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        res.destroy();
        resolve({ status, location: res.headers.location, tooLarge: false });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          res.destroy();
          resolve({ status, tooLarge: true });
        } else chunks.push(chunk);
      });
      res.on('end', () => resolve({ status, body: Buffer.concat(chunks), tooLarge: false }));
      res.on('error', reject);
      // A connection closed mid-body (after a timeout, or by the server) is a network failure, not an empty answer.
      res.on('close', () => {
        if (!res.complete) reject(Object.assign(new Error('connection closed before the response ended'), { code: 'ECONNRESET' }));
      });
    };
    const req = (https ? httpsRequest : httpRequest)(options, onResponse);
    req.on('error', reject);
    req.end();
  });
}

/**
 * What a fetched file must hold once whitespace is cut (a newline added by an editor or echo is
 * forgiven, as Boulder forgives it), and what it is called in a problem detail.
 */
export interface ExpectedFile {
  /** The URL path, starting with '/'. */
  path: string;
  value: string;
  /** 'key authorization' (ACME), 'validation token' (the domain registry). */
  what: string;
  /** Whitespace forgiven around the value: trailing only (RFC 8555 §8.3), or both ends. */
  trim: 'end' | 'both';
}

/**
 * The verdict on a final answer. Details name the status and the address, never the body: the body
 * may be a page of a server inside the network that a redirect pointed the validator at.
 */
function judge(answer: Answer, expected: ExpectedFile, where: string): Failure | null {
  if (answer.status !== 200) return fail('incorrectResponse', `Invalid response from ${where}: HTTP ${answer.status}`);
  if (answer.tooLarge || !answer.body) return fail('incorrectResponse', `Invalid response from ${where}: HTTP 200 with a body larger than ${MAX_BODY_BYTES} bytes`);
  const text = answer.body.toString('utf8');
  const got = expected.trim === 'both' ? text.trim() : text.trimEnd();
  if (got !== expected.value) return fail('unauthorized', `The ${expected.what} file from ${where} did not match this challenge: HTTP 200 with ${answer.body.length} bytes that are not ${quote(expected.value, 300)}`);
  return null;
}

export function validateHttp01(target: Target, token: string, keyAuthorization: string, attempt: Attempt): Promise<ValidationResult> {
  return fetchExpectedFile(target, { path: `/.well-known/acme-challenge/${token}`, value: keyAuthorization, what: 'key authorization', trim: 'end' }, attempt);
}

/**
 * GET http://<target><path> on the configured port, following redirects by the rules above, and
 * judges the final answer against `expected`. The caller vouches for the path (built from checked
 * parts only).
 */
export async function fetchExpectedFile(target: Target, expected: ExpectedFile, attempt: Attempt): Promise<ValidationResult> {
  const host = target.type === 'ip' && isIP(target.name) === 6 ? `[${target.name}]` : target.name;
  let url = new URL(`http://${host}${expected.path}`);
  const seen = new Set<string>();
  for (let redirects = 0; ; redirects++) {
    seen.add(url.href);
    const place = placeOf(url, redirects, attempt.settings);
    const resolved = await addressesOf(attempt.resolver, bare(url.hostname));
    if (!resolved.ok) return resolved;
    let answer: Answer | undefined;
    let where = place;
    const reached = await firstReachable(resolved.addresses, attempt.addresses, `Fetching ${place}`, async (address) => {
      where = `${place} at ${address}`;
      try {
        answer = await get(url, address, attempt);
        return { ok: true, addressUsed: address };
      } catch (err) {
        return networkFailure(err, `Fetching ${where}`);
      }
    });
    if (!reached.ok || !answer) return reached;
    if (!REDIRECTS.has(answer.status)) return judge(answer, expected, where) ?? reached;
    if (redirects >= MAX_REDIRECTS) return fail('incorrectResponse', `Too many redirects (more than ${MAX_REDIRECTS}) fetching the challenge, the last from ${where}`);
    const next = redirectTarget(answer.location, url, attempt.settings);
    if (!next.ok) return fail(next.problem.type, `${next.problem.detail} (HTTP ${answer.status} from ${where})`);
    if (seen.has(next.url.href)) return fail('incorrectResponse', `Redirect loop: HTTP ${answer.status} from ${where} leads back to a URL fetched before`);
    url = next.url;
  }
}
