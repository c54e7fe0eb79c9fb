// Builds a certificate's subject from the product, never by copying the CSR's: CN is the name the
// product chose, other attributes only where the product lists them.
import { SUBJECT_ATTRIBUTE_NAMES, type SubjectAttributeName, type SubjectPolicy } from '../core/types.js';
import { encodeName, type NameAttribute } from '../pki/name.js';
import { OID } from '../pki/oids.js';

const ATTRIBUTE_OID: Record<SubjectAttributeName, string> = {
  C: OID.countryName,
  ST: OID.stateOrProvinceName,
  L: OID.localityName,
  O: OID.organizationName,
  OU: OID.organizationalUnitName,
};
const NAME_OF_OID: Record<string, SubjectAttributeName> = Object.fromEntries(Object.entries(ATTRIBUTE_OID).map(([k, v]) => [v, k as SubjectAttributeName]));

/** RFC 5280 upper bound for a CN (ub-common-name). A longer name lives in the SAN only. */
export const MAX_COMMON_NAME = 64;

export type SubjectDecision = { ok: true; subjectDer: Buffer } | { ok: false; rule: string; detail: string };

/**
 * `requested`: the CSR's subject attributes other than CN. `commonName`: the product's choice, or
 * null for an empty subject (the SAN then carries the identity, marked critical).
 */
export function buildSubject(policy: SubjectPolicy, requested: readonly NameAttribute[], commonName: string | null): SubjectDecision {
  const asked = new Map<SubjectAttributeName, string>();
  for (const a of requested) {
    if (a.type === OID.commonName) continue;
    const name = NAME_OF_OID[a.type];
    const rule = name ? policy.attributes[name] : undefined;
    if (!name || !rule) {
      if (policy.unlisted === 'refuse') return { ok: false, rule: 'subjectAttributes', detail: `this product does not issue the subject attribute ${name ?? a.type}` };
      continue;
    }
    if (asked.has(name)) return { ok: false, rule: 'subjectAttributes', detail: `the CSR asks for ${name} more than once` };
    if ('allowed' in rule && !rule.allowed.includes(a.value)) {
      return { ok: false, rule: 'subjectAttributes', detail: `${name}="${a.value}" is not one of the values this product allows (${rule.allowed.join(', ')})` };
    }
    asked.set(name, a.value);
  }
  const attributes: NameAttribute[] = [];
  for (const name of SUBJECT_ATTRIBUTE_NAMES) {
    const rule = policy.attributes[name];
    const value = rule && 'fixed' in rule ? rule.fixed : asked.get(name);
    if (value !== undefined) attributes.push({ type: ATTRIBUTE_OID[name], value });
  }
  if (commonName !== null) attributes.push({ type: OID.commonName, value: commonName });
  return { ok: true, subjectDer: encodeName(attributes) };
}
