// Short-lived bearer tokens for REST clients that trade a client id and secret for one (the emCA
// pattern): HS256 JWTs under a key derived from the master key, made and checked with jose.
import { errors, jwtVerify, SignJWT } from 'jose';
import { deriveKey } from './secrets.js';

const ISSUER = 'certgate';
const AUDIENCE = 'certgate-rest';

export interface TokenClaims {
  /** The credential id. */
  sub: string;
  /** The credential's secret version when the token was made: a rotation ends it with the old secret. */
  sv: number;
}

export class TokenIssuer {
  private readonly key: Uint8Array;

  constructor(
    masterKey: string,
    private readonly ttlSeconds: number,
  ) {
    this.key = deriveKey(masterKey, 'rest bearer tokens');
  }

  async mint(claims: TokenClaims): Promise<{ token: string; exp: number }> {
    const exp = Math.floor(Date.now() / 1000) + this.ttlSeconds;
    const token = await new SignJWT({ sv: claims.sv })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(this.key);
    return { token, exp };
  }

  /** The claims, or why the token is refused. */
  async verify(token: string): Promise<TokenClaims | 'expired' | 'invalid'> {
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || typeof payload.sv !== 'number') return 'invalid';
      return { sub: payload.sub, sv: payload.sv };
    } catch (error) {
      return error instanceof errors.JWTExpired ? 'expired' : 'invalid';
    }
  }
}

/** A compact JWS has three base64url parts; anything else is not worth handing to jose. */
export const looksLikeJwt = (text: string): boolean => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(text);
