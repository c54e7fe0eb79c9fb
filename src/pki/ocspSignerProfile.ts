// What a delegated OCSP signing certificate needs (RFC 6960 §4.2.2.2):
// - it is issued directly by the CA whose certificates it answers for (clients check that its
//   issuer is the CertID's issuer);
// - extendedKeyUsage id-kp-OCSPSigning (1.3.6.1.5.5.7.3.9), and keyUsage digitalSignature;
// - id-pkix-ocsp-nocheck (1.3.6.1.5.5.7.48.1.5, value NULL, non-critical) so that clients do not
//   try to check the signer's own revocation status — hence keep its validity short (days) and
//   rotate it;
// - not a CA.
// The responder puts it in BasicOCSPResponse.certs and names it by key hash (responderKeyHash()).

import type { CertificateProfile } from './certificate.js';

/** The profile fields that make a certificate a delegated OCSP signer. */
export const OCSP_SIGNER_EXTENSIONS = {
  keyUsage: ['digitalSignature'],
  extendedKeyUsage: ['ocspSigning'],
  ocspNoCheck: true,
} as const satisfies Pick<CertificateProfile, 'keyUsage' | 'extendedKeyUsage' | 'ocspNoCheck'>;

/** Completes a profile (serial, names, key, validity, AKI...) as a delegated OCSP signer's. */
export function ocspSignerProfile(base: Omit<CertificateProfile, 'keyUsage' | 'extendedKeyUsage' | 'ocspNoCheck' | 'ca'>): CertificateProfile {
  return {
    ...base,
    keyUsage: [...OCSP_SIGNER_EXTENSIONS.keyUsage],
    extendedKeyUsage: [...OCSP_SIGNER_EXTENSIONS.extendedKeyUsage],
    ocspNoCheck: true,
  };
}
