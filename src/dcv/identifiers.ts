// What is being validated, checked and put in canonical form before any of it reaches a URL, a DNS
// query or an SNI field: the identifier comes from an ACME client, so it is untrusted input.
import { isIP } from 'node:net';
import { bytesToIp, ipToBytes } from '../pki/ip.js';
import { fail, quote } from './problems.js';
import type { Failure, Identifier } from './types.js';

export interface Target {
  type: 'dns' | 'ip';
  /** Lower-case DNS name without any "*." label, or the IP address in canonical text. */
  name: string;
  /** Canonical bytes of an IP identifier; absent for DNS names. */
  ipBytes?: Buffer;
  wildcard: boolean;
}

// Letters, digits and hyphens, not at either end (RFC 1123 §2.1); A-labels (xn--) pass as they are.
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function isDnsName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name.split('.').every((label) => LABEL.test(label));
}

/** True when WHATWG's URL parser takes `name` for an IPv4 address (a last label that is a number). */
function readAsAddress(name: string): boolean {
  try {
    return isIP(new URL(`http://${name}/`).hostname) !== 0;
  } catch {
    // Labels ending in a number that is not a valid IPv4 part ("1.2.3.4.5"): not a usable name either.
    return true;
  }
}

export function parseIdentifier(identifier: Identifier): Target | Failure {
  if (identifier.type === 'ip') {
    const bytes = ipToBytes(identifier.value);
    if (!bytes) return fail('malformed', `${quote(identifier.value)} is not an IP address`);
    return { type: 'ip', name: bytesToIp(bytes), ipBytes: bytes, wildcard: false };
  }
  const value = identifier.value.toLowerCase();
  const wildcard = value.startsWith('*.');
  const name = wildcard ? value.slice(2) : value;
  if (!isDnsName(name)) return fail('malformed', `${quote(identifier.value)} is not a DNS name`);
  // "2130706433" or "127.0.0.1" pass the label rules, but a URL or a resolver reads them as an
  // address: such a "name" would send the validator to an address without DNS, so it is none.
  if (readAsAddress(name)) return fail('rejectedIdentifier', `${quote(identifier.value)} is an IP address in disguise, not a DNS name`);
  return { type: 'dns', name, wildcard };
}

/** The name an IP address is asked for by in reverse DNS, and sent as SNI by tls-alpn-01 (RFC 8738 §6). */
export function reverseName(ipBytes: Buffer): string {
  if (ipBytes.length === 4) return `${[...ipBytes].reverse().join('.')}.in-addr.arpa`;
  const nibbles = [...ipBytes].flatMap((b) => [b >> 4, b & 15]).reverse();
  return `${nibbles.map((n) => n.toString(16)).join('.')}.ip6.arpa`;
}
