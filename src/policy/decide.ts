// What the CA signs for a request, decided from the product and the caller's grant. The CSR only
// proposes: a key (checked as goodkey does), names (each through the product's rules), a subject
// (rebuilt by the product) and a validity (capped by the product and the grant).
import { createHash } from 'node:crypto';
import type { Constraint, ExtendedKeyUsage, KeyAlgorithm, KeyUsage, ProductTemplate, Rejection } from '../core/types.js';
import type { SubjectAltNameSet } from '../pki/certificate.js';
import type { ParsedCsr } from '../pki/csr.js';
import { canonicalIp, classifyName, comparableName, comparableNames } from '../pki/names.js';
import { OID } from '../pki/oids.js';
import { checkKey } from './goodKey.js';
import { refuseNames, type NameRefusal, type RequestedNames } from './names.js';
import { buildSubject, MAX_COMMON_NAME, type ValidatedOrganization } from './subject.js';

export interface IssuanceProfile {
  subjectDer: Buffer;
  spkiDer: Buffer;
  keyAlgorithm: KeyAlgorithm;
  commonName: string | null;
  san: SubjectAltNameSet;
  validityDays: number;
  keyUsage: KeyUsage[];
  extendedKeyUsage: ExtendedKeyUsage[];
}

export type Decision = { ok: true; profile: IssuanceProfile } | { ok: false; rejection: Rejection };

export interface DecisionInput {
  template: ProductTemplate;
  csr: ParsedCsr;
  validityDays: number | null;
  constraints: readonly Constraint[];
  /** Under subject.organization 'validated': the O asked for and the requester's record of it. */
  organization?: ValidatedOrganization;
}

const refuse = (code: Rejection['code'], rule: string, detail: string): Decision => ({ ok: false, rejection: { code, rule, detail } });

function namesRejection(refusals: NameRefusal[]): Rejection {
  const first = refusals[0] as NameRefusal;
  return {
    code: 'rejectedIdentifier',
    rule: first.rule,
    detail: refusals.length === 1 ? first.detail : `${refusals.length} names refused: ${refusals.map((r) => r.detail).join('; ')}`,
    sub: refusals.map((r) => ({ identifier: r.identifier, detail: r.detail })),
  };
}

const unique = (xs: string[]): string[] => [...new Set(xs)];

/**
 * The names a request asks for, CN first (the requester's preferred name), then the SAN. A CN that
 * is not a host name, an IP address or an email address is refused, never carried over.
 */
function requestedNames(csr: ParsedCsr): { names: RequestedNames; refusals: NameRefusal[] } {
  const names: RequestedNames = { dns: [], ip: [], email: [], uri: [] };
  const refusals: NameRefusal[] = [];
  for (const a of csr.subject.attributes) {
    if (a.type !== OID.commonName) continue;
    const c = classifyName(a.value);
    if (!c) refusals.push({ identifier: a.value, rule: 'commonName', detail: `the CN "${a.value}" is not a DNS name, IP address or email address this CA can vouch for` });
    else names[c.kind].push(c.kind === 'ip' ? canonicalIp(c.name) : c.name);
  }
  names.dns.push(...csr.san.dns.map((d) => d.toLowerCase()));
  names.ip.push(...csr.san.ip.map(canonicalIp));
  names.email.push(...csr.san.email);
  names.uri.push(...csr.san.uri);
  return { names: { dns: unique(names.dns), ip: unique(names.ip), email: unique(names.email), uri: unique(names.uri) }, refusals };
}

