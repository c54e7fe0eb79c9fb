// Revoking at the upstream CA that signed a certificate (RFC 8555 revokeCert), as the core sees
// it: the revocation service asks through UpstreamRevoker (the runtime hands it the CA registry;
// the core never loads a backend) and sorts what went wrong into a caller's refusal, an upstream
// that cannot be reached (503, try again) and "it was revoked there already" (a retry after a crash
// between asking the upstream and recording it here, which is success).
import { AppError, badRequest, conflict, rateLimited } from './errors.js';
import type { RevocationReason } from './types.js';
import { DependencyUnavailableError, isDependencyDown } from './unavailable.js';

/** A certificate to revoke at an upstream CA. */
export interface UpstreamRevocation {
  certificatePem: string;
  serialHex: string;
  reason: RevocationReason;
}

export interface UpstreamRevoker {
  /**
   * Revokes at the CA's upstream; resolves once the upstream accepted. Throws UpstreamProblem for
   * what the upstream answered, a connection error when it could not be reached.
   */
  revokeUpstream(caId: string, request: UpstreamRevocation): Promise<void>;
}

/**
 * An upstream CA's answer other than success, as its backend throws it: the RFC 8555 problem type
 * (`alreadyRevoked`, or the whole `urn:ietf:params:acme:error:alreadyRevoked`), its detail, the
 * HTTP status and, for rateLimited or a 503, the upstream's Retry-After in seconds.
 */
export class UpstreamProblem extends Error {
  override readonly name = 'UpstreamProblem';
  constructor(
    readonly type: string,
    readonly detail: string,
    readonly status?: number,
    readonly retryAfterSeconds?: number,
    /** The whole problem document, when the upstream sent one. */
    readonly document: Record<string, unknown> | null = null,
  ) {
    super(`upstream refused: ${detail}${type ? ` (${type.replace(/^urn:ietf:params:acme:error:/, '')})` : ''}`);
  }

  /** The problem type without the ACME URN prefix: `alreadyRevoked`. */
  get shortType(): string {
    return this.type.replace(/^urn:ietf:params:acme:error:/, '');
  }
}

export type UpstreamRevocationOutcome = 'revoked' | 'alreadyRevoked';

// acme-client flattens a problem into an Error carrying only its detail: a backend that lets such
// an error through is still understood when the upstream said the certificate is revoked already.
const ALREADY_REVOKED = /already revoked/i;

/**
 * Asks the upstream to revoke and says how it went, or throws what the caller must be answered:
 * the upstream's refusal in words (a 400 for a reason it will not take, else a 409), a 429 with its
 * Retry-After, or DependencyUnavailableError (503 with Retry-After) when it cannot be reached or
 * answers with a server error. Never lets a backend's error through as a 500.
 */
export async function revokeAtUpstream(revoker: UpstreamRevoker, ca: { id: string; name: string }, request: UpstreamRevocation): Promise<UpstreamRevocationOutcome> {
  try {
    await revoker.revokeUpstream(ca.id, request);
    return 'revoked';
  } catch (e) {
    if (e instanceof AppError) throw e;
    if (isDependencyDown(e)) throw new DependencyUnavailableError('upstream CA', `the upstream CA of "${ca.name}" cannot be reached`, { cause: e });
    if (e instanceof UpstreamProblem) {
      const type = e.shortType;
      if (type === 'alreadyRevoked') return 'alreadyRevoked';
      if (type === 'rateLimited') throw rateLimited(`the upstream CA of "${ca.name}" is rate limiting: ${e.detail}`, e.retryAfterSeconds ?? 60);
      if (type === 'serverInternal' || (e.status !== undefined && e.status >= 500)) {
        throw new DependencyUnavailableError('upstream CA', `the upstream CA of "${ca.name}" failed: ${e.detail}`, { cause: e });
      }
      if (type === 'badRevocationReason') throw badRequest(`the upstream CA of "${ca.name}" does not revoke for reason ${request.reason}: ${e.detail}`);
      throw conflict(`the upstream CA of "${ca.name}" refused to revoke the certificate (${type}): ${e.detail}`);
    }
    const message = e instanceof Error ? e.message : String(e);
    if (ALREADY_REVOKED.test(message)) return 'alreadyRevoked';
    throw conflict(`the upstream CA of "${ca.name}" did not revoke the certificate: ${message}`);
  }
}
