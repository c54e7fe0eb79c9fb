// Issued and imported certificates, their deployment locations, revocation, CRLs and OCSP signers.
import type { CustomFieldValues } from './products.js';

/** RFC 5280 CRLReason names (code 7 is unused). */
export type RevocationReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'cACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'removeFromCRL'
  | 'privilegeWithdrawn'
  | 'aACompromise';

export const REVOCATION_REASON_CODES: Readonly<Record<RevocationReason, number>> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
};

export interface CertificateRecord {
  id: string;
  caId: string;
  productId: string;
  requestId: string | null;
  /** Lower-case hex, no leading zero byte beyond what DER needs. */
  serialNumber: string;
  commonName: string | null;
  sanDns: string[];
  sanIp: string[];
  sanEmail: string[];
  sanUri: string[];
  keyAlgorithm: string;
  validFrom: Date;
  validTo: Date;
  certificatePem: string;
  revokedAt: Date | null;
  revocationReason: RevocationReason | null;
  /** When the key is known or suspected to have been compromised, if the revoker said. */
  invalidityDate: Date | null;
  createdAt: Date;
  /** Editable inventory fields, first copied from the request. */
  owner: string | null;
  notes: string | null;
  customFields: CustomFieldValues;
  /** The certificate this one renewed, rekeyed or replaced. */
  supersedes: string | null;
  /** Set when an operator marked it renewed (the successor's id, or a note for one issued elsewhere). */
  renewedBy: string | null;
}

export type CertificateSource = 'issued' | 'imported';

/**
 * A certificate as the inventory lists it: one of ours, or one imported from another CA (which
 * has no CA or product here and is never signed or put on a CRL by certgate).
 */
export type InventoryRecord = Omit<CertificateRecord, 'caId' | 'productId'> & {
  caId: string | null;
  productId: string | null;
  source: CertificateSource;
  /** The issuer's distinguished name (RFC 4514). */
  issuer: string | null;
};

export type InventoryStatus = 'active' | 'revoked' | 'expired' | 'all';

/** What the inventory list may be narrowed to; every filter is ANDed. */
export interface InventoryFilter {
  /** Issued certificates of these CAs only (none when empty); all CAs when absent. */
  caIds?: string[];
  /** Imported certificates are listed too (they belong to no CA: readable with read on every CA). */
  includeImported: boolean;
  /** `active`: neither revoked nor expired at `now`. */
  status?: InventoryStatus;
  /** Case-insensitive substring of the common name. */
  search?: string;
  createdFrom?: Date;
  createdTo?: Date;
  /** Not revoked, not yet expired, and expiring within this many days of `now`. */
  expiringInDays?: number;
  source?: CertificateSource;
  productId?: string;
  /** Issued certificates of these products only (a credential's product binding); imported ones are unaffected. */
  productIds?: string[];
  /** Only certificates whose request this requester sent (a credential scoped to its own); imported ones never match. */
  requester?: string;
  owner?: string;
  /** Exact matches on custom field values (compared as text). */
  customFields?: Record<string, string>;
  /** The clock the status and expiry filters use (default: the moment of the query). */
  now?: Date;
}

/** The list's orders, by creation: newest first (the default) or oldest first; ties broken by id the same way. */
export type InventoryOrder = 'newest' | 'oldest';

/** A place in the list: the last certificate of a page, which the next page starts after. */
export interface InventoryPosition {
  createdAt: number;
  id: string;
}

/** Orders by a column, for offset paging (a console's sortable table): the id breaks ties the same way. */
export const INVENTORY_SORT_COLUMNS = ['commonName', 'expires', 'status'] as const;
export interface InventorySort {
  /** `status` orders active, expired, revoked (as of the filter's `now`). */
  by: (typeof INVENTORY_SORT_COLUMNS)[number];
  descending: boolean;
}

