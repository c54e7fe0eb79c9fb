// What a subscriber is told: the event types, and the payload each carries. Events are made from
// records the store already committed (the audit entry of a state change, a certificate crossing
// an expiry threshold), so what a payload says is what the store says.
import { AUDIT } from '../audit/actions.js';
import type { AuditEntry, CertificateRecord, EnrollmentRequest } from '../core/types.js';

export const WEBHOOK_EVENT_TYPES = [
  'certificate.issued',
  'certificate.revoked',
  'certificate.expiring',
  'request.pending_approval',
  'request.approved',
  'request.declined',
  'dcv.failed',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The audit action each event comes from; `certificate.expiring` (the expiry scan) and `dcv.failed` (the validator) have none. */
export const EVENT_OF_AUDIT_ACTION: Readonly<Record<string, WebhookEventType>> = {
  [AUDIT.certificateIssue]: 'certificate.issued',
  [AUDIT.certificateRevoke]: 'certificate.revoked',
  [AUDIT.requestAwaitApproval]: 'request.pending_approval',
  [AUDIT.requestApprove]: 'request.approved',
  [AUDIT.requestDecline]: 'request.declined',
};

/** An event as the outbox keeps it: `id` is the Standard Webhooks message id (webhook-id). */
export interface WebhookEvent {
  id: string;
  type: WebhookEventType;
  productId: string | null;
  occurredAt: Date;
  data: Record<string, unknown>;
}

/** The message id of the event an audit entry makes: the trail's sequence number is unique and never reused. */
export const auditEventId = (seq: number): string => `msg_a${seq}`;
/** Of `certificate.expiring`: one per certificate and threshold, whichever process finds it first. */
export const expiryEventId = (certificateId: string, days: number): string => `msg_x${certificateId}_${days}d`;

export function certificateData(c: CertificateRecord): Record<string, unknown> {
  return {
    id: c.id,
    serialNumber: c.serialNumber,
    caId: c.caId,
    productId: c.productId,
    requestId: c.requestId,
    commonName: c.commonName,
    names: [...c.sanDns, ...c.sanIp, ...c.sanEmail, ...c.sanUri],
    notBefore: c.validFrom.toISOString(),
    notAfter: c.validTo.toISOString(),
  };
}

export function requestData(r: EnrollmentRequest): Record<string, unknown> {
  return { id: r.id, productId: r.productId, caId: r.caId, requester: r.requester, protocol: r.protocol, status: r.status };
}

/** What an event's payload is made of, read from the store when the event is made. */
export interface EventSources {
  certificate(id: string): Promise<CertificateRecord | undefined>;
  request(id: string): Promise<EnrollmentRequest | undefined>;
}

/**
 * The event an audit entry stands for, or null: not an event type, not a success, or its subject
 * gone. The payload shows the subject as it is now (a certificate revoked since it was issued
 * shows revoked in its `certificate.issued` delivery too), with what the entry itself recorded.
 */
export async function eventOfAuditEntry(entry: AuditEntry, sources: EventSources): Promise<WebhookEvent | null> {
  const type = EVENT_OF_AUDIT_ACTION[entry.action];
  if (!type || entry.outcome !== 'success') return null;
  const base = { id: auditEventId(entry.seq), type, occurredAt: entry.at };
  if (type === 'certificate.issued' || type === 'certificate.revoked') {
    const certificate = await sources.certificate(entry.target);
    if (!certificate) return null;
    const revocation = type === 'certificate.revoked' ? { revocation: { reason: certificate.revocationReason ?? entry.detail.reason ?? null, revokedAt: certificate.revokedAt?.toISOString() ?? null } } : {};
    return { ...base, productId: certificate.productId, data: { certificate: certificateData(certificate), ...revocation } };
  }
  const request = await sources.request(entry.target);
  if (!request) return null;
  const by = type === 'request.pending_approval' ? {} : { by: entry.actor };
  const reason = type === 'request.declined' ? { reason: entry.detail.reason ?? null } : {};
  return { ...base, productId: request.productId, data: { request: requestData(request), ...by, ...reason } };
}
