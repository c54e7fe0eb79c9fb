// Revoking and reinstating certificates, and telling whoever publishes status (CRL builder,
// OCSP cache) which certificate's status changed.
import { AUDIT } from '../audit/actions.js';
import type { Store } from '../store/types.js';
import { capabilitiesOf, requireCapability } from './caCapabilities.js';
import { badRequest, conflict, notFound } from './errors.js';
import { REVOCATION_REASON_CODES, type AuditContext, type CaRecord, type CertificateRecord, type RevocationReason } from './types.js';
import { revokeAtUpstream, type UpstreamRevoker, type UpstreamRevocationOutcome } from './upstreamRevocation.js';

export type RevocationListener = (caId: string, serialHex: string) => void;

/** Accepts RFC 5280 names in the spellings clients use: keyCompromise, key_compromise, KEY-COMPROMISE. */
export function parseRevocationReason(input: string | undefined | null): RevocationReason {
  if (input === undefined || input === null || input === '') return 'unspecified';
  const folded = input.replace(/[-_\s]/g, '').toLowerCase();
  const match = (Object.keys(REVOCATION_REASON_CODES) as RevocationReason[]).find((r) => r.toLowerCase() === folded);
  // removeFromCRL only means something in delta CRLs; a certificate cannot be revoked "for" it.
  if (!match || match === 'removeFromCRL') {
    const allowed = Object.keys(REVOCATION_REASON_CODES).filter((r) => r !== 'removeFromCRL');
    throw badRequest(`unknown revocation reason "${input}"; use one of ${allowed.join(', ')}`);
  }
  return match;
}

export class RevocationService {
  private readonly listeners: RevocationListener[] = [];

  /** `upstream`: how to revoke at the upstream of a CA whose revocations take effect there (the runtime's CA registry). */
  constructor(
    private readonly store: Store,
    private readonly upstream?: UpstreamRevoker,
  ) {}

  private async caOf(certificate: CertificateRecord): Promise<CaRecord> {
    const ca = await this.store.cas.get(certificate.caId);
    if (!ca) throw notFound(`CA ${certificate.caId} of certificate ${certificate.id} not found`);
    return ca;
  }

  onChange(listener: RevocationListener): void {
    this.listeners.push(listener);
  }

  private changed(certificate: CertificateRecord): void {
    for (const l of this.listeners) l(certificate.caId, certificate.serialNumber);
  }

  async revoke(
    certificateId: string,
    input: { reason: RevocationReason; invalidityDate?: Date | null },
    by: AuditContext,
    authorize: (caId: string) => void,
  ): Promise<CertificateRecord> {
    const existing = await this.store.certificates.get(certificateId);
    if (!existing) throw notFound(`certificate ${certificateId} not found`);
    authorize(existing.caId);
    const ca = await this.caOf(existing);
    if (input.reason === 'certificateHold') requireCapability(ca, 'suspend');
    const invalidityDate = input.invalidityDate ?? null;
    let upstream: UpstreamRevocationOutcome | undefined;
    if (capabilitiesOf(ca).revoke === 'upstream') {
      // Asked first, recorded after: a revocation the upstream refused must not show as done here.
      if (existing.revokedAt) throw conflict(`certificate ${certificateId} is already revoked (${existing.revocationReason})`);
      if (!this.upstream) throw new Error(`no upstream revoker for CA ${ca.id}: this process cannot revoke at its upstream`);
      upstream = await revokeAtUpstream(this.upstream, ca, { certificatePem: existing.certificatePem, serialHex: existing.serialNumber, reason: input.reason });
    }
    const result = await this.store.certificates.revoke(
      certificateId,
      { reason: input.reason, revokedAt: new Date(), invalidityDate },
      {
        ...by,
        action: AUDIT.certificateRevoke,
        target: certificateId,
        outcome: 'success',
        detail: {
          ca: existing.caId,
          serial: existing.serialNumber,
          reason: input.reason,
          ...(invalidityDate ? { invalidityDate: invalidityDate.toISOString() } : {}),
          ...(upstream ? { upstream } : {}),
        },
      },
    );
    if (!result) throw notFound(`certificate ${certificateId} not found`);
    if (!result.changed) throw conflict(`certificate ${certificateId} is already revoked (${result.certificate.revocationReason})`);
    this.changed(existing);
    return result.certificate;
  }

  /** Lifts a certificateHold. */
  async reinstate(certificateId: string, by: AuditContext, authorize: (caId: string) => void): Promise<CertificateRecord> {
    const existing = await this.store.certificates.get(certificateId);
    if (!existing) throw notFound(`certificate ${certificateId} not found`);
    authorize(existing.caId);
    requireCapability(await this.caOf(existing), 'suspend');
    const lifted = await this.store.certificates.reinstate(certificateId, {
      ...by,
      action: AUDIT.certificateReinstate,
      target: certificateId,
      outcome: 'success',
      detail: { ca: existing.caId, serial: existing.serialNumber },
    });
    if (!lifted) throw conflict(`certificate ${certificateId} is not on hold, so it cannot be reinstated`);
    this.changed(existing);
    return lifted;
  }
}
