// An external account binding (RFC 8555 §7.3.4) built by hand, so a test can bind any account key
// to any EAB credential at any directory's newAccount URL, as a client holding the HMAC key could.
import { FlattenedSign, type FlattenedJWS, type JWK } from 'jose';

export async function eabBinding(eab: { kid: string; hmacKey: string }, accountJwk: JWK, newAccountUrl: string): Promise<FlattenedJWS> {
  return new FlattenedSign(new TextEncoder().encode(JSON.stringify(accountJwk)))
    .setProtectedHeader({ alg: 'HS256', kid: eab.kid, url: newAccountUrl })
    .sign(Buffer.from(eab.hmacKey, 'base64url'));
}
