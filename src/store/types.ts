import type { ChainState } from '../audit/chain.js';
import type { Checkpoint } from '../audit/checkpoint.js';
import type { TrailReport } from '../audit/trail.js';
import type { Compilable, Kysely, Migration } from 'kysely';
import type { Database } from './schema.js';
import type { DomainStore } from './domains.js';
import type { TimelineSpans } from './inventoryTimeline.js';
import type {
  AuditEntry,
  AuditEntryInput,
  AuditReader,
  CaRecord,
  CredentialRecord,
  CredentialScope,
  CredentialType,
  CertificateRecord,
  CrlHeader,
  InventoryCounts,
  InventoryFilter,
  InventoryListing,
  InventoryTimeline,
  InventoryPageRequest,
  LocationFields,
  RequestFilter,
  CustomFieldValues,
  DeploymentLocation,
  InventoryRecord,
  CrlRecord,
  OcspSignerRecord,
  RevocationReason,
  RevokedEntry,
  EnrollmentRequest,
  ProductRecord,
  ProductTemplate,
  Rejection,
  RequestStatus,
  Holder,
  OrganizationRecord,
  OrganizationStatus,
} from '../core/types.js';

/** A local CA unless it says otherwise. */
export type NewCa = Omit<CaRecord, 'createdAt' | 'backend' | 'backendConfig'> & Partial<Pick<CaRecord, 'backend' | 'backendConfig'>>;
export type NewProduct = Omit<ProductRecord, 'createdAt'>;
export type NewEnrollmentRequest = Omit<
  EnrollmentRequest,
  'status' | 'statusReason' | 'rejection' | 'certificateId' | 'approvedBy' | 'serialNumber' | 'leaseExpiresAt' | 'attempts' | 'createdAt' | 'updatedAt'
>;
export type NewCertificate = Omit<CertificateRecord, 'revokedAt' | 'revocationReason' | 'invalidityDate' | 'createdAt' | 'renewedBy'> & {
  /** An upstream CA chose the serial: the one the claim allocated was never signed, so it need not match. */
  serialChosenUpstream?: boolean;
};
export type NewOcspSigner = Omit<OcspSignerRecord, 'createdAt'>;

export interface Revocation {
  reason: RevocationReason;
  revokedAt: Date;
  invalidityDate: Date | null;
}
export type NewCredential = Omit<
  CredentialRecord,
  'createdAt' | 'revokedAt' | 'lastUsedAt' | 'useCount' | 'previousSecret' | 'previousSecretUntil' | 'secretVersion' | 'enabled' | 'scope'
> & { /** Default `product`. */ scope?: CredentialScope };

// Every write that changes something a person would ask about takes the audit entry recording it
// and commits it in the same transaction (see audit/chain.ts for the chain).

export interface CaStore {
  insert(ca: NewCa, audit: AuditEntryInput): Promise<CaRecord>;
  get(id: string): Promise<CaRecord | undefined>;
  getByName(name: string): Promise<CaRecord | undefined>;
  list(): Promise<CaRecord[]>;
}

export interface ProductStore {
  insert(product: NewProduct, audit: AuditEntryInput): Promise<ProductRecord>;
  get(id: string): Promise<ProductRecord | undefined>;
  getByName(name: string): Promise<ProductRecord | undefined>;
  list(): Promise<ProductRecord[]>;
  /** Replaces the name and template (never the CA) with its audit entry; undefined when there is no such product. */
  update(id: string, change: { name: string; template: ProductTemplate }, audit: AuditEntryInput): Promise<ProductRecord | undefined>;
}

