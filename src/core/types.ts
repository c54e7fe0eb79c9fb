// Domain types shared by every layer. Protocol front-ends translate their wire formats into these.

/** See requestStatus.ts for the transitions between them. */
export type RequestStatus = 'queued' | 'pending_approval' | 'pending_dcv' | 'signing' | 'issued' | 'rejected' | 'failed';
export const FINAL_STATUSES: readonly RequestStatus[] = ['issued', 'rejected', 'failed'];

export type Protocol = 'rest' | 'acme' | 'est' | 'scep' | 'cli';

export type KeyAlgorithm = 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'];

export type ExtendedKeyUsage = 'serverAuth' | 'clientAuth' | 'codeSigning' | 'emailProtection' | 'timeStamping' | 'ocspSigning';
export type KeyUsage =
  | 'digitalSignature'
  | 'nonRepudiation'
  | 'keyEncipherment'
  | 'dataEncipherment'
  | 'keyAgreement'
  | 'keyCertSign'
  | 'cRLSign';

export interface CaRecord {
  id: string;
  name: string;
  kind: 'root' | 'issuing';
  parentId: string | null;
  keyAlgorithm: KeyAlgorithm;
  subject: string;
  certificatePem: string;
  /** JSON envelope produced by ca/keyProtection: AES-256-GCM ciphertext, never the plain key. */
  encryptedKey: string;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
}

/** Subject attributes other than CN that a product may put in a certificate. */
export type SubjectAttributeName = 'O' | 'OU' | 'C' | 'ST' | 'L';
export const SUBJECT_ATTRIBUTE_NAMES: readonly SubjectAttributeName[] = ['C', 'ST', 'L', 'O', 'OU'];

/** Either a value the product always writes (the CSR's is ignored), or the values a CSR may ask for. */
export type SubjectAttributeRule = { fixed: string } | { allowed: string[] };

export interface SubjectPolicy {
  attributes: Partial<Record<SubjectAttributeName, SubjectAttributeRule>>;
  /** What happens to a CSR's subject attributes the product does not list: left out, or the request refused. */
  unlisted: 'drop' | 'refuse';
}

export interface ProductTemplate {
  /** Key algorithms a CSR may use. RSA sizes are exact matches of the algorithm name. */
  keyAlgorithms: KeyAlgorithm[];
  defaultValidityDays: number;
  maxValidityDays: number;
  /** Empty means any DNS name; otherwise each DNS SAN must equal or end in ".<suffix>". */
  allowedDnsSuffixes: string[];
  allowWildcards: boolean;
  allowIpSans: boolean;
  allowEmailSans: boolean;
  allowUriSans: boolean;
  /** Never ocspSigning: a leaf that can sign OCSP answers could vouch for revoked certificates. */
  extendedKeyUsages: ExtendedKeyUsage[];
  requiresApproval: boolean;
  /** The certificate's subject: CN is always the first name that passed the name rules. */
  subject: SubjectPolicy;
  /**
   * Settings of one front-end for this product, by protocol name (e.g. `acme: {eabRequired: true}`);
   * each protocol validates its own and ignores the others.
   */
  protocols: Record<string, Record<string, unknown>>;
  /** Fields a certificate under this product carries besides its names; enforced at submission. */
  customFields: CustomFieldDefinition[];
  /**
   * Keep the private keys certgate generates (REST managed mode), encrypted under the master key,
   * so that they can be downloaded again as PKCS#12. Off: a generated key is returned once and forgotten.
   */
  escrowKeys: boolean;
  /** Lets the requester approve its own request (four eyes relaxed); off, an approver is never the requester. */
  selfApproval?: boolean;
}

export type CustomFieldType = 'string' | 'number' | 'boolean';
export interface CustomFieldDefinition {
  name: string;
  type: CustomFieldType;
  required: boolean;
}
export type CustomFieldValues = Record<string, string | number | boolean>;

export interface ProductRecord {
  id: string;
  name: string;
  caId: string;
  template: ProductTemplate;
  createdAt: Date;
}

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

/**
 * `approve`: approve or decline requests that wait for an operator. `exportKeys`: download the
 * escrowed private key (PKCS#12) of a certificate this credential requested; `exportAnyKeys`: of
 * any certificate within the credential's products.
 */
