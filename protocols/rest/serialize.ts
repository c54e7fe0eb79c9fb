// Records to REST answers, in the shapes schemas.ts declares.
import type { z } from 'zod';
import type { CertificateRecord, EnrollmentRequest, InventoryRecord, ProductRecord, Rejection } from '../../src/core/types.js';
import { parseCsr } from '../../src/pki/csr.js';
import { namesOfCsr } from '../../src/pki/names.js';
import { productTemplateSchema } from '../../src/policy/productSchema.js';
import { certmanKeyAlgorithm } from './keyAlgorithm.js';
import type { certificateDetailSchema, certificateSchema, rejectionSchema, requestSchema } from './schemas.js';

const iso = (d: Date): string => d.toISOString();
const isoOrNull = (d: Date | null): string | null => (d ? d.toISOString() : null);

type Listed = CertificateRecord | InventoryRecord;

/** Certman spells RFC 5280's cACompromise and aACompromise with a lower-case second letter. */
const certmanReason = (reason: string | null): string | null => (reason === 'cACompromise' ? 'caCompromise' : reason === 'aACompromise' ? 'aaCompromise' : reason);

export function certificateJson(cert: Listed, now = Date.now()): z.output<typeof certificateSchema> {
  return {
    id: cert.id,
    ca_id: cert.caId,
    common_name: cert.commonName,
    san_dns: cert.sanDns,
    san_ip: cert.sanIp,
    key_algorithm: certmanKeyAlgorithm(cert.keyAlgorithm),
    valid_from: iso(cert.validFrom),
    valid_to: iso(cert.validTo),
    serial_number: cert.serialNumber,
    revoked_at: isoOrNull(cert.revokedAt),
    revocation_reason: certmanReason(cert.revocationReason),
    created_at: iso(cert.createdAt),
    product_id: cert.productId,
    request_id: cert.requestId,
    status: cert.revokedAt ? 'revoked' : cert.validTo.getTime() <= now ? 'expired' : 'active',
    source: 'source' in cert ? cert.source : 'issued',
    issuer: 'issuer' in cert ? cert.issuer : null,
    san_email: cert.sanEmail,
    san_uri: cert.sanUri,
    invalidity_date: isoOrNull(cert.invalidityDate),
    owner: cert.owner,
    notes: cert.notes,
    custom_fields: cert.customFields,
    supersedes: cert.supersedes,
    renewed_by: cert.renewedBy,
  };
}

export function certificateDetailJson(cert: Listed): z.output<typeof certificateDetailSchema> {
  return { ...certificateJson(cert), certificate_pem: cert.certificatePem };
}

export function revokedJson(cert: Listed) {
  return {
    id: cert.id,
    common_name: cert.commonName,
    serial_number: cert.serialNumber,
    revoked_at: isoOrNull(cert.revokedAt),
    revocation_reason: certmanReason(cert.revocationReason),
    invalidity_date: isoOrNull(cert.invalidityDate),
  };
}

/** The names a request asks for, so an approver sees what it approves; none for a CSR that no longer parses. */
function requestNames(req: EnrollmentRequest): string[] {
  try {
    return namesOfCsr(parseCsr(req.csrPem));
  } catch {
    return [];
  }
}

export function requestJson(req: EnrollmentRequest): z.output<typeof requestSchema> {
  return {
    id: req.id,
    names: requestNames(req),
    product_id: req.productId,
    ca_id: req.caId,
    protocol: req.protocol,
    requester: req.requester,
    status: req.status,
    status_reason: req.statusReason,
    ...(req.rejection ? { rejection: rejectionJson(req.rejection) } : {}),
    certificate_id: req.certificateId,
    approved_by: req.approvedBy,
    key_source: req.details.keySource,
    supersedes: req.details.supersedes,
    created_at: iso(req.createdAt),
    updated_at: iso(req.updatedAt),
  };
}

/** The schema's defaults, for templates stored before DCV existed. */
const NO_DCV = productTemplateSchema.shape.dcv.parse(undefined);

/** What a product's template allows. Templates stored before a setting existed get its default. */
export function productJson(p: ProductRecord) {
  const t = p.template;
  const subject = t.subject ?? { attributes: {}, unlisted: 'drop' };
  const dcv = t.dcv ?? NO_DCV;
  return {
    id: p.id,
    name: p.name,
    ca_id: p.caId,
    key_algorithms: t.keyAlgorithms.map(certmanKeyAlgorithm),
    default_validity_days: t.defaultValidityDays,
    max_validity_days: t.maxValidityDays,
    allowed_dns_suffixes: t.allowedDnsSuffixes,
    allow_wildcards: t.allowWildcards,
    allow_ip_sans: t.allowIpSans,
    allow_email_sans: t.allowEmailSans,
    allow_uri_sans: t.allowUriSans,
    extended_key_usages: t.extendedKeyUsages,
    requires_approval: t.requiresApproval,
    subject_policy: { attributes: subject.attributes, unlisted: subject.unlisted },
    custom_fields: (t.customFields ?? []).map((f) => ({ name: f.name, type: f.type, required: f.required })),
    escrow_keys: t.escrowKeys ?? false,
    self_approval: t.selfApproval ?? false,
    dcv: { mode: dcv.mode, reuse_days: dcv.reuseDays, subdomains: dcv.subdomains, dns_label: dcv.dnsLabel },
    created_at: iso(p.createdAt),
  };
}

/** A refusal's structure beside the `error` sentence, so scripts can branch on the rule. */
export function rejectionJson(r: Rejection): z.output<typeof rejectionSchema> {
  return { code: r.code, rule: r.rule, detail: r.detail, ...(r.sub ? { identifiers: r.sub } : {}) };
}
