// Short-lived bearer tokens for REST clients that trade a client id and secret for one (the emCA
// pattern), and the console's sessions: HS256 JWTs under keys derived from the master key, one key
// and audience each (a session is never a bearer token, nor the other way round), made and checked
// with jose.
import { randomBytes } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { deriveKey } from './secrets.js';

const ISSUER = 'certgate';

/** What a token is for: its audience, and the purpose its key is derived for. */
export interface TokenUse {
  audience: string;
  keyPurpose: string;
}

export const REST_BEARER: TokenUse = { audience: 'certgate-rest', keyPurpose: 'rest bearer tokens' };
export const CONSOLE_SESSION: TokenUse = { audience: 'certgate-console', keyPurpose: 'console sessions' };

export interface TokenClaims {
  /** The credential id. */
  sub: string;
  /** The credential's secret version when the token was made: a rotation ends it with the old secret. */
  sv: number;
  /** The token's own id (jti): a console session is ended by it. */
  jti: string;
  /** When it expires, in seconds since the epoch. */
  exp: number;
}

export class TokenIssuer {
  private readonly key: Uint8Array;

  constructor(
    masterKey: string,
    private readonly ttlSeconds: number,
    private readonly use: TokenUse = REST_BEARER,
  ) {
    this.key = deriveKey(masterKey, use.keyPurpose);
  }

  async mint(claims: Pick<TokenClaims, 'sub' | 'sv'>): Promise<{ token: string; exp: number; jti: string }> {
    const exp = Math.floor(Date.now() / 1000) + this.ttlSeconds;
    const jti = randomBytes(16).toString('base64url');
    const token = await new SignJWT({ sv: claims.sv })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(claims.sub)
      .setJti(jti)
      .setIssuer(ISSUER)
      .setAudience(this.use.audience)
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(this.key);
    return { token, exp, jti };
  }

  /** The claims, or why the token is refused. */
  async verify(token: string): Promise<TokenClaims | 'expired' | 'invalid'> {
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: ISSUER, audience: this.use.audience, algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || typeof payload.sv !== 'number') return 'invalid';
      // Tokens minted before tokens carried an id have none: they are bearer tokens, never sessions.
      return { sub: payload.sub, sv: payload.sv, jti: typeof payload.jti === 'string' ? payload.jti : '', exp: payload.exp ?? 0 };
    } catch (error) {
      return error instanceof errors.JWTExpired ? 'expired' : 'invalid';
    }
  }
}

/** A compact JWS has three base64url parts; anything else is not worth handing to jose. */
export const looksLikeJwt = (text: string): boolean => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(text);
