// Enrollment requests: what a front-end submits and the worker decides, claims and signs.
import type { CustomFieldValues } from './products.js';

/** See requestStatus.ts for the transitions between them. */
export type RequestStatus = 'queued' | 'pending_approval' | 'pending_dcv' | 'signing' | 'issued' | 'rejected' | 'failed';

/**
 * Which door a request came through: a registered protocol module's name, or `cli`. Always set
 * by code (each front-end names itself), never by a caller; see isProtocolName.
 */
export type Protocol = string;

/** A protocol module's name as the audit trail and the requests carry it: lower-case letters, digits and dashes. */
export const isProtocolName = (name: string): boolean => /^[a-z][a-z0-9-]{0,31}$/.test(name);

/**
 * What a front-end's authentication established beyond the product: limits on what may be signed
 * for this caller. Stored on the request; the worker enforces every one of them.
 */
export type Constraint =
  /** The certificate's names must be exactly these (ACME: the order's identifiers). */
  | { kind: 'exactNames'; names: string[] }
  /** Every name must be one of these (EST re-enroll: the old certificate's names; SCEP challenge binding). */
  | { kind: 'namesWithin'; names: string[] }
  /** The CSR's key must have this SPKI SHA-256 (hex). */
  | { kind: 'keyFingerprint'; sha256: string }
  /** Never longer than this, whatever the product allows. */
  | { kind: 'maxValidityDays'; days: number };

/**
 * A structured refusal that every protocol renders in its own form. `code` is the kind of problem
 * (ACME maps badCsr → badCSR, rejectedIdentifier → rejectedIdentifier, ...), `rule` the product or
 * house rule that refused, `detail` a sentence for a person.
 */
export interface Rejection {
  code: 'badCsr' | 'badKey' | 'rejectedIdentifier' | 'policy' | 'unauthorized';
  rule: string;
  detail: string;
  /** One entry per refused identifier, where the refusal is about names. */
  sub?: { identifier: string; detail: string }[];
}

export type KeySource = 'csr' | 'managed';

/** What a request carries besides its CSR (REST sets it; other protocols take the defaults). */
export interface RequestDetails {
  /** `managed`: certgate generated the key pair (REST managed mode) and the CSR. */
  keySource: KeySource;
  /** The generated private key, encrypted under the master key, when the product escrows keys. */
  escrowedKey: string | null;
  customFields: CustomFieldValues;
  owner: string | null;
  notes: string | null;
  /** The certificate this request renews, rekeys or replaces. */
  supersedes: string | null;
}

export const DEFAULT_REQUEST_DETAILS: Readonly<RequestDetails> = Object.freeze({
  keySource: 'csr',
  escrowedKey: null,
  customFields: {},
  owner: null,
  notes: null,
  supersedes: null,
});

export interface EnrollmentRequest {
  id: string;
  productId: string;
  caId: string;
  /** Who asked: `apikey:<id>`, `acme:<account>`, `cli`, ... */
  requester: string;
  /** The credential it came with (REST's API key, ACME's EAB, EST's Basic user, SCEP's challenge); null for none. */
  credentialId: string | null;
  protocol: Protocol;
  csrPem: string;
  validityDays: number | null;
  idempotencyKey: string | null;
  /** The protocol's own id for this request (SCEP transactionID, ...), unique per requester. */
  transactionId: string | null;
  /** Limits from the caller's grant; the worker enforces them on top of the product. */
  constraints: Constraint[];
  /** SHA-256 (hex) over everything that decides the certificate: a replay must match it. */
  fingerprint: string;
  details: RequestDetails;
  status: RequestStatus;
  statusReason: string | null;
  /** Set when status is `rejected`. */
  rejection: Rejection | null;
  certificateId: string | null;
  /** Who approved it, for products that need approval; null until then. */
  approvedBy: string | null;
  /** Allocated by the first claim, kept by every later one: a request has one serial. Hex. */
  serialNumber: string | null;
  /** While `signing`: until when the claiming worker owns it. */
  leaseExpiresAt: Date | null;
  /** How many times a worker claimed it. */
  attempts: number;
  createdAt: Date;
  updatedAt: Date;
}

/** What the request list may be narrowed to, as an operator's approval queue asks for it. */
export interface RequestFilter {
  /** Requests for these CAs only (none when empty); every CA when absent. */
  caIds?: string[];
  /** With caIds: requests this requester sent are listed too, whatever their CA (a caller sees its own). */
  orRequester?: string;
  status?: RequestStatus;
  productId?: string;
  /** Requests of these products only (a credential's product binding). */
  productIds?: string[];
  /** Requests this requester sent, only (a credential scoped to its own). */
  requester?: string;
}
