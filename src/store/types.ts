import type {
  ApiKeyRecord,
  CaRecord,
  CertificateRecord,
  CrlHeader,
  CrlRecord,
  OcspSignerRecord,
  RevocationReason,
  RevokedEntry,
  EnrollmentRequest,
  ProductRecord,
  RequestStatus,
} from '../core/types.js';

export type NewCa = Omit<CaRecord, 'createdAt'>;
export type NewProduct = Omit<ProductRecord, 'createdAt'>;
export type NewEnrollmentRequest = Omit<
  EnrollmentRequest,
  'status' | 'statusReason' | 'certificateId' | 'approvedBy' | 'attempts' | 'createdAt' | 'updatedAt'
>;
export type NewCertificate = Omit<CertificateRecord, 'revokedAt' | 'revocationReason' | 'invalidityDate' | 'createdAt'>;
export type NewOcspSigner = Omit<OcspSignerRecord, 'createdAt'>;

export interface Revocation {
  reason: RevocationReason;
  revokedAt: Date;
  invalidityDate: Date | null;
}
export type NewApiKey = Omit<ApiKeyRecord, 'createdAt' | 'revokedAt'>;

export interface CaStore {
  insert(ca: NewCa): Promise<CaRecord>;
  get(id: string): Promise<CaRecord | undefined>;
  getByName(name: string): Promise<CaRecord | undefined>;
  list(): Promise<CaRecord[]>;
}

export interface ProductStore {
  insert(product: NewProduct): Promise<ProductRecord>;
  get(id: string): Promise<ProductRecord | undefined>;
  getByName(name: string): Promise<ProductRecord | undefined>;
  list(): Promise<ProductRecord[]>;
}

export interface RequestStore {
  /**
   * Stores a new request as `queued`. When `idempotencyKey` is set and a request with the same
   * (requester, idempotencyKey) exists, returns that one with created=false instead.
   */
  insert(request: NewEnrollmentRequest): Promise<{ request: EnrollmentRequest; created: boolean }>;
  get(id: string): Promise<EnrollmentRequest | undefined>;
  /**
   * Compare-and-set: moves the request to `to` only if its status is one of `from`.
   * Returns the updated request, or undefined when the status did not match.
   */
  transition(
    id: string,
    from: readonly RequestStatus[],
    to: RequestStatus,
    reason?: string | null,
  ): Promise<EnrollmentRequest | undefined>;
  /** Moves a request from `pending_approval` back to `queued`, recording the approver. */
  approve(id: string, approvedBy: string): Promise<EnrollmentRequest | undefined>;
  /** Counts one more processing attempt (for retries and crash recovery). */
  incrementAttempts(id: string): Promise<void>;
  /** Oldest first. Used on start-up to re-queue what a dead process left behind. */
  listByStatus(statuses: readonly RequestStatus[], limit: number): Promise<EnrollmentRequest[]>;
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
  revoke(id: string, revocation: Revocation): Promise<{ certificate: CertificateRecord; changed: boolean } | undefined>;
  /** Lifts a certificateHold; undefined when the certificate is not on hold. */
  reinstate(id: string): Promise<CertificateRecord | undefined>;
  /** Every revoked (or held) certificate of a CA, for its CRL. */
  listRevoked(caId: string): Promise<RevokedEntry[]>;
}

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

export interface ApiKeyStore {
  insert(key: NewApiKey): Promise<ApiKeyRecord>;
  get(id: string): Promise<ApiKeyRecord | undefined>;
  list(): Promise<ApiKeyRecord[]>;
  /** Returns false when no such key exists or it was already revoked. */
  revoke(id: string): Promise<boolean>;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  readonly cas: CaStore;
  readonly products: ProductStore;
  readonly requests: RequestStore;
  readonly certificates: CertificateStore;
  readonly apiKeys: ApiKeyStore;
  readonly crls: CrlStore;
  readonly ocspSigners: OcspSignerStore;
  /**
   * In one transaction: stores the certificate and moves its request from `queued` to `issued`.
   * If the request is already issued (a job ran twice), stores nothing and returns the
   * certificate that was issued first with alreadyIssued=true. Throws if the request is in
   * any other state, or if (caId, serialNumber) is taken.
   */
  recordIssuance(
    requestId: string,
    certificate: NewCertificate,
  ): Promise<{ certificate: CertificateRecord; alreadyIssued: boolean }>;
  /** Throws when the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