function constraintRefusal(c: Constraint, names: RequestedNames, spkiDer: Buffer): Rejection | null {
  const asked = comparableNames(names);
  switch (c.kind) {
    case 'exactNames': {
      const want = new Set(c.names.map(comparableName));
      const extra = asked.filter((n) => !want.has(n));
      const missing = [...want].filter((n) => !asked.includes(n));
      if (!extra.length && !missing.length) return null;
      return {
        code: 'rejectedIdentifier',
        rule: 'exactNames',
        detail: `the CSR's names must be exactly ${[...want].join(', ')}${extra.length ? `; not authorized: ${extra.join(', ')}` : ''}${missing.length ? `; missing: ${missing.join(', ')}` : ''}`,
        sub: extra.map((identifier) => ({ identifier, detail: 'not authorized for this request' })),
      };
    }
    case 'namesWithin': {
      const allowed = new Set(c.names.map(comparableName));
      const extra = asked.filter((n) => !allowed.has(n));
      if (!extra.length) return null;
      return {
        code: 'rejectedIdentifier',
        rule: 'namesWithin',
        detail: `not authorized for ${extra.join(', ')} (this credential may ask for ${[...allowed].join(', ')})`,
        sub: extra.map((identifier) => ({ identifier, detail: 'not authorized for this credential' })),
      };
    }
    case 'keyFingerprint':
      return createHash('sha256').update(spkiDer).digest('hex') === c.sha256.toLowerCase()
        ? null
        : { code: 'badKey', rule: 'keyFingerprint', detail: 'the CSR must carry the key this credential is bound to' };
    case 'maxValidityDays':
      return null; // applied to the validity below
  }
}

export function decideIssuance({ template, csr, validityDays: requested, constraints, organization }: DecisionInput): Decision {
  const key = checkKey(csr.spkiDer, { keyAlgorithms: template.keyAlgorithms });
  if (!key.ok) return refuse('badKey', key.rule, key.detail);

  let maxDays = template.maxValidityDays;
  for (const c of constraints) if (c.kind === 'maxValidityDays') maxDays = Math.min(maxDays, c.days);
  const validityDays = requested ?? Math.min(template.defaultValidityDays, maxDays);
  if (!Number.isInteger(validityDays) || validityDays < 1) return refuse('policy', 'validity', 'validity must be a whole number of days, at least 1');
  if (validityDays > maxDays) {
    const rule = maxDays < template.maxValidityDays ? 'maxValidityDays (grant)' : 'maxValidityDays';
    return refuse('policy', rule, `requested validity ${validityDays} days exceeds the maximum of ${maxDays} days`);
  }

  if (csr.san.unsupported.length) {
    return refuse('rejectedIdentifier', 'subjectAltName', 'the CSR requests a subjectAltName type this product does not issue (only DNS, IP, email and URI)');
  }
  const { names, refusals } = requestedNames(csr);
  refusals.push(...refuseNames(names, template));
  if (refusals.length) return { ok: false, rejection: namesRejection(refusals) };
  const all = [...names.dns, ...names.ip, ...names.email, ...names.uri];
  if (!all.length) return refuse('rejectedIdentifier', 'subject', 'the CSR names nobody: it has neither a usable common name nor a subjectAltName');
  for (const c of constraints) {
    const r = constraintRefusal(c, names, csr.spkiDer);
    if (r) return { ok: false, rejection: r };
  }

  // CN: the first name (CN-first order) that fits the CN's length limit; none leaves the subject
  // empty and the SAN critical.
  const commonName = [...names.dns, ...names.ip, ...names.email].find((n) => n.length <= MAX_COMMON_NAME) ?? null;
  const subject = buildSubject(template.subject, csr.subject.attributes, commonName, organization);
  if (!subject.ok) return refuse('policy', subject.rule, subject.detail);

  return {
    ok: true,
    profile: {
      subjectDer: subject.subjectDer,
      spkiDer: csr.spkiDer,
      keyAlgorithm: key.keyAlgorithm,
      commonName,
      san: names,
      validityDays,
      keyUsage: key.keyAlgorithm.startsWith('rsa') ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'],
      // Belt and braces for templates stored before the schema refused it.
      extendedKeyUsage: template.extendedKeyUsages.filter((u) => u !== 'ocspSigning'),
    },
  };
}

/** The name rules alone, for a front-end to refuse early (ACME new-order); the worker decides again. */
export function precheckNames(template: ProductTemplate, identifiers: readonly string[]): Rejection | null {
  const names: RequestedNames = { dns: [], ip: [], email: [], uri: [] };
  const refusals: NameRefusal[] = [];
  for (const id of identifiers) {
    const c = classifyName(id);
    if (!c) refusals.push({ identifier: id, rule: 'dnsNames', detail: `"${id}" is not a DNS name, IP address or email address this CA can vouch for` });
    else names[c.kind].push(c.name);
  }
  refusals.push(...refuseNames(names, template));
  return refusals.length ? namesRejection(refusals) : null;
}
