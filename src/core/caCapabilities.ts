// What each kind of CA backend can do, in one table. Routes, the CLI, products and the status
// services ask here before they act, and refuse in words what a backend cannot do (step-ca's
// optional interfaces, made explicit so a caller need not hold a loaded backend to know). It lives
// in the core, not in src/ca, because the core's services decide with it and never load a backend.
import { AppError } from './errors.js';
import type { CaBackendKind, CaRecord } from './types.js';

export interface CaCapabilities {
  /** certgate computes the signature (with a key it holds, or in a token it drives). */
  signsLocally: boolean;
  /** certgate publishes this CA's CRL. */
  crl: boolean;
  /** certgate's OCSP responder answers for this CA's certificates. */
  ocsp: boolean;
  /** Where a revocation takes effect: certgate's own CRL/OCSP, or the upstream CA (asked first). */
  revoke: 'local' | 'upstream';
  /** Certificates can be put on hold (certificateHold) and reinstated. */
  suspend: boolean;
}

export const CA_CAPABILITIES: Readonly<Record<CaBackendKind, Readonly<CaCapabilities>>> = {
  local: { signsLocally: true, crl: true, ocsp: true, revoke: 'local', suspend: true },
  pkcs11: { signsLocally: true, crl: true, ocsp: true, revoke: 'local', suspend: true },
  // RFC 8555 has revocation but no hold: a certificate revoked upstream stays revoked.
  'upstream-acme': { signsLocally: false, crl: false, ocsp: false, revoke: 'upstream', suspend: false },
};

export const BACKEND_NAMES: Readonly<Record<CaBackendKind, string>> = {
  local: 'a software key',
  pkcs11: 'a PKCS#11 token',
  'upstream-acme': 'an upstream ACME CA',
};

export function capabilitiesOf(ca: Pick<CaRecord, 'backend'>): Readonly<CaCapabilities> {
  return CA_CAPABILITIES[ca.backend];
}

/** The capabilities as the REST API and the CLI's --json show them (snake_case, as the rest of their answers). */
export interface CapabilitiesView {
  sign_locally: boolean;
  crl: boolean;
  ocsp: boolean;
  revoke: 'local' | 'upstream';
  suspend: boolean;
}

export function capabilitiesView(ca: Pick<CaRecord, 'backend'>): CapabilitiesView {
  const c = capabilitiesOf(ca);
  return { sign_locally: c.signsLocally, crl: c.crl, ocsp: c.ocsp, revoke: c.revoke, suspend: c.suspend };
}

export type CapabilityName = 'signsLocally' | 'crl' | 'ocsp' | 'suspend';

const WHAT: Record<CapabilityName, string> = {
  signsLocally: 'sign with a key certgate drives',
  crl: 'have its CRL published by certgate',
  ocsp: 'have certgate answer OCSP for it',
  suspend: 'suspend (hold) certificates',
};

/**
 * A request the CA's backend cannot carry out: a conflict with the CA's nature (REST 409; the CLI
 * prints the words). A class of its own so that a protocol with a word for it answers in that word
 * (ACME's badRevocationReason for a hold), not as any other conflict.
 */
export class CapabilityRefusal extends AppError {
  constructor(
    ca: Pick<CaRecord, 'name' | 'backend'>,
    readonly capability: CapabilityName,
  ) {
    super('conflict', `CA "${ca.name}" is backed by ${BACKEND_NAMES[ca.backend]} and cannot ${WHAT[capability]}`);
  }
}

/** A request the CA's backend cannot carry out: a conflict with the CA's nature (REST 409; the CLI prints the words). */
export function capabilityRefusal(ca: Pick<CaRecord, 'name' | 'backend'>, capability: CapabilityName): AppError {
  return new CapabilityRefusal(ca, capability);
}

/** Throws capabilityRefusal when the CA's backend lacks `capability`. */
export function requireCapability(ca: Pick<CaRecord, 'name' | 'backend'>, capability: CapabilityName): void {
  if (!capabilitiesOf(ca)[capability]) throw capabilityRefusal(ca, capability);
}
