// REST's credential: a `cg_<id>_<secret>` API key, or a bearer token the core minted for one
// (POST /v1/auth/token). Only the key's hash is kept. A REST credential carries permissions.
import { randomBytes } from 'node:crypto';
import type { CredentialKind } from '../../src/auth/credentialKinds.js';
import { parseApiKey } from '../../src/auth/secrets.js';
import { looksLikeJwt } from '../../src/auth/tokens.js';
import { badRequest } from '../../src/core/errors.js';
import type { Permission } from '../../src/core/types.js';

declare module '../../src/auth/credentialKinds.js' {
  interface PresentedCredentials {
    /**
     * A `cg_` API key or a bearer token from /v1/auth/token; or, with `session`, a console session
     * (from its cookie), which is never accepted as a bearer token nor a bearer token as one.
     */
    rest: { bearer: string; session?: boolean };
  }
}

export const restCredential: CredentialKind<'rest'> = {
  type: 'rest',
  storage: 'hashed',
  newSecret(id) {
    const secret = randomBytes(32).toString('base64url');
    return { shown: `cg_${id}_${secret}`, secret };
  },
  // A bearer token's claims are not yet verified: it names no one the throttle may count.
  claimedIdentity({ bearer }) {
    const key = parseApiKey(bearer);
    return key ? `rest:${key.id}` : null;
  },
  async resolve({ bearer, session }, lookup) {
    if (bearer === '') return { reason: 'missing' };
    const key = session ? null : parseApiKey(bearer);
    if (key) {
      const credential = await lookup.byId(key.id);
      if (!credential) return { reason: 'unknown' };
      return lookup.secretMatches(credential, key.secret) ? { credential } : { reason: 'wrongSecret', credential };
    }
    if (!looksLikeJwt(bearer)) return { reason: 'malformed' };
    const claims = await (session ? lookup.verifySession(bearer) : lookup.verifyToken(bearer));
    if (claims === 'expired') return { reason: 'tokenExpired' };
    if (claims === 'invalid') return { reason: 'tokenInvalid' };
    const credential = await lookup.byId(claims.sub);
    if (!credential) return { reason: 'unknown' };
    const current = claims.sv === credential.secretVersion;
    const inGrace = claims.sv === credential.secretVersion - 1 && lookup.previousLive(credential);
    return current || inGrace ? { credential } : { reason: 'secretRotated', credential };
  },
  /** Without permissions, it reads and issues on its products' CAs. */
  async onCreate({ products, permissions, admin }, lookup) {
    if (permissions?.length || admin) return { permissions: permissions ?? [], admin: !!admin };
    if (products === '*') throw badRequest('permissions: a REST credential for every product needs permissions (read,issue:<ca>) or admin');
    const cas = new Set<string>();
    for (const id of products) {
      const ca = await lookup.caOfProduct(id);
      if (ca) cas.add(ca);
    }
    return { permissions: [...cas].map((ca): Permission => ({ ca, actions: ['read', 'issue'] })), admin: false };
  },
};
