// Certman REST API shapes: snake_case, ISO-8601 times.
import type { CaRecord, CertificateRecord, EnrollmentRequest, ProductRecord, Rejection } from '../../src/core/types.js';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function caJson(ca: CaRecord, withPem = false) {
  return {
    id: ca.id,
    name: ca.name,
    type: ca.kind,
    parent_id: ca.parentId,
    subject: ca.subject,
    key_algorithm: ca.keyAlgorithm,
    valid_from: iso(ca.notBefore),
    valid_to: iso(ca.notAfter),
    created_at: iso(ca.createdAt),
    ...(withPem ? { certificate_pem: ca.certificatePem } : {}),
  };
}

export function certificateJson(cert: CertificateRecord, chainPem?: readonly string[]) {
  const now = Date.now();
  return {
    id: cert.id,
    ca_id: cert.caId,
    product_id: cert.productId,
    request_id: cert.requestId,
    serial_number: cert.serialNumber,
    common_name: cert.commonName,
    san_dns: cert.sanDns,
    san_ip: cert.sanIp,
    san_email: cert.sanEmail,
    san_uri: cert.sanUri,
    key_algorithm: cert.keyAlgorithm,
    valid_from: iso(cert.validFrom),
    valid_to: iso(cert.validTo),
    status: cert.revokedAt ? 'revoked' : cert.validTo.getTime() < now ? 'expired' : 'active',
    certificate_pem: cert.certificatePem,
    ...(chainPem ? { chain_pem: chainPem.join('') } : {}),
    revoked_at: iso(cert.revokedAt),
    revocation_reason: cert.revocationReason,
    invalidity_date: iso(cert.invalidityDate),
    created_at: iso(cert.createdAt),
  };
}

export function revokedJson(cert: CertificateRecord) {
  return {
    id: cert.id,
    common_name: cert.commonName,
    serial_number: cert.serialNumber,
    revoked_at: iso(cert.revokedAt),
    revocation_reason: cert.revocationReason,
    invalidity_date: iso(cert.invalidityDate),
  };
}

export function requestJson(req: EnrollmentRequest) {
  return {
    id: req.id,
    product_id: req.productId,
    ca_id: req.caId,
    protocol: req.protocol,
    status: req.status,
    status_reason: req.statusReason,
    ...(req.rejection ? { rejection: rejectionJson(req.rejection) } : {}),
    certificate_id: req.certificateId,
    approved_by: req.approvedBy,
    created_at: iso(req.createdAt),
    updated_at: iso(req.updatedAt),
  };
}

export function productJson(p: ProductRecord) {
  const t = p.template;
  return {
    id: p.id,
    name: p.name,
    ca_id: p.caId,
    key_algorithms: t.keyAlgorithms,
    default_validity_days: t.defaultValidityDays,
    max_validity_days: t.maxValidityDays,
    allowed_dns_suffixes: t.allowedDnsSuffixes,
    allow_wildcards: t.allowWildcards,
    allow_ip_sans: t.allowIpSans,
    allow_email_sans: t.allowEmailSans,
    allow_uri_sans: t.allowUriSans,
    extended_key_usages: t.extendedKeyUsages,
    requires_approval: t.requiresApproval,
    created_at: iso(p.createdAt),
  };
}

/** A refusal's structure beside the `error` sentence, so scripts can branch on the rule. */
export function rejectionJson(r: Rejection) {
  return { code: r.code, rule: r.rule, detail: r.detail, ...(r.sub ? { identifiers: r.sub } : {}) };
}