export interface RequestStore {
  /**
   * Stores a new request as `queued`. When a request with the same (requester, idempotencyKey),
   * or the same (requester, transactionId), exists, returns that one with created=false instead
   * (the caller compares fingerprints to tell a replay from a clash). `audit` is recorded only
   * when the request is created.
   */
  insert(request: NewEnrollmentRequest, audit: AuditEntryInput | null): Promise<{ request: EnrollmentRequest; created: boolean }>;
  get(id: string): Promise<EnrollmentRequest | undefined>;
  /** The request this requester sent under a protocol transaction id (SCEP CertPoll, EST retry). */
  findByTransaction(requester: string, transactionId: string): Promise<EnrollmentRequest | undefined>;
  /**
   * Compare-and-set: moves the request to `to` only if its status is one of `from`. Every
   * from → to must be in core/requestStatus's table (TransitionError otherwise, before any write).
   * Returns the updated request, or undefined when the status did not match.
   */
  transition(id: string, from: readonly RequestStatus[], to: RequestStatus, outcome?: TransitionOutcome): Promise<EnrollmentRequest | undefined>;
  /**
   * Claims a request for signing: `queued` → `signing`, or `signing` whose lease has expired →
   * `signing`, with a lease until now + leaseMs and attempts + 1. The serial is stored by the first
   * claim; a re-claim keeps the stored one (the argument is then ignored). Undefined when the
   * request is in any other state or another worker holds a live lease.
   */
  claim(id: string, claim: { serialNumber: string; leaseMs: number }): Promise<EnrollmentRequest | undefined>;
  /** Moves a request from `pending_approval` back to `queued`, recording the approver. */
  approve(id: string, approvedBy: string, audit: AuditEntryInput): Promise<EnrollmentRequest | undefined>;
  /**
   * Frees the idempotency key of a request created before `createdBefore` (keys are kept for a
   * while, not forever), so that the requester may use it again. False when nothing was freed.
   */
  releaseIdempotencyKey(id: string, createdBefore: Date): Promise<boolean>;
  /** Oldest first. Used to re-queue what a dead process left behind. */
  listByStatus(statuses: readonly RequestStatus[], limit: number): Promise<EnrollmentRequest[]>;
  /** Newest first, filtered (every filter ANDed); `total` counts every match, not just this page. */
  list(filter: RequestFilter, page: { limit: number; offset: number }): Promise<{ requests: EnrollmentRequest[]; total: number }>;
}

export interface TransitionOutcome {
  reason?: string | null;
  /** Stored with a move to `rejected`. */
  rejection?: Rejection | null;
  /** Recorded when the move happens. Internal moves (a released claim, a re-queue) have none. */
  audit?: AuditEntryInput | null;
}

export interface CertificateStore {
  get(id: string): Promise<CertificateRecord | undefined>;
  getBySerial(caId: string, serialNumber: string): Promise<CertificateRecord | undefined>;
  getByRequestId(requestId: string): Promise<CertificateRecord | undefined>;
  /** Newest first. */
  /** Newest first; `caIds` limits the list to those CAs (none when empty), all CAs when absent. */
  list(options: { caIds?: string[]; limit: number; offset: number }): Promise<CertificateRecord[]>;
  /**
   * Revokes a live certificate, or turns a hold into a permanent revocation (changed=true).
   * A certificate already revoked for good stays as it is (changed=false). Undefined if unknown.
   */
  revoke(id: string, revocation: Revocation, audit: AuditEntryInput): Promise<{ certificate: CertificateRecord; changed: boolean } | undefined>;
  /** Lifts a certificateHold; undefined when the certificate is not on hold. */
  reinstate(id: string, audit: AuditEntryInput): Promise<CertificateRecord | undefined>;
  /** Every revoked (or held) certificate of a CA, for its CRL. */
  listRevoked(caId: string): Promise<RevokedEntry[]>;
  /**
   * Stores a certificate the gateway issued to itself (core/systemSigner: no enrollment request)
   * with its audit entry, in one transaction. Throws if (caId, serialNumber) is taken.
   */
  insertSystemIssued(certificate: NewCertificate, audit: AuditEntryInput): Promise<CertificateRecord>;
}

export interface InventoryStore {
  /** Newest first unless asked otherwise; deleted records are left out. `total` counts every match, not just this page. */
  list(filter: InventoryFilter, page: InventoryPageRequest): Promise<InventoryListing>;
  /** What the filter admits (as list() would; deleted records left out), counted by product, CA, status, key algorithm and expiry. */
  report(filter: InventoryFilter): Promise<InventoryCounts>;
  /** What the filter admits, issued per day over the last `days` days and expiring (unrevoked) per week over the next `weeks`. */
  timeline(filter: InventoryFilter, spans: TimelineSpans): Promise<InventoryTimeline>;
  /** A certificate of ours or an imported one; undefined when unknown or deleted from the inventory. */
  get(id: string): Promise<InventoryRecord | undefined>;

  // Writes. Each commits its audit entry with it.

