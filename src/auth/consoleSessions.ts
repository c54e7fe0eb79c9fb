// The web console's sign-in: a REST credential's key exchanged for a short-lived session. The
// session is a JWT of its own audience carried only in an HttpOnly, Secure, SameSite=Strict cookie;
// every change made with it must also carry its CSRF token, which only the console's own pages can
// read (it is derived from the session's id, so nothing is stored). A session acts as its credential
// in every respect: the same authorization decision, and it ends when the credential is revoked,
// rotated past its grace, or signed out (remembered until the session would have expired anyway).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { parse as parseCookies } from 'cookie';
import type { OneTimeTokens } from '../core/oneTimeTokens.js';
import { deriveKey } from './secrets.js';
import { CONSOLE_SESSION, TokenIssuer, type TokenClaims } from './tokens.js';

/**
 * The cookie the session travels in (the REST API reads it as well as the console). `__Host-`: a
 * browser keeps it only if it is Secure, for Path=/ and without a Domain, so a sibling subdomain
 * cannot plant a session of its own under this name (session fixation).
 */
export const SESSION_COOKIE = '__Host-certgate_session';
/** The header a change made with a session carries its CSRF token in. */
export const CSRF_HEADER = 'x-csrf-token';

const ENDED = 'console-session-ended';

/** The session a browser sent in its Cookie header, if any. */
export const sessionCookieOf = (cookieHeader: string | undefined): string | undefined => (cookieHeader ? parseCookies(cookieHeader)[SESSION_COOKIE] || undefined : undefined);

export class ConsoleSessions {
  private readonly issuer: TokenIssuer;
  private readonly csrfKey: Buffer;

  constructor(
    masterKey: string,
    readonly ttlSeconds: number,
    private readonly ended: OneTimeTokens | null,
  ) {
    this.issuer = new TokenIssuer(masterKey, ttlSeconds, CONSOLE_SESSION);
    this.csrfKey = deriveKey(masterKey, 'console csrf');
  }

  async open(claims: Pick<TokenClaims, 'sub' | 'sv'>): Promise<{ token: string; exp: number; csrfToken: string }> {
    const { token, exp, jti } = await this.issuer.mint(claims);
    return { token, exp, csrfToken: this.csrfOf(jti) };
  }

  /** The session's claims, or why it is refused (one signed out counts as invalid). */
  async verify(token: string): Promise<TokenClaims | 'expired' | 'invalid'> {
    const claims = await this.issuer.verify(token);
    if (typeof claims === 'string') return claims;
    if (claims.jti === '' || (this.ended && (await this.ended.has(ENDED, claims.jti)))) return 'invalid';
    return claims;
  }

  csrfOf(jti: string): string {
    return createHmac('sha256', this.csrfKey).update(jti).digest('base64url');
  }

  /** Constant-time: the CSRF token presented is the one of this (verified) session. */
  csrfMatches(claims: TokenClaims, presented: string | undefined): boolean {
    if (!presented) return false;
    const expected = Buffer.from(this.csrfOf(claims.jti));
    const given = Buffer.from(presented);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** Signs the session out in every process (with Redis) until it would have expired. */
  async end(claims: TokenClaims): Promise<void> {
    await this.ended?.put(ENDED, claims.jti, this.ttlSeconds * 1000);
  }
}
