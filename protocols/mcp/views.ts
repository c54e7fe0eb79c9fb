// Records as MCP tools return them: plain JSON an agent reads, never a private key or a secret.
import type { CertificateRecord, EnrollmentRequest, InventoryRecord, Rejection } from '../../src/core/types.js';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** Revoked first (a certificate on hold is revoked with reason certificateHold), then expired once validTo has passed. */
export const statusAt = (c: { revokedAt: Date | null; validTo: Date }, now: number): 'active' | 'revoked' | 'expired' =>
  c.revokedAt ? 'revoked' : c.validTo.getTime() <= now ? 'expired' : 'active';

export function certificateView(c: CertificateRecord | InventoryRecord, now: number) {
  return {
    id: c.id,
    status: statusAt(c, now),
    commonName: c.commonName,
    sanDns: c.sanDns,
    sanIp: c.sanIp,
    sanEmail: c.sanEmail,
    sanUri: c.sanUri,
    serialNumber: c.serialNumber,
    keyAlgorithm: c.keyAlgorithm,
    validFrom: iso(c.validFrom),
    validTo: iso(c.validTo),
    caId: c.caId,
    productId: c.productId,
    requestId: c.requestId,
    source: 'source' in c ? c.source : 'issued',
    issuer: 'issuer' in c ? c.issuer : null,
    revokedAt: iso(c.revokedAt),
    revocationReason: c.revocationReason,
    invalidityDate: iso(c.invalidityDate),
    owner: c.owner,
    notes: c.notes,
    customFields: c.customFields,
    supersedes: c.supersedes,
    renewedBy: c.renewedBy,
    createdAt: iso(c.createdAt),
  };
}

export function requestView(r: EnrollmentRequest) {
  return {
    id: r.id,
    status: r.status,
    statusReason: r.statusReason,
    ...(r.rejection ? { rejection: rejectionView(r.rejection) } : {}),
    productId: r.productId,
    caId: r.caId,
    protocol: r.protocol,
    requester: r.requester,
    approvedBy: r.approvedBy,
    certificateId: r.certificateId,
    keySource: r.details.keySource,
    supersedes: r.details.supersedes,
    createdAt: iso(r.createdAt),
    updatedAt: iso(r.updatedAt),
  };
}

export const rejectionView = (r: Rejection) => ({ code: r.code, rule: r.rule, detail: r.detail });
