// Table shapes as Kysely sees them, and the conversions between rows and domain records.
// Conventions (identical on SQLite and PostgreSQL):
// - timestamps are epoch milliseconds in BIGINT columns, so they sort correctly and round-trip
//   to exact millisecond Dates (PostgreSQL returns int8 as a string unless told otherwise, so
//   readers go through `fromMs`, which accepts both);
// - booleans are INTEGER 0/1 (better-sqlite3 cannot bind JS booleans);
// - arrays and JSON objects are JSON text.
import type { ColumnType, Generated } from 'kysely';

/** Epoch milliseconds. Selected as number (SQLite, or pg with an int8 parser) or string (plain pg). */
export type EpochMs = ColumnType<number | string, number, number>;
export type NullableEpochMs = ColumnType<number | string | null, number | null, number | null>;

export interface CasTable {
  id: string;
  name: string;
  kind: string;
  parent_id: string | null;
  key_algorithm: string;
  subject: string;
  certificate_pem: string;
  /** '' when certgate holds no key of this CA (see CaRecord.encryptedKey). */
  encrypted_key: string;
  backend: Generated<string>;
  backend_config: string | null;
  not_before: EpochMs;
  not_after: EpochMs;
  created_at: EpochMs;
}

export interface ProductsTable {
  id: string;
  name: string;
  ca_id: string;
  /** JSON of ProductTemplate. */
  template: string;
  created_at: EpochMs;
}

export interface EnrollmentRequestsTable {
  id: string;
  product_id: string;
  ca_id: string;
  requester: string;
  protocol: string;
  csr_pem: string;
  validity_days: number | null;
  idempotency_key: string | null;
  transaction_id: string | null;
  /** JSON of Constraint[]. */
  constraints: string;
  fingerprint: string;
  key_source: string;
  escrowed_key: string | null;
  /** JSON of CustomFieldValues. */
  custom_fields: string;
  owner: string | null;
  notes: string | null;
  supersedes: string | null;
  /** The credential the request came with (its owner is whose domain validations cover it); null for none. */
  credential_id: string | null;
  status: string;
  status_reason: string | null;
  /** JSON of Rejection. */
  rejection: string | null;
  certificate_id: string | null;
  approved_by: string | null;
  serial_number: string | null;
  lease_expires_at: NullableEpochMs;
  attempts: number;
  created_at: EpochMs;
  updated_at: EpochMs;
}

export interface CertificatesTable {
  id: string;
  /** Null only for imported certificates. */
  ca_id: string | null;
  product_id: string | null;
  request_id: string | null;
  serial_number: string;
  common_name: string | null;
  /** JSON string arrays. */
  san_dns: string;
  san_ip: string;
  san_email: string;
  san_uri: string;
  key_algorithm: string;
  valid_from: EpochMs;
  valid_to: EpochMs;
  certificate_pem: string;
  revoked_at: NullableEpochMs;
  revocation_reason: string | null;
  invalidity_date: NullableEpochMs;
  created_at: EpochMs;
  source: string;
  issuer: string | null;
  owner: string | null;
  notes: string | null;
  custom_fields: string;
  supersedes: string | null;
  renewed_by: string | null;
  deleted_at: NullableEpochMs;
}

export interface CertificateLocationsTable {
  id: string;
  certificate_id: string;
  host: string;
  port: number | null;
  path: string | null;
  kind: string;
  notes: string | null;
  created_at: EpochMs;
  updated_at: EpochMs;
}

export interface CrlsTable {
  ca_id: string;
  crl_number: EpochMs;
  this_update: EpochMs;
  next_update: EpochMs;
  /** base64 of the DER. */
  der: string;
}

export interface OcspSignersTable {
  id: string;
  ca_id: string;
  certificate_pem: string;
  encrypted_key: string;
  not_before: EpochMs;
  not_after: EpochMs;
  created_at: EpochMs;
}

export interface CredentialsTable {
  id: string;
  type: string;
  name: string;
  /** JSON: "*" or an array of product ids. */
  products: string;
  owner_user: string | null;
  owner_group: string | null;
  expires_at: NullableEpochMs;
  /** JSON array of CIDR blocks. */
  allow_ips: string;
  /** JSON of Permission[]. */
  permissions: string;
  /** 0 or 1. */
  admin: number;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: NullableEpochMs;
  secret_version: number;
  /** 0 or 1. */
  enabled: number;
  revoked_at: NullableEpochMs;
  created_at: EpochMs;
  last_used_at: NullableEpochMs;
  use_count: ColumnType<number | string, number, number>;
  /** 'own' or 'product' (0009). */
  scope: ColumnType<string, string | undefined, string>;
}

export interface AuditLogTable {
  seq: ColumnType<number | string, number, number>;
  at: EpochMs;
  actor: string;
  protocol: string;
  source_ip: string | null;
  action: string;
  target: string;
  outcome: string;
  /** JSON object. */
  detail: string;
  prev_hash: string;
  hash: string;
}

export interface Database {
  cas: CasTable;
  products: ProductsTable;
  enrollment_requests: EnrollmentRequestsTable;
  domains: DomainsTable;
  domain_requests: DomainRequestsTable;
  organizations: OrganizationsTable;
  certificates: CertificatesTable;
  certificate_locations: CertificateLocationsTable;
  credentials: CredentialsTable;
  audit_log: AuditLogTable;
  crls: CrlsTable;
  ocsp_signers: OcspSignersTable;
  upstream_orders: UpstreamOrdersTable;
  upstream_http_challenges: UpstreamHttpChallengesTable;
}

export function toMs(date: Date): number {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new TypeError('invalid Date');
  return ms;
}

export function fromMs(value: number | string): Date {
  return new Date(Number(value));
}

export function fromNullableMs(value: number | string | null): Date | null {
  return value === null ? null : new Date(Number(value));
}

export interface DomainsTable {
  id: string;
  name: string;
  holder: string;
  token: string;
  status: string;
  method: string | null;
  validated_at: NullableEpochMs;
  expires_at: NullableEpochMs;
  last_error: string | null;
  source: string;
  created_by: string;
  created_at: EpochMs;
  updated_at: EpochMs;
}

/** The names a request waits on (pending_dcv), each with the domain record whose validation it needs. */
export interface DomainRequestsTable {
  request_id: string;
  name: string;
  domain_id: string;
  created_at: EpochMs;
}

export interface OrganizationsTable {
  id: string;
  holder: string;
  name: string;
  unit: string | null;
  country: string | null;
  state: string | null;
  locality: string | null;
  status: string;
  created_by: string;
  decided_by: string | null;
  decided_at: NullableEpochMs;
  expires_at: NullableEpochMs;
  reason: string | null;
  created_at: EpochMs;
  updated_at: EpochMs;
}

/** An upstream ACME order placed for an enrollment request (state: pending, valid, invalid). */
export interface UpstreamOrdersTable {
  request_id: string;
  ca_id: string;
  order_url: string;
  state: string;
  /** The issuer chain the upstream returned with the certificate, PEM. */
  chain_pem: string | null;
  renewal_start: NullableEpochMs;
  renewal_end: NullableEpochMs;
  created_at: EpochMs;
  updated_at: EpochMs;
}

/** An http-01 key authorization served at /.well-known/acme-challenge/<token> while its order runs. */
export interface UpstreamHttpChallengesTable {
  token: string;
  key_authorization: string;
  request_id: string;
  created_at: EpochMs;
}
