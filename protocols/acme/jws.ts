// Verifying ACME's flattened JWS requests (RFC 8555 §6.2-6.5) with jose: the protected header's
// alg, url, nonce and the exclusive jwk/kid, then the signature.
import { calculateJwkThumbprint, decodeProtectedHeader, flattenedVerify, importJWK, type FlattenedJWSInput, type JWK, type JWSHeaderParameters } from 'jose';
import { AcmeProblem, malformed, unauthorized } from './problems.js';

export const JWS_ALGORITHMS = ['RS256', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
const EAB_ALGORITHMS = ['HS256', 'HS384', 'HS512'];

export interface ProtectedHeader extends JWSHeaderParameters {
  alg: string;
  nonce: string;
  url: string;
  jwk?: JWK;
  kid?: string;
}

/** A request whose signature verified under `jwk`; `kid` set when it named an account. */
export interface VerifiedJws {
  header: ProtectedHeader;
  payload: Buffer;
  jwk: JWK;
}

function asFlattened(body: unknown): FlattenedJWSInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw malformed('the request body must be a flattened JWS object');
  const b = body as Record<string, unknown>;
  if (typeof b.protected !== 'string' || typeof b.payload !== 'string' || typeof b.signature !== 'string') {
    throw malformed('a flattened JWS needs "protected", "payload" and "signature" strings');
  }
  if ('header' in b) throw malformed('an unprotected JWS header is not allowed');
  return { protected: b.protected, payload: b.payload, signature: b.signature };
}

function headerOf(jws: FlattenedJWSInput): ProtectedHeader {
  let header: JWSHeaderParameters;
  try {
    header = decodeProtectedHeader(jws) as JWSHeaderParameters;
  } catch {
    throw malformed('the protected header is not base64url JSON');
  }
  if (typeof header.alg !== 'string') throw malformed('the protected header has no alg');
  if (typeof header.url !== 'string') throw malformed('the protected header has no url');
  return header as ProtectedHeader;
}

/** The public key of a JWK, refusing private keys, weak RSA and unknown types. */
export async function publicKeyOf(jwk: unknown, alg: string) {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw malformed('jwk must be a JSON object');
  const k = jwk as JWK;
  if ('d' in k) throw new AcmeProblem('badPublicKey', 'the jwk holds a private key');
  if (k.kty === 'RSA' && typeof k.n === 'string' && Buffer.from(k.n, 'base64url').length * 8 < 2048) {
    throw new AcmeProblem('badPublicKey', 'RSA account keys must have at least 2048 bits');
  }
  try {
    return await importJWK(k, alg);
  } catch (e) {
    throw new AcmeProblem('badPublicKey', `the jwk does not fit alg ${alg}: ${(e as Error).message}`);
  }
}

type PublicKey = Awaited<ReturnType<typeof importJWK>>;

/**
 * Stored account keys as imported for verification, by their alg and JWK (so a key change, which
 * changes the JWK, is never answered from here). Importing an EC key costs about as much as
 * checking the signature, and an account signs every request of an order with the same key.
 */
const accountKeys = new Map<string, Promise<PublicKey>>();
const ACCOUNT_KEYS_MAX = 10_000;

function accountKeyOf(jwk: JWK, alg: string): Promise<PublicKey> {
  const id = `${alg} ${JSON.stringify(jwk)}`;
  let key = accountKeys.get(id);
  if (!key) {
    if (accountKeys.size >= ACCOUNT_KEYS_MAX) accountKeys.clear();
    const imported = publicKeyOf(jwk, alg);
    key = imported;
    accountKeys.set(id, imported);
    imported.catch(() => accountKeys.delete(id));
  }
  return key;
}

/** RFC 7638 thumbprint; a value that is no public key is malformed. */
export async function thumbprintOf(jwk: JWK): Promise<string> {
  try {
    return await calculateJwkThumbprint(jwk, 'sha256');
  } catch (e) {
    throw malformed(`not a usable JWK: ${(e as Error).message}`);
  }
}

/**
 * Checks the header against the URL the request came to and verifies the signature, with the jwk
 * it carries or (kid) the key `accountKey` returns. The nonce is the caller's: it is checked after
 * the signature, so that a forged request cannot burn a client's nonce.
 */
