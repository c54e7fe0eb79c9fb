// Builds a certificate's subject from the product, never by copying the CSR's: CN is the name the
// product chose, other attributes only where the product lists them.
import { SUBJECT_ATTRIBUTE_NAMES, type OrganizationRecord, type SubjectAttributeName, type SubjectPolicy } from '../core/types.js';
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
 * What a product with subject.organization 'validated' decides the subject's O, OU, C, ST and L
 * from: the O the CSR asks for, and the attributes of the requester's approved, unexpired record
 * named so (null: it has none). The worker looks the record up; the decision stays pure.
 */
export interface ValidatedOrganization {
  asked: string | null;
  record: Partial<Record<SubjectAttributeName, string>> | null;
}

/** The O a CSR asks for (its first), which names the organization record to look for. */
export function requestedOrganization(requested: readonly NameAttribute[]): string | null {
  return requested.find((a) => a.type === OID.organizationName)?.value ?? null;
}

/** A record's attributes by subject attribute name (those it has). */
export function organizationAttributes(o: Pick<OrganizationRecord, 'name' | 'unit' | 'country' | 'state' | 'locality'>): Partial<Record<SubjectAttributeName, string>> {
  const all: Record<SubjectAttributeName, string | null> = { O: o.name, OU: o.unit, C: o.country, ST: o.state, L: o.locality };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== null)) as Partial<Record<SubjectAttributeName, string>>;
}

/**
 * `requested`: the CSR's subject attributes other than CN. `commonName`: the product's choice, or
 * null for an empty subject (the SAN then carries the identity, marked critical). `organization`:
 * under organization 'validated', the record found for the CSR's O; its attributes replace the
 * CSR's (which are not even checked), a product's fixed value filling what the record lacks.
 */
export function buildSubject(policy: SubjectPolicy, requested: readonly NameAttribute[], commonName: string | null, organization?: ValidatedOrganization): SubjectDecision {
  const validated = policy.organization === 'validated';
  if (validated) {
    if (!organization?.asked) return { ok: false, rule: 'organization', detail: 'this product issues only a validated organization: the CSR must name it as O' };
    if (!organization.record) return { ok: false, rule: 'organization', detail: `O="${organization.asked}" is not a validated organization of this requester` };
  }
  const asked = new Map<SubjectAttributeName, string>();
  for (const a of requested) {
    if (a.type === OID.commonName) continue;
    const name = NAME_OF_OID[a.type];
    if (validated && name) continue;
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
    const fixed = rule && 'fixed' in rule ? rule.fixed : undefined;
    const value = validated ? (organization?.record?.[name] ?? fixed) : (fixed ?? asked.get(name));
    if (value !== undefined) attributes.push({ type: ATTRIBUTE_OID[name], value });
  }
  if (commonName !== null) attributes.push({ type: OID.commonName, value: commonName });
  return { ok: true, subjectDer: encodeName(attributes) };
}
