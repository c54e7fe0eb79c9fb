// ACME's credential: External Account Binding (RFC 8555 §7.3.4). The key id is the credential's
// id; the HMAC key is sealed, not hashed, because checking the client's MAC needs the key itself.
import { randomBytes } from 'node:crypto';
import type { CredentialKind } from '../../src/auth/credentialKinds.js';

declare module '../../src/auth/credentialKinds.js' {
  interface PresentedCredentials {
    /** An EAB key id; `verify` checks the client's MAC with the key (RFC 8555 §7.3.4). */
    acme: { kid: string; verify: (hmacKey: Buffer) => boolean | Promise<boolean> };
  }
}

export const acmeCredential: CredentialKind<'acme'> = {
  type: 'acme',
  storage: 'sealed',
  newSecret() {
    // The CA gives the client a MAC key, base64url; HS256 wants 256 bits.
    const hmacKey = randomBytes(32).toString('base64url');
    return { shown: hmacKey, secret: hmacKey };
  },
  claimedIdentity: ({ kid }) => `acme:${kid}`,
  claimedBy: ({ kid }) => `acme-kid:${kid}`,
  async resolve({ kid, verify }, lookup) {
    const credential = await lookup.byId(kid);
    if (!credential) return { reason: 'unknown' };
    if (credential.type !== 'acme') return { reason: 'wrongType', credential };
    for (const key of lookup.openSecrets(credential)) {
      if (await verify(Buffer.from(key, 'base64url'))) return { credential };
    }
    return { reason: 'wrongSecret', credential };
  },
};
