// What /v1 answers about products and CAs, as the catalogue's pages read it.
export interface Product {
  id: string;
  name: string;
  ca_id: string;
  key_algorithms: string[];
  default_validity_days: number;
  max_validity_days: number;
  allowed_dns_suffixes: string[];
  allow_wildcards: boolean;
  allow_ip_sans: boolean;
  allow_email_sans: boolean;
  allow_uri_sans: boolean;
  extended_key_usages: string[];
  requires_approval: boolean;
  subject_policy: { attributes: Record<string, { fixed: string } | { allowed: string[] }>; unlisted: string };
  custom_fields: { name: string; type: string; required: boolean }[];
  escrow_keys: boolean;
  self_approval: boolean;
  dcv: { mode: 'none' | 'required'; reuse_days: number; subdomains: boolean; dns_label: string };
  created_at: string;
}

/** The template in certgate's own spelling: what POST and PUT /v1/products take. */
export type Template = Record<string, unknown>;

export interface Ca {
  id: string;
  name: string;
  common_name: string | null;
  organization: string | null;
  key_algorithm: string;
  valid_from: string;
  valid_to: string;
  created_at: string;
  parent_ca_id: string | null;
  depth: number;
  path_length: number | null;
  type: 'root' | 'intermediate';
  subject: string;
  backend: string;
  capabilities: { sign_locally: boolean; crl: boolean; ocsp: boolean; revoke: string; suspend: boolean };
}

export interface CaDetail extends Ca {
  certificate_pem: string;
  serial_number: string;
  has_passphrase: boolean;
}

export const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

/** certgate's key algorithms (what templates and POST /v1/cas take), with how a person reads them. */
export const KEY_ALGORITHMS: [string, string][] = [
  ['ec-p256', 'ECDSA P-256'],
  ['ec-p384', 'ECDSA P-384'],
  ['rsa-2048', 'RSA 2048'],
  ['rsa-3072', 'RSA 3072'],
  ['rsa-4096', 'RSA 4096'],
];
