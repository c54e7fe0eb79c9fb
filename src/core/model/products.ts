// Products: the templates that decide what a certificate carries.
import type { ExtendedKeyUsage, KeyAlgorithm } from './cas.js';

/** Subject attributes other than CN that a product may put in a certificate. */
export type SubjectAttributeName = 'O' | 'OU' | 'C' | 'ST' | 'L';
export const SUBJECT_ATTRIBUTE_NAMES: readonly SubjectAttributeName[] = ['C', 'ST', 'L', 'O', 'OU'];

/** Either a value the product always writes (the CSR's is ignored), or the values a CSR may ask for. */
export type SubjectAttributeRule = { fixed: string } | { allowed: string[] };

export interface SubjectPolicy {
  attributes: Partial<Record<SubjectAttributeName, SubjectAttributeRule>>;
  /** What happens to a CSR's subject attributes the product does not list: left out, or the request refused. */
  unlisted: 'drop' | 'refuse';
  /** `validated`: O and the other attributes come from an approved organization record of the requester. */
  organization?: 'csr' | 'validated';
}

/** Domain control validation for requests of every protocol but ACME (which proves names itself). */
export interface DcvPolicy {
  mode: 'none' | 'required';
  /** Days a validation covers requests (capped by the deployment's dcvMaxReuseDays). */
  reuseDays: number;
  /** A validated domain covers the names under it (a wildcard only when validated over dns-01). */
  subdomains: boolean;
  /** dns-01 looks for the TXT record at `<dnsLabel>.<domain>`. */
  dnsLabel: string;
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
  dcv: DcvPolicy;
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
  /** Days before notAfter at which `certificate.expiring` is sent (webhooks); absent: the deployment's. */
  expiryNoticeDays?: number[];
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