/** One page: `offset` rows skipped, or those after `after` (keyset paging; offset is then ignored). */
export interface InventoryPageRequest {
  limit: number;
  offset?: number;
  after?: InventoryPosition;
  order?: InventoryOrder;
  /** Instead of `order`: by a column, offset paging only (`after` is a position in creation order). */
  sort?: InventorySort;
}

/** A search the store expects to match more than this many certificates gets an estimated total (inventoryQuery.ts says why). */
export const EXACT_SEARCH_COUNT = 5_000;

export interface InventoryListing {
  certificates: InventoryRecord[];
  /** Every match, not just this page: exact when `totalExact`, else an estimate (see inventoryQuery.ts). */
  total: number;
  totalExact: boolean;
  /** The last certificate of this page when more may follow it, else null. */
  next: InventoryPosition | null;
}

/**
 * The inventory report's expiry buckets, disjoint, by days left until valid_to: `expired` (passed),
 * then up to 7, up to 30, up to 90 days, and beyond. Revoked certificates are in none: they no
 * longer expire in any sense a reviewer acts on (their status says revoked).
 */
export const EXPIRY_BUCKETS = [
  { name: 'within_7_days', upToDays: 7 },
  { name: 'within_30_days', upToDays: 30 },
  { name: 'within_90_days', upToDays: 90 },
] as const;
export type ExpiryBucket = 'expired' | (typeof EXPIRY_BUCKETS)[number]['name'] | 'beyond_90_days';
export const EXPIRY_BUCKET_NAMES: readonly ExpiryBucket[] = ['expired', ...EXPIRY_BUCKETS.map((b) => b.name), 'beyond_90_days'];

/** A certificate's status as the inventory reports it: revoked first, then expired at `now`, else active. */
export type CertificateStatus = Exclude<InventoryStatus, 'all'>;
export const CERTIFICATE_STATUSES: readonly CertificateStatus[] = ['active', 'revoked', 'expired'];

/** The inventory counted for a review, over the certificates a filter admits (one read: every dimension sums to `total`, but expiry, which leaves revoked ones out). */
export interface InventoryCounts {
  total: number;
  /** Imported certificates have no product or CA: they count under null. */
  byProduct: { productId: string | null; count: number }[];
  byCa: { caId: string | null; count: number }[];
  byStatus: Record<CertificateStatus, number>;
  byKeyAlgorithm: { keyAlgorithm: string; count: number }[];
  byExpiry: Record<ExpiryBucket, number>;
}

export interface DeploymentLocation {
  id: string;
  certificateId: string;
  host: string;
  port: number | null;
  path: string | null;
  /** What kind of place: server, load-balancer, appliance, ... (free text, a short word). */
  kind: string;
  notes: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What a caller sets on a deployment location. */
export type LocationFields = Pick<DeploymentLocation, 'host' | 'port' | 'path' | 'kind' | 'notes'>;

export interface RevokedEntry {
  serialNumber: string;
  revokedAt: Date;
  reason: RevocationReason;
  invalidityDate: Date | null;
}

export interface CrlRecord {
  caId: string;
  crlNumber: number;
  thisUpdate: Date;
  nextUpdate: Date;
  der: Buffer;
}

/** A stored CRL without its body: enough to tell whether it is current or due. */
export type CrlHeader = Omit<CrlRecord, 'der'>;

export interface OcspSignerRecord {
  id: string;
  caId: string;
  certificatePem: string;
  /** Same envelope as a CA key (ca/keyProtection), under the master key. */
  encryptedKey: string;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
}

/** The dashboard's two series: certificates issued per day (oldest day first) and unrevoked ones expiring per week (soonest first). */
export interface InventoryTimeline {
  /** `days` entries; the last is today (UTC), which has only begun. */
  issuedPerDay: { day: string; count: number }[];
  /** `weeks` entries; week i holds valid_to in (now + 7i days, now + 7(i+1) days]. */
  expiringPerWeek: { from: string; to: string; count: number }[];
  /** Unrevoked certificates that expired within the `days` and were neither renewed nor marked renewed. */
  expiredUnreplaced: number;
}
