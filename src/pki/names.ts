// What a name is (a host name, an IP address, an email address) and the one form names are compared
// in, so that every comparison of a request's names with a certificate's (EST's TLS logins and
// re-enrollment, REST's renewals, SCEP's challenges bound to a subject, the worker's exactNames and
// namesWithin) reads them alike: a CN counts only when it is a host name, an IP address or an
// email address (the worker refuses any other CN); DNS names and email addresses compare without
// case; an IP address compares in one text form, whichever of its spellings it came in.
import { isIP } from 'node:net';
import type { ParsedCsr } from './csr.js';
import { bytesToIp, ipToBytes } from './ip.js';
import { OID } from './oids.js';

export interface NameSet {
  dns: readonly string[];
  ip: readonly string[];
  email: readonly string[];
  uri: readonly string[];
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const MAX_DNS_NAME = 253;

/**
 * A host name a publicly trusted or private CA may vouch for: lower case LDH labels (punycode
 * allowed), at least two of them (a single label such as `intranet` or `localhost` names a
 * different host on every network), no trailing dot, a top label that is not all digits (that
 * would be an IPv4 address in disguise), and an optional leading `*.` wildcard.
 */
export function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_DNS_NAME) return false;
  const labels = (name.startsWith('*.') ? name.slice(2) : name).split('.');
  if (labels.length < 2) return false;
  if (/^\d+$/.test(labels[labels.length - 1] as string)) return false;
  return labels.every((l) => LABEL.test(l));
}

export const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

/**
 * Sorts a free-text name (a CN, an identifier from a protocol) into the kind it is, or null when it
 * is none of them: such a name is refused, never copied into a certificate.
 */
export function classifyName(value: string): { kind: 'dns' | 'ip' | 'email'; name: string } | null {
  if (isIP(value)) return { kind: 'ip', name: value };
  if (value.includes('@')) return EMAIL.test(value) ? { kind: 'email', name: value } : null;
  const lower = value.toLowerCase();
  return isDnsName(lower) ? { kind: 'dns', name: lower } : null;
}

/** An IP address in its canonical text (RFC 5952 for IPv6); text that is no IP address, unchanged. */
export function canonicalIp(ip: string): string {
  const bytes = ipToBytes(ip);
  return bytes ? bytesToIp(bytes) : ip;
}

const lower = (name: string): string => name.toLowerCase();

/** One free-text name (a constraint's, a challenge's subject) in the form names are compared in. */
export function comparableName(name: string): string {
  const c = classifyName(name);
  if (!c) return name;
  return c.kind === 'ip' ? canonicalIp(c.name) : lower(c.name);
}

/** Every name of a SAN and its CNs, in the form names are compared in, each once, CNs first. */
export function comparableNames(san: NameSet, commonNames: readonly (string | null)[] = []): string[] {
  const cns = commonNames.filter((cn): cn is string => cn !== null && classifyName(cn) !== null).map(comparableName);
  return [...new Set([...cns, ...san.dns.map(lower), ...san.ip.map(canonicalIp), ...san.email.map(lower), ...san.uri])];
}

/** The names a CSR asks for (every CN attribute, then the SAN), as the worker reads them. */
export function namesOfCsr(csr: ParsedCsr): string[] {
  return comparableNames(
    csr.san,
    csr.subject.attributes.filter((a) => a.type === OID.commonName).map((a) => a.value),
  );
}

/** The names a certificate carries, from its record or a parsed certificate's fields. */
export function namesOfCertificate(cert: { commonName: string | null; sanDns: readonly string[]; sanIp: readonly string[]; sanEmail: readonly string[]; sanUri: readonly string[] }): string[] {
  return comparableNames({ dns: cert.sanDns, ip: cert.sanIp, email: cert.sanEmail, uri: cert.sanUri }, [cert.commonName]);
}
