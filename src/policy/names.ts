// The one set of rules every requested name passes, wherever it came from (CN, SAN, an ACME
// order, an EST re-enroll): called at submit/new-order as a precheck and again by the worker,
// whose answer is the one that counts.
import { isIP } from 'node:net';
import type { ProductTemplate } from '../core/types.js';

export interface RequestedNames {
  dns: string[];
  ip: string[];
  email: string[];
  uri: string[];
}

export interface NameRefusal {
  identifier: string;
  rule: string;
  detail: string;
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

function matchesSuffix(name: string, suffixes: readonly string[]): boolean {
  const base = name.startsWith('*.') ? name.slice(2) : name;
  return suffixes.some((s) => base === s || base.endsWith(`.${s}`));
}

const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;

function dnsRefusal(name: string, t: ProductTemplate): NameRefusal | null {
  const refuse = (rule: string, detail: string): NameRefusal => ({ identifier: name, rule, detail });
  if (name.includes('*') && !name.startsWith('*.')) return refuse('dnsNames', `"${name}": a wildcard may only be the whole leftmost label`);
  if (!isDnsName(name)) return refuse('dnsNames', `"${name}" is not a fully qualified DNS name (letters, digits and hyphens, two labels or more, no trailing dot)`);
  if (name.startsWith('*.') && !t.allowWildcards) return refuse('allowWildcards', `wildcard name "${name}" is not allowed by this product`);
  if (t.allowedDnsSuffixes.length && !matchesSuffix(name, t.allowedDnsSuffixes)) {
    return refuse('allowedDnsSuffixes', `"${name}" is outside this product's allowed DNS suffixes (${t.allowedDnsSuffixes.join(', ')})`);
  }
  return null;
}

/** Every refusal, one per identifier, so a client can fix all of them at once. */
export function refuseNames(names: RequestedNames, t: ProductTemplate): NameRefusal[] {
  const out: NameRefusal[] = [];
  for (const d of names.dns) {
    const r = dnsRefusal(d, t);
    if (r) out.push(r);
  }
  for (const ip of names.ip) {
    if (!isIP(ip)) out.push({ identifier: ip, rule: 'ipAddresses', detail: `"${ip}" is not an IP address` });
    else if (!t.allowIpSans) out.push({ identifier: ip, rule: 'allowIpSans', detail: `IP address ${ip} is not allowed by this product` });
  }
  for (const e of names.email) {
    if (!t.allowEmailSans) out.push({ identifier: e, rule: 'allowEmailSans', detail: 'email names are not allowed by this product' });
    else if (!EMAIL.test(e)) out.push({ identifier: e, rule: 'emailAddresses', detail: `"${e}" is not an email address` });
  }
  for (const u of names.uri) {
    if (!t.allowUriSans) out.push({ identifier: u, rule: 'allowUriSans', detail: 'URI names are not allowed by this product' });
    else if (!URL.canParse(u)) out.push({ identifier: u, rule: 'uris', detail: `"${u}" is not a URI` });
  }
  return out;
}

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