export async function verifyJws(body: unknown, url: string, accountKey: (kid: string) => Promise<JWK>): Promise<VerifiedJws> {
  const jws = asFlattened(body);
  const header = headerOf(jws);
  if (!(JWS_ALGORITHMS as readonly string[]).includes(header.alg)) {
    throw new AcmeProblem('badSignatureAlgorithm', `alg ${header.alg} is not supported; use one of ${JWS_ALGORITHMS.join(', ')}`, { extra: { algorithms: [...JWS_ALGORITHMS] } });
  }
  if (header.url !== url) throw unauthorized(`the url header ${JSON.stringify(header.url)} is not the URL this request was sent to (${url})`);
  if (typeof header.nonce !== 'string' || header.nonce === '') throw new AcmeProblem('badNonce', 'the protected header has no nonce');
  if ((header.jwk === undefined) === (header.kid === undefined)) throw malformed('the protected header must carry exactly one of jwk and kid');
  if (header.kid !== undefined && typeof header.kid !== 'string') throw malformed('kid must be the account URL, a string');
  const jwk = header.jwk ?? (await accountKey(header.kid as string));
  // The account's own key was checked when it was registered: one that does not fit alg means
  // another key signed (an account key rolled over, say), not a key this server refuses.
  const key = header.jwk !== undefined ? await publicKeyOf(jwk, header.alg) : await accountKeyOf(jwk, header.alg).catch(() => Promise.reject(malformed('the JWS signature does not verify')));
  let payload: Uint8Array;
  try {
    ({ payload } = await flattenedVerify(jws, key, { algorithms: [header.alg] }));
  } catch {
    throw malformed('the JWS signature does not verify');
  }
  return { header, payload: Buffer.from(payload), jwk };
}

/** The payload as JSON (POST-as-GET has none: {}). */
export function payloadJson(v: VerifiedJws): Record<string, unknown> {
  if (v.payload.length === 0) return {};
  try {
    const value = JSON.parse(v.payload.toString('utf8')) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch {
    throw malformed('the JWS payload must be a JSON object');
  }
}

export function requirePostAsGet(v: VerifiedJws): void {
  if (v.payload.length !== 0) throw malformed('POST-as-GET requests carry an empty payload');
}

/**
 * RFC 8555 §7.3.4: the external account binding, a JWS over the account key made with the EAB
 * HMAC key. Returns its kid, and a check of the MAC for the credential service to call with the key.
 */
export function parseEab(eab: unknown, url: string, accountJwk: JWK): { kid: string; verify: (hmacKey: Buffer) => Promise<boolean> } {
  const jws = asFlattened(eab);
  const header = headerOf(jws);
  if (!EAB_ALGORITHMS.includes(header.alg)) throw malformed(`externalAccountBinding alg must be one of ${EAB_ALGORITHMS.join(', ')}`);
  if (typeof header.kid !== 'string' || !header.kid) throw malformed('externalAccountBinding has no kid');
  if (header.url !== url) throw malformed('externalAccountBinding url must be the newAccount URL');
  if (header.nonce !== undefined || header.jwk !== undefined) throw malformed('externalAccountBinding carries neither nonce nor jwk');
  return {
    kid: header.kid,
    verify: async (hmacKey) => {
      try {
        const { payload } = await flattenedVerify(jws, hmacKey, { algorithms: [header.alg] });
        const bound = JSON.parse(Buffer.from(payload).toString('utf8')) as JWK;
        return (await thumbprintOf(bound)) === (await thumbprintOf(accountJwk));
      } catch {
        return false;
      }
    },
  };
}

/** RFC 8555 §7.3.5: the inner JWS of a key change, signed by the new key. */
export async function verifyKeyChange(inner: unknown, url: string): Promise<{ newJwk: JWK; account: string; oldKey: JWK }> {
  const jws = asFlattened(inner);
  const header = headerOf(jws);
  if (!(JWS_ALGORITHMS as readonly string[]).includes(header.alg)) {
    throw new AcmeProblem('badSignatureAlgorithm', `alg ${header.alg} is not supported`, { extra: { algorithms: [...JWS_ALGORITHMS] } });
  }
  if (header.url !== url) throw malformed('the inner JWS url must be the keyChange URL');
  if (header.nonce !== undefined) throw malformed('the inner JWS carries no nonce');
  if (!header.jwk || header.kid !== undefined) throw malformed('the inner JWS is signed with the new key, given as jwk');
  const key = await publicKeyOf(header.jwk, header.alg);
  let payload: Uint8Array;
  try {
    ({ payload } = await flattenedVerify(jws, key, { algorithms: [header.alg] }));
  } catch {
    throw malformed('the inner JWS signature does not verify');
  }
  let body: { account?: unknown; oldKey?: unknown };
  try {
    body = JSON.parse(Buffer.from(payload).toString('utf8')) as typeof body;
  } catch {
    throw malformed('the inner JWS payload must be JSON');
  }
  if (typeof body.account !== 'string' || typeof body.oldKey !== 'object' || body.oldKey === null) throw malformed('the key change names account and oldKey');
  return { newJwk: header.jwk, account: body.account, oldKey: body.oldKey as JWK };
}