export type PermissionAction = 'read' | 'issue' | 'revoke' | 'approve' | 'exportKeys' | 'exportAnyKeys';
export const PERMISSION_ACTIONS: readonly PermissionAction[] = ['read', 'issue', 'revoke', 'approve', 'exportKeys', 'exportAnyKeys'];
export interface Permission {
  /** A CA id, or '*' for every CA. */
  ca: string;
  actions: PermissionAction[];
}

/** `own`: reads and acts only on the certificates and requests it requested itself; `product`: on everything of its products. */
export type CredentialScope = 'own' | 'product';
export const CREDENTIAL_SCOPES: readonly CredentialScope[] = ['own', 'product'];

export type CredentialType = 'rest' | 'acme' | 'est' | 'scep';
export const CREDENTIAL_TYPES: readonly CredentialType[] = ['rest', 'acme', 'est', 'scep'];

/**
 * One credential of any protocol: who may authenticate, under which products, from where, until
 * when. What the secret is depends on the type (auth/secrets.ts); only its hash, or (where the
 * protocol needs the secret itself: an ACME EAB HMAC key, a SCEP challenge) its ciphertext under
 * the master key, is stored.
 */
export interface CredentialRecord {
  id: string;
  type: CredentialType;
  /** For `est`, the HTTP Basic username. */
  name: string;
  /** Product ids it may issue under, or '*' for every product. */
  products: '*' | string[];
  ownerUser: string | null;
  ownerGroup: string | null;
  expiresAt: Date | null;
  /** CIDR blocks the caller must come from; empty means anywhere. */
  allowIps: string[];
  /** `rest` only: what it may do on which CA. Other types issue only (through their protocol). */
  permissions: Permission[];
  /** `rest` only: may manage CAs, products, credentials and read the audit trail. */
  admin: boolean;
  /** How far within its products it reaches (see CredentialScope). */
  scope: CredentialScope;
  /** SHA-256 (hex) of the secret (`rest`, `est`), or an encrypted envelope of it (`acme`, `scep`). */
  secret: string;
  /** The secret before the last rotation, while its grace period lasts. */
  previousSecret: string | null;
  previousSecretUntil: Date | null;
  /** Bumped by every rotation; a bearer token minted under an older one dies with that secret. */
  secretVersion: number;
  enabled: boolean;
  revokedAt: Date | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  useCount: number;
}

/** An action the audit trail records: one name per kind of change (see audit/actions.ts). */
export type AuditOutcome = 'success' | 'refused';

/** What a caller says about one change; the store adds the sequence number, time and hashes. */
export interface AuditEntryInput {
  /** A credential id, `cli`, or `system` (the worker, on its own decisions). */
  actor: string;
  protocol: string;
  sourceIp: string | null;
  action: string;
  /** What changed: a request, certificate, credential, CA or product id (or, for a refused login, what was presented). */
  target: string;
  outcome: AuditOutcome;
  /** Anything else worth keeping, never a secret. */
  detail?: Record<string, unknown>;
}

export interface AuditEntry extends Required<AuditEntryInput> {
  seq: number;
  at: Date;
  /** SHA-256 (hex) of the entry before (64 zeros for the first). */
  prevHash: string;
  /** SHA-256 (hex) over this entry's fields and prevHash. */
  hash: string;
}

/** Who is acting, from where: what every audited call takes. */
export interface AuditContext {
  actor: string;
  protocol: string;
  sourceIp: string | null;
}

export interface AuditFilter {
  from?: Date;
  to?: Date;
  actor?: string;
  action?: string;
  target?: string;
}

/** Reading the audit trail; every write to it goes with the change it records (see the store). */
export interface AuditReader {
  /** Newest first, with the number of entries the filter matches. */
  list(filter: AuditFilter, page: { limit: number; offset: number }): Promise<{ entries: AuditEntry[]; total: number }>;
  /** In chain order: up to `limit` entries after sequence number `seq`. */
  after(seq: number, limit: number, filter?: AuditFilter): Promise<AuditEntry[]>;
  /** Where the entry with this hash is stored. */
  seqOfHash(hash: string): Promise<number | undefined>;
  /** Walks the whole chain under the deployment's audit key (see audit/chain.ts). */
  verify(): Promise<{ ok: boolean; entries: number; head: { seq: number; hash: string } | null; broken?: { kind: string; seq: number; detail: string } }>;
}
