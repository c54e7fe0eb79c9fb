// The one set of rules every requested name passes, wherever it came from (CN, SAN, an ACME
// order, an EST re-enroll): called at submit/new-order as a precheck and again by the worker,
// whose answer is the one that counts.
import { isIP } from 'node:net';
import type { ProductTemplate } from '../core/types.js';
import { EMAIL, isDnsName } from '../pki/names.js';

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

function matchesSuffix(name: string, suffixes: readonly string[]): boolean {
  const base = name.startsWith('*.') ? name.slice(2) : name;
  return suffixes.some((s) => base === s || base.endsWith(`.${s}`));
}

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
