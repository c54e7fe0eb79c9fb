// The rules of Store.recordIssuance, shared by the Kysely store and the SQLite hot path: both read
// the request's issuanceState row in their write transaction and ask issuanceStep what to do.
import { assertTransitions } from '../core/requestStatus.js';
import type { RequestStatus } from '../core/types.js';
import { InvalidRequestStateError, RequestNotFoundError, SerialMismatchError, StoreError } from './errors.js';
import type { NewCertificate } from './types.js';

export interface IssuanceStateRow {
  status: string;
  certificate_id: string | null;
  serial_number: string | null;
}

/** Before any read: a certificate that names another request is the caller's bug. */
export function checkCertificateNamesRequest(requestId: string, certificate: NewCertificate): void {
  if (certificate.requestId !== null && certificate.requestId !== requestId) {
    throw new StoreError(`certificate ${certificate.id} names request ${certificate.requestId}, not ${requestId}`);
  }
}

/**
 * 'alreadyIssued' when a certificate was stored for the request before (a job ran twice); 'store'
 * when this certificate is the one. Throws for anything else: nothing may be written then.
 */
export function issuanceStep(
  requestId: string,
  state: IssuanceStateRow | undefined,
  certificate: NewCertificate,
): 'alreadyIssued' | 'store' {
  if (!state) throw new RequestNotFoundError(requestId);
  if (state.status === 'issued') return 'alreadyIssued';
  if (state.status !== 'signing') throw new InvalidRequestStateError(requestId, state.status);
  assertTransitions([state.status as RequestStatus], 'issued');
  // The serial was allocated (and may have been handed to the CA) by the claim; storing another
  // would leave a signed certificate with the claimed serial that the store knows nothing of.
  if (!certificate.serialChosenUpstream && state.serial_number !== certificate.serialNumber) {
    throw new SerialMismatchError(requestId, state.serial_number, certificate.serialNumber);
  }
  return 'store';
}
