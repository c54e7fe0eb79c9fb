import { isIP } from 'node:net';
import type { ExtendedKeyUsage, KeyUsage, ProductTemplate } from '../core/types.js';
import type { SubjectAltNameSet } from '../pki/certificate.js';
import type { ParsedCsr } from '../pki/csr.js';

export interface IssuanceProfile {
  subjectDer: Buffer;
  spkiDer: Buffer;
  commonName: string | null;
  san: SubjectAltNameSet;
  validityDays: number;
  keyUsage: KeyUsage[];
  extendedKeyUsage: ExtendedKeyUsage[];
}

export type PolicyDecision = { ok: true; profile: IssuanceProfile } | { ok: false; rule: string; reason: string };

const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export function isDnsName(name: string): boolean {
  if (name.length > 253) return false;
  const labels = (name.startsWith('*.') ? name.slice(2) : name).split('.');
  return labels.length >= 1 && labels.every((l) => DNS_LABEL.test(l) || /^xn--[a-z0-9-]{1,59}$/.test(l));
}

function matchesSuffix(name: string, suffixes: readonly string[]): boolean {
  const base = name.startsWith('*.') ? name.slice(2) : name;
  return suffixes.some((s) => base === s || base.endsWith(`.${s}`));
}

const reject = (rule: string, reason: string): PolicyDecision => ({ ok: false, rule, reason });

/**
 * Decides what to sign for a CSR under a product template, or why not. The reason names the
 * template rule so a caller can fix the request without reading our source.
 */
export function applyTemplate(template: ProductTemplate, csr: ParsedCsr, requestedValidityDays: number | null): PolicyDecision {
  if (!(template.keyAlgorithms as string[]).includes(csr.keyAlgorithm)) {
    return reject('keyAlgorithms', `key algorithm ${csr.keyAlgorithm} is not allowed by this product (allowed: ${template.keyAlgorithms.join(', ')})`);
  }
  const validityDays = requestedValidityDays ?? template.defaultValidityDays;
  if (!Number.isInteger(validityDays) || validityDays < 1) return reject('validity', 'validity must be a whole number of days, at least 1');
  if (validityDays > template.maxValidityDays) {
    return reject('maxValidityDays', `requested validity ${validityDays} days exceeds this product's maximum of ${template.maxValidityDays} days`);
  }
  if (csr.san.unsupported.length) {
    return reject('subjectAltName', 'the CSR requests a subjectAltName type this product does not issue (only DNS, IP, email and URI)');
  }

  const dns = csr.san.dns.map((d) => d.toLowerCase());
  const ip = [...csr.san.ip];
  const cn = csr.subject.commonName;
  // A host name or address in the CN must also appear in the SAN, where relying parties look.
  if (cn) {
    const lower = cn.toLowerCase();
    if (isIP(cn)) {
      if (!ip.includes(cn)) ip.push(cn);
    } else if (lower.includes('.') && isDnsName(lower) && !dns.includes(lower)) {
      dns.push(lower);
    }
  }
  const san: SubjectAltNameSet = { dns: [...new Set(dns)], ip: [...new Set(ip)], email: csr.san.email, uri: csr.san.uri };

  for (const name of san.dns) {
    if (!isDnsName(name)) return reject('dnsNames', `"${name}" is not a valid DNS name`);
    if (name.startsWith('*.') && !template.allowWildcards) return reject('allowWildcards', `wildcard name "${name}" is not allowed by this product`);
    if (name.includes('*') && !name.startsWith('*.')) return reject('allowWildcards', `"${name}": a wildcard may only be the whole leftmost label`);
    if (template.allowedDnsSuffixes.length && !matchesSuffix(name, template.allowedDnsSuffixes)) {
      return reject('allowedDnsSuffixes', `"${name}" is outside this product's allowed DNS suffixes (${template.allowedDnsSuffixes.join(', ')})`);
    }
  }
  if (san.ip.length && !template.allowIpSans) return reject('allowIpSans', `IP address SANs (${san.ip.join(', ')}) are not allowed by this product`);
  if (san.email.length && !template.allowEmailSans) return reject('allowEmailSans', 'email SANs are not allowed by this product');
  if (san.uri.length && !template.allowUriSans) return reject('allowUriSans', 'URI SANs are not allowed by this product');
  if (!cn && san.dns.length + san.ip.length + san.email.length + san.uri.length === 0) {
    return reject('subject', 'the CSR names nobody: it has neither a common name nor a subjectAltName');
  }

  const keyUsage: KeyUsage[] = csr.keyAlgorithm.startsWith('rsa') ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'];
  return {
    ok: true,
    profile: {
      subjectDer: csr.subjectDer,
      spkiDer: csr.spkiDer,
      commonName: cn,
      san,
      validityDays,
      keyUsage,
      extendedKeyUsage: template.extendedKeyUsages,
    },
  };
}
