// Name resolution for validation. Always node:dns's Resolver (c-ares), never dns.lookup
// (getaddrinfo): c-ares asks the configured DNS server directly, with a timeout of our choosing,
// where getaddrinfo would read /etc/hosts and hold one of libuv's few threads (shared with fs and
// crypto) for as long as the system's resolver likes. "The system resolver" therefore means the
// servers in the system's resolv.conf, read when the first validation runs, asked by c-ares.
import type { CaaRecord } from 'node:dns';
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { AddressPolicy } from './addressPolicy.js';
import { dnsFailure, errorCode, fail, isAbsent } from './problems.js';
import type { DcvSettings, Failure, ValidationResult } from './types.js';

/** The look-ups a validation makes, each bounded by the attempt's deadline. */
export interface DcvResolver {
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  resolveTxt(name: string): Promise<string[][]>;
  resolveCaa(name: string): Promise<CaaRecord[]>;
}

/**
 * One c-ares channel per DNS server and timeout, shared by all validations: a channel per
 * validation would hold its sockets until garbage collection, and a busy queue would run out of
 * file descriptors. Sharing rules out Resolver.cancel() (it would cancel everyone's queries), so an
 * attempt stops waiting at its deadline instead, and the abandoned query ends at c-ares's own timeout.
 */
const channels = new Map<string, Resolver>();
const MAX_CHANNELS = 16;

function channelFor(settings: Pick<DcvSettings, 'dnsServer' | 'timeoutMs'>): Resolver {
  const key = `${settings.dnsServer ?? ''}|${settings.timeoutMs}`;
  let resolver = channels.get(key);
  if (!resolver) {
    // Two tries; c-ares doubles the timeout on the second, so both fit in the validation's budget.
    resolver = new Resolver({ timeout: Math.max(50, Math.floor(settings.timeoutMs / 3)), tries: 2 });
    // setServers takes "127.0.0.1:5353" and "[::1]:5353"; a malformed setting throws here, loudly.
    if (settings.dnsServer) resolver.setServers([settings.dnsServer]);
    // Settings rarely change; a process that keeps changing them (tests) must not keep every channel.
    if (channels.size >= MAX_CHANNELS) channels.clear();
    channels.set(key, resolver);
  }
  return resolver;
}

/** `promise`, or an ABORT_ERR (counted as a timeout) as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  const aborted = (): Error => Object.assign(new Error('validation timed out'), { code: 'ABORT_ERR' });
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The resolver of one validation: the shared channel for its settings, answering within its deadline. */
export function createResolver(settings: Pick<DcvSettings, 'dnsServer' | 'timeoutMs'>, signal: AbortSignal): DcvResolver {
  const channel = channelFor(settings);
  return {
    resolve4: (name) => untilAborted(channel.resolve4(name), signal),
    resolve6: (name) => untilAborted(channel.resolve6(name), signal),
    resolveTxt: (name) => untilAborted(channel.resolveTxt(name), signal),
    resolveCaa: (name) => untilAborted(channel.resolveCaa(name), signal),
  };
}

/**
 * The addresses to try for `host`, in order: the first A, then the first AAAA (RFC 8555 §8.3 leaves
 * the choice to the server; IPv4 first matches most clients' reachability). An IP literal is its own
 * address (RFC 8738). One of a family is enough: retrying every address of a round-robin set would
 * multiply the time a validation of a dead host takes.
 */
export async function addressesOf(resolver: DcvResolver, host: string): Promise<{ ok: true; addresses: string[] } | Failure> {
  if (isIP(host)) return { ok: true, addresses: [host] };
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
  const addresses = [v4, v6].flatMap((r) => (r.status === 'fulfilled' && r.value[0] !== undefined ? [r.value[0]] : []));
  if (addresses.length > 0) return { ok: true, addresses };
  // None: a real error (SERVFAIL, timeout) wins over "absent", since it may clear on a retry.
  if (v4.status === 'rejected' && !isAbsent(v4.reason)) return dnsFailure(v4.reason, 'A', host);
  if (v6.status === 'rejected' && !isAbsent(v6.reason)) return dnsFailure(v6.reason, 'AAAA', host);
  if (v4.status === 'rejected' && errorCode(v4.reason) === 'ENOTFOUND') return dnsFailure(v4.reason, 'A', host);
  return fail('dns', `No valid IP addresses found for ${host}`);
}

/**
 * Runs `attempt` against each address in turn while the previous one could not be reached at all
 * (refused, unreachable, timed out): a host whose IPv4 side is down can still prove control over IPv6.
 * Any answer, right or wrong, ends the search. Every address is put to `policy` first, here, so no
 * challenge type can connect to an address without it; a name with any denied address is refused,
 * final, before any connection (whether the other family got tried would depend on reachability).
 */
export async function firstReachable(addresses: string[], policy: AddressPolicy, what: string, attempt: (address: string) => Promise<ValidationResult>): Promise<ValidationResult> {
  for (const address of addresses) {
    const refusal = policy.refusal(address);
    if (refusal) return fail('connection', `${what}: not connecting: ${refusal}`);
  }
  let result: ValidationResult = fail('dns', 'no address to connect to');
  for (const address of addresses) {
    result = await attempt(address);
    if (result.ok || result.problem.type !== 'connection' || !result.retryable) return result;
  }
  return result;
}
