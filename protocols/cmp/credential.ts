// CMP's credential: the shared secret of MAC-based protection (RFC 9483 §3.2; PBMAC1 or
// PasswordBasedMac). The client names it by senderKID, which carries the credential's name (so the
// name is unique among live cmp credentials); the secret is sealed, not hashed, because checking a
// MAC (and protecting the answer with one) needs the secret itself.
import { randomBytes } from 'node:crypto';
import type { CredentialKind } from '../../src/auth/credentialKinds.js';
import { badRequest } from '../../src/core/errors.js';

declare module '../../src/auth/credentialKinds.js' {
  interface PresentedCredentials {
    /**
     * The senderKID of a MAC-protected PKIMessage; `macMatches` checks the message's protection
     * with a candidate secret (the current one, then the previous one in its grace window).
     */
    cmp: { reference: string; macMatches(secret: string): boolean };
  }
}

export const cmpCredential: CredentialKind<'cmp'> = {
  type: 'cmp',
  storage: 'sealed',
  newSecret() {
    // base64url: typed into `openssl cmp -secret pass:…` and device configurations as it is shown.
    const secret = randomBytes(32).toString('base64url');
    return { shown: secret, secret };
  },
  claimedIdentity: ({ reference }) => `cmp:${reference}`,
  claimedBy: ({ reference }) => `cmp-reference:${reference}`,
  async resolve({ reference, macMatches }, lookup) {
    const credential = await lookup.liveByName(reference);
    if (!credential) return { reason: 'unknown' };
    return lookup.openSecrets(credential).some((secret) => macMatches(secret)) ? { credential } : { reason: 'wrongSecret', credential };
  },
  async onCreate({ name }, lookup) {
    if (await lookup.liveByName(name)) throw badRequest(`name: a CMP credential named ${name} exists (it is the reference clients send as senderKID, so it must be unique)`);
    return { permissions: [], admin: false };
  },
};
