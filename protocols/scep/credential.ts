// SCEP's static credential: a challengePassword bound to products. It names no credential, so it
// is tried against the live ones of the product the label names; it is sealed, not hashed, so the
// operator can be shown it again to hand to an MDM.
import { randomBytes } from 'node:crypto';
import type { CredentialKind } from '../../src/auth/credentialKinds.js';

declare module '../../src/auth/credentialKinds.js' {
  interface PresentedCredentials {
    /** The challengePassword of a CSR; the product comes from the context. */
    scep: { challenge: string };
  }
}

export const scepCredential: CredentialKind<'scep'> = {
  type: 'scep',
  storage: 'sealed',
  newSecret() {
    // Hex: a challengePassword is often a PrintableString, which has no '_'.
    const challenge = randomBytes(16).toString('hex');
    return { shown: challenge, secret: challenge };
  },
  // Counted per source only, so that a stranger cannot lock a whole product's devices out by
  // sending bad challenges.
  claimedIdentity: () => null,
  async resolve({ challenge }, lookup, context) {
    if (context.productId === undefined) return { reason: 'malformed' };
    const bound = await lookup.boundTo(context.productId);
    const credential = bound.find((c) => lookup.secretMatches(c, challenge));
    return credential ? { credential } : { reason: 'wrongSecret' };
  },
};
