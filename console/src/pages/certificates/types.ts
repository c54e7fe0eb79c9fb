// The REST answers the certificate pages read (as /v1 spells them).

export interface Certificate {
  id: string;
  ca_id: string | null;
  product_id: string | null;
  request_id: string | null;
  common_name: string | null;
  san_dns: string[];
  san_ip: string[];
  san_email: string[];
  san_uri: string[];
  key_algorithm: string;
  valid_from: string;
  valid_to: string;
  serial_number: string;
  revoked_at: string | null;
  revocation_reason: string | null;
  created_at: string;
  status: 'active' | 'revoked' | 'expired';
  source: 'issued' | 'imported';
  issuer: string | null;
  owner: string | null;
  notes: string | null;
  custom_fields: Record<string, string | number | boolean>;
  supersedes: string | null;
  renewed_by: string | null;
  certificate_pem?: string;
}

export interface CertificatePage {
  certificates: Certificate[];
  total: number;
  totalExact: boolean;
  page?: number;
  pageSize: number;
  totalPages?: number;
}

export interface Named {
  id: string;
  name: string;
}

export interface DeploymentLocation {
  id: string;
  host: string;
  port: number | null;
  path: string | null;
  kind: string;
  notes: string | null;
  updated_at: string;
}

export interface AuditEntry {
  seq: number;
  at: string;
  actor: string;
  protocol: string;
  action: string;
  target: string;
  outcome: string;
  detail: Record<string, unknown>;
}

/** A status as a badge: the word, and how it reads. */
export const STATUS_BADGE: Record<Certificate['status'], string> = { active: 'ok', expired: 'warn', revoked: 'danger' };

/** The names a certificate covers, besides its common name. */
export const namesOf = (c: Certificate): string[] => [...c.san_dns, ...c.san_ip, ...c.san_email, ...c.san_uri];
