// EST's credential: HTTP Basic, the username being the credential's name (so it is unique among
// live EST credentials) and the password a random secret of which only the hash is kept.
import { randomBytes } from 'node:crypto';
import type { CredentialKind } from '../../src/auth/credentialKinds.js';
import { badRequest } from '../../src/core/errors.js';

declare module '../../src/auth/credentialKinds.js' {
  interface PresentedCredentials {
    /** HTTP Basic: the username is the credential's name. */
    est: { username: string; password: string };
  }
}

export const estCredential: CredentialKind<'est'> = {
  type: 'est',
  storage: 'hashed',
  newSecret() {
    const password = randomBytes(32).toString('base64url');
    return { shown: password, secret: password };
  },
  claimedIdentity: ({ username }) => `est:${username}`,
  claimedBy: ({ username }) => `est-user:${username}`,
  async resolve({ username, password }, lookup) {
    const credential = await lookup.liveByName(username);
    if (!credential) return { reason: 'unknown' };
    return lookup.secretMatches(credential, password) ? { credential } : { reason: 'wrongSecret', credential };
  },
  async onCreate({ name }, lookup) {
    if (await lookup.liveByName(name)) throw badRequest(`name: an EST credential named ${name} exists (it is the Basic username, so it must be unique)`);
    return { permissions: [], admin: false };
  },
};