  /**
   * Stores a certificate issued elsewhere (source `imported`, no CA or product). An issuer has one
   * certificate per serial: when this (issuer, serial) is already imported, nothing is written and
   * that record comes back with created=false.
   */
  insertImported(certificate: NewImportedCertificate, audit: AuditEntryInput): Promise<{ record: InventoryRecord; created: boolean }>;
  /** The imported certificate with this issuer DN (exactly as stored) and serial, if any. */
  findImported(issuer: string, serialNumber: string): Promise<InventoryRecord | undefined>;
  /** Changes the editable fields given; undefined when unknown or deleted from the inventory. */
  update(id: string, edit: InventoryEdit, audit: AuditEntryInput): Promise<InventoryRecord | undefined>;
  /** Records what renewed it (a successor's id, or a note); undefined when unknown or deleted. */
  markRenewed(id: string, renewedBy: string, audit: AuditEntryInput): Promise<InventoryRecord | undefined>;
  /**
   * Records that another CA revoked one of the certificates imported from it. Ours are revoked by
   * the revocation service, never here. Undefined when no unrevoked imported certificate matches.
   */
  markRevoked(issuer: string, serialNumber: string, revocation: Pick<Revocation, 'reason' | 'revokedAt'>, audit: AuditEntryInput): Promise<InventoryRecord | undefined>;
  /**
   * Takes a certificate out of the inventory: an imported one is deleted with its locations; one of
   * ours that has expired at `now` is hidden (deleted_at), its row kept for the CRL and OCSP. The
   * audit entry's detail gains `removal`. `stillValid`: one of ours that has not expired, kept.
   */
  remove(id: string, now: Date, audit: AuditEntryInput): Promise<{ removal: InventoryRemoval; record: InventoryRecord } | 'stillValid' | undefined>;

  /** Oldest first; none for a certificate that is not in the inventory. */
  listLocations(certificateId: string): Promise<DeploymentLocation[]>;
  /** Undefined when the certificate is not (or no longer) in the inventory. */
  insertLocation(location: NewLocation, audit: AuditEntryInput): Promise<DeploymentLocation | undefined>;
  /** Replaces the location's fields; undefined when there is no such location on that certificate. */
  updateLocation(certificateId: string, id: string, fields: LocationFields, audit: AuditEntryInput): Promise<DeploymentLocation | undefined>;
  removeLocation(certificateId: string, id: string, audit: AuditEntryInput): Promise<DeploymentLocation | undefined>;
}

/** How a certificate left the inventory: its row deleted (imported), or hidden (ours, expired). */
export type InventoryRemoval = 'deleted' | 'hidden';

export type NewImportedCertificate = Pick<
  InventoryRecord,
  'id' | 'serialNumber' | 'commonName' | 'sanDns' | 'sanIp' | 'sanEmail' | 'sanUri' | 'keyAlgorithm' | 'validFrom' | 'validTo' | 'certificatePem' | 'owner' | 'notes' | 'customFields'
> & { issuer: string };

/**
 * The editable fields to change; absent ones stay as they are. `customFields` is merged into the
 * stored ones name by name, a null value taking that field away.
 */
export interface InventoryEdit {
  owner?: string | null;
  notes?: string | null;
  customFields?: { [name: string]: CustomFieldValues[string] | null };
}

export type NewLocation = LocationFields & Pick<DeploymentLocation, 'id' | 'certificateId'>;

export interface CrlStore {
  latest(caId: string): Promise<CrlRecord | undefined>;
  /** The latest CRL's number and dates, without reading its body (megabytes for a big CRL). */
  latestHeader(caId: string): Promise<CrlHeader | undefined>;
  /** Stores a CRL only if its number is higher than the stored one's; false otherwise. */
  save(crl: CrlRecord): Promise<boolean>;
}

export interface OcspSignerStore {
  /** The signer with the latest notAfter, if any. */
  latest(caId: string): Promise<OcspSignerRecord | undefined>;
  insert(signer: NewOcspSigner): Promise<OcspSignerRecord>;
}

export type CredentialStatus = 'active' | 'revoked' | 'expired' | 'all';

export interface CredentialStore {
  insert(credential: NewCredential, audit: AuditEntryInput): Promise<CredentialRecord>;
  get(id: string): Promise<CredentialRecord | undefined>;
  /** The unrevoked credential of this type and name (EST: the Basic username), if any. */
  findLive(type: CredentialType, name: string): Promise<CredentialRecord | undefined>;
  /** Oldest first. `active`: neither revoked nor expired. */
  list(
    filter: { type?: CredentialType; status?: CredentialStatus },
    page: { limit: number; offset: number },
  ): Promise<{ credentials: CredentialRecord[]; total: number }>;
  /** A live credential's new secret, the old one kept until `previousUntil` (null: dropped now). */
  rotate(id: string, secret: string, previousUntil: Date | null, audit: AuditEntryInput): Promise<CredentialRecord | undefined>;
  /** Undefined when there is no such credential or it was already revoked. */
  revoke(id: string, audit: AuditEntryInput): Promise<CredentialRecord | undefined>;
  /** Adds uses counted in memory: not a change worth an audit entry each. */
  recordUse(uses: readonly { id: string; count: number; lastUsedAt: Date }[]): Promise<void>;
}

export type NewOrganization = Pick<OrganizationRecord, 'id' | 'holder' | 'name' | 'unit' | 'country' | 'state' | 'locality' | 'createdBy'>;

