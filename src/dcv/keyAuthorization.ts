// Key authorizations (RFC 8555 §8.1): token "." base64url(JWK thumbprint). The front-end computes
// them; here they are only checked for shape (a caller's mix-up of token and key authorization would
// otherwise surface as a baffling "wrong content" for the client) and hashed for dns-01 and tls-alpn-01.
import { createHash } from 'node:crypto';
import { fail } from './problems.js';
import type { Failure } from './types.js';

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** SHA-256 of the key authorization: the acmeIdentifier value of tls-alpn-01 (RFC 8737 §3). */
export function keyAuthorizationHash(keyAuthorization: string): Buffer {
  return createHash('sha256').update(keyAuthorization, 'utf8').digest();
}

/** base64url(SHA-256(key authorization)): the TXT value of dns-01 (RFC 8555 §8.4). */
export function keyAuthorizationDigest(keyAuthorization: string): string {
  return keyAuthorizationHash(keyAuthorization).toString('base64url');
}

/**
 * null when the token is base64url (it becomes a URL path segment in http-01, so nothing else may
 * pass) and the key authorization is that token, a dot and a base64url thumbprint.
 */
export function challengeInputProblem(token: string, keyAuthorization: string): Failure | null {
  if (token.length > 256 || !BASE64URL.test(token)) return fail('malformed', 'the challenge token is not base64url');
  const thumbprint = keyAuthorization.startsWith(`${token}.`) ? keyAuthorization.slice(token.length + 1) : '';
  if (thumbprint.length > 256 || !BASE64URL.test(thumbprint)) return fail('malformed', 'the key authorization is not the token, a dot and a base64url thumbprint');
  return null;
}
