// Domains and organizations a requester has proved: the registry that domain control validation
// (every protocol) and organization validation (subject O) read from.
import type { DcvPolicy } from './products.js';

/** How control of a domain was (or is to be) proved. */
export const DCV_METHODS = ['http-01', 'dns-01'] as const;
export type DcvMethod = (typeof DCV_METHODS)[number];

/** The label every dns-01 check looks under (`<label>.<domain>`), besides a product's own dcv.dnsLabel. */
export const DEFAULT_DNS_LABEL = '_certgate-challenge';

/**
 * `pending`: never validated (or a validation asked for is still to run); `validating`: a check is
 * on the queue; `valid`: proved at validatedAt; `failed`: the last check failed (lastError says why).
 * A valid domain whose validation is too old for a product is still `valid`: each product's reuse
 * window decides whether it covers a request, and expiresAt bounds them all.
 */
export const DOMAIN_STATUSES = ['pending', 'validating', 'valid', 'failed'] as const;
export type DomainStatus = (typeof DOMAIN_STATUSES)[number];

/** How long after its validation a record covers a product's requests: its dcv.reuseDays, capped by the deployment's maximum. */
export function reuseWindowMs(policy: Pick<DcvPolicy, 'reuseDays'>, maxReuseDays: number): number {
  return Math.min(policy.reuseDays, maxReuseDays) * 86_400_000;
}

/**
 * Who a domain or organization record belongs to, as one string:
 *   `user:<name>` / `group:<name>`  a credential's ownerUser / ownerGroup (and every credential sharing it)
 *   `credential:<id>`              one credential with no owner
 *   `requester:<principal>`        a requester with no credential (an ACME account without EAB, an EST client certificate)
 *   `*`                            the whole deployment (made by an admin or the CLI)
 * A requester is covered by records whose holder is one of holdersOf(...) (see domainRegistry.ts).
 */
export type Holder = string;
/** A holder as a person writes one (a REST body, a CLI option): one of the forms above. */
export const HOLDER_PATTERN = /^(\*|(user|group|credential|requester):.+)$/;
export const EVERYONE: Holder = '*';

export interface DomainRecord {
  id: string;
  /** A DNS name, lower-case, without a trailing dot (no wildcard: `*.x` is covered by x over dns-01). */
  name: string;
  holder: Holder;
  /** Random, base64url: the http-01 file name and content, and the dns-01 TXT value. */
  token: string;
  status: DomainStatus;
  /** The method of the last validation (or the one asked for); null until one is asked for. */
  method: DcvMethod | null;
  validatedAt: Date | null;
  /** validatedAt + the deployment's dcvMaxReuseDays: no product reuses it after this. */
  expiresAt: Date | null;
  /** Why the last check failed, for a person. */
  lastError: string | null;
  /** Where it came from: `registry` (REST/CLI), `request` (made for a request waiting on DCV), `acme` (an ACME authorization). */
  source: 'registry' | 'request' | 'acme';
  /** Who made it (`apikey:<id>`, `cli`, `acme:<account>`, ...). */
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}

export const ORGANIZATION_STATUSES = ['pending', 'approved', 'declined'] as const;
export type OrganizationStatus = (typeof ORGANIZATION_STATUSES)[number];

/** The subject attributes a product's policy may draw from a validated organization. */
export interface OrganizationRecord {
  id: string;
  holder: Holder;
  /** O */
  name: string;
  /** OU, C (two letters), ST, L: null where the record has none. */
  unit: string | null;
  country: string | null;
  state: string | null;
  locality: string | null;
  status: OrganizationStatus;
  createdBy: string;
  /** Four eyes: never createdBy. */
  decidedBy: string | null;
  decidedAt: Date | null;
  /** decidedAt + the deployment's organizationValidityDays, once approved. */
  expiresAt: Date | null;
  /** Why it was declined. */
  reason: string | null;
  createdAt: Date;
  updatedAt: Date;
}

type CredentialOwner = { id: string; ownerUser: string | null; ownerGroup: string | null };

/** The holders a credential acts as: its own, its owner user's and group's, and the deployment's. */
export function credentialHolders(c: CredentialOwner): Holder[] {
  return [EVERYONE, `credential:${c.id}`, ...(c.ownerUser ? [`user:${c.ownerUser}`] : []), ...(c.ownerGroup ? [`group:${c.ownerGroup}`] : [])];
}

/** The holder a record a credential makes gets: shared with its group where it has one, else its user, else itself. */
export function holderOfCredential(c: CredentialOwner): Holder {
  if (c.ownerGroup) return `group:${c.ownerGroup}`;
  if (c.ownerUser) return `user:${c.ownerUser}`;
  return `credential:${c.id}`;
}