export interface OrganizationFilter {
  /** Records of these holders only; '*': every record (an admin). */
  holders: '*' | readonly Holder[];
  status?: OrganizationStatus;
  /** Exact O. */
  name?: string;
  limit: number;
  /** Cursor: the last id of the previous page (oldest first). */
  after?: string;
}

/** How a pending record is decided: approved until expiresAt, or declined with a reason. */
export type OrganizationDecision = { status: 'approved'; decidedBy: string; decidedAt: Date; expiresAt: Date } | { status: 'declined'; decidedBy: string; decidedAt: Date; reason: string };

export interface OrganizationStore {
  /** Stores a new record as `pending`. */
  insert(organization: NewOrganization, audit: AuditEntryInput): Promise<OrganizationRecord>;
  get(id: string): Promise<OrganizationRecord | undefined>;
  /** Oldest first. */
  list(filter: OrganizationFilter): Promise<OrganizationRecord[]>;
  /** Compare-and-set from `pending`; undefined (nothing written, nothing audited) when it is not pending or not there. */
  decide(id: string, decision: OrganizationDecision, audit: AuditEntryInput): Promise<OrganizationRecord | undefined>;
  /** Undefined when there was none. */
  remove(id: string, audit: AuditEntryInput): Promise<OrganizationRecord | undefined>;
  /** An approved record named `name` of one of `holders` that has not expired at `at`. */
  findValidated(holders: readonly Holder[], name: string, at: Date): Promise<OrganizationRecord | undefined>;
}

export interface AuditStore extends AuditReader {
  /** An entry that records no stored change of its own (a refused login). */
  append(entry: AuditEntryInput): Promise<AuditEntry>;
  /**
   * `audit reseal`: brings a trail written before the chain was keyed under the key. When the
   * stored entries are an intact plain SHA-256 chain, perhaps followed by keyed entries linked to
   * it, re-seals them all and appends `audit.chain_keyed`, in one transaction. Anything else
   * (already keyed, empty, broken) is left as it is (see ChainState).
   */
  upgradeChain(): Promise<ChainUpgrade>;
  /** The last entry (none: the trail is empty). */
  head(): Promise<AuditEntry | undefined>;
  /** The chain walk under the store's key; given a checkpoint, also that the trail still reaches it unchanged. */
  verify(checkpoint?: Checkpoint): Promise<TrailReport>;
}

/** What upgradeChain found, and did. */
export interface ChainUpgrade {
  state: ChainState;
  /** Entries re-sealed (state `legacy`). */
  resealed: number;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** The database, for the tables a protocol owns (see CoreServices.tables); nothing else uses it. */
  readonly db: Kysely<Database>;
  /**
   * Runs one write statement of a protocol's own tables and returns its first RETURNING row.
   * Group-committed with the other writes of the moment on the embedded database. `entryOf`: the
   * audit entry recording what the statement changed (null: nothing), committed with it.
   */
  write<R>(statement: Compilable<R>, entryOf?: (row: R | undefined) => AuditEntryInput | null): Promise<R | undefined>;
  readonly cas: CaStore;
  readonly products: ProductStore;
  readonly requests: RequestStore;
  readonly certificates: CertificateStore;
  /** Every certificate the inventory holds, ours and imported, with its editable fields. */
  readonly inventory: InventoryStore;
  /** Organization records a product's subject O may be drawn from. */
  readonly organizations: OrganizationStore;
  readonly credentials: CredentialStore;
  /** The domain registry's records and the names requests wait on. */
  readonly domains: DomainStore;
  readonly audit: AuditStore;
  readonly crls: CrlStore;
  readonly ocspSigners: OcspSignerStore;
  /**
   * In one transaction: stores the certificate and moves its request from `signing` to `issued`.
   * The certificate's serial must be the one the claim allocated. If the request is already
   * issued (a job ran twice), stores nothing and returns the certificate that was issued first
   * with alreadyIssued=true. Throws if the request is in any other state, or if
   * (caId, serialNumber) is taken. `note` becomes the request's status reason (e.g. a shortened
   * validity). `audit` is recorded with a first issuance, not with a repeat.
   */
  recordIssuance(
    requestId: string,
    certificate: NewCertificate,
    note: string | null,
    audit: AuditEntryInput,
  ): Promise<{ certificate: CertificateRecord; alreadyIssued: boolean }>;
  /**
   * Brings the tables `owner` (a protocol's name: lower case, digits, _) owns up to date, with
   * its own record of which of its migrations ran, kept apart from the core's and every other
   * owner's. Safe to call on every start, from several processes.
   */
  applyMigrations(owner: string, migrations: Readonly<Record<string, Migration>>): Promise<void>;
  /** Throws when the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
