// A small ACME client on jose, for tests that must see or break one thing at a time: every request
// is a hand-built flattened JWS (RFC 8555 §6.2) whose protected header, payload, nonce and key a
// test can choose, and every answer comes back raw (status, headers, body). Its transport can send
// each request to another backend while keeping the URL (and so the Host header) the client was
// given, as a load balancer in front of several API processes does.
import { createHash, createPrivateKey, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import * as acme from 'acme-client';
import { calculateJwkThumbprint, exportJWK, FlattenedSign, type FlattenedJWS, type JWK } from 'jose';
import { httpRequest } from './http.js';
import { until } from './until.js';

export type JwsAlg = 'ES256' | 'ES384' | 'RS256' | 'EdDSA';

export interface AccountKey {
  alg: JwsAlg;
  privateKey: KeyObject;
  /** The public key as a JWK (what goes in the `jwk` header). */
  jwk: JWK;
  /** RFC 7638 SHA-256 thumbprint, base64url. */
  thumbprint: string;
  /** PKCS#8 PEM, for acme-client. */
  pem: string;
}

/** A fresh account key: ES256 (P-256), ES384 (P-384), RS256 (RSA-2048) or EdDSA (Ed25519). */
export async function newAccountKey(alg: JwsAlg = 'ES256'): Promise<AccountKey> {
  const { privateKey } =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: alg === 'ES256' ? 'P-256' : 'P-384' });
  return accountKeyOf(privateKey, alg);
}

/** The account key of a PEM private key (acme-client's, say). */
export async function accountKeyFromPem(pem: string | Buffer, alg?: JwsAlg): Promise<AccountKey> {
  const privateKey = createPrivateKey(pem);
  const detail = privateKey.asymmetricKeyDetails;
  const guessed: JwsAlg = privateKey.asymmetricKeyType === 'rsa' ? 'RS256' : detail?.namedCurve === 'secp384r1' ? 'ES384' : 'ES256';
  return accountKeyOf(privateKey, alg ?? guessed);
}

async function accountKeyOf(privateKey: KeyObject, alg: JwsAlg): Promise<AccountKey> {
  const full = await exportJWK(privateKey);
  const jwk: JWK = Object.fromEntries(Object.entries(full).filter(([k]) => ['kty', 'crv', 'x', 'y', 'n', 'e'].includes(k)));
  return { alg, privateKey, jwk, thumbprint: await calculateJwkThumbprint(jwk, 'sha256'), pem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string };
}

// Transport.

export interface RawReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestInit {
  method: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** Sends one HTTP request for `url`; a transport may connect elsewhere than the URL's host. */
export type Transport = (url: string, init: RequestInit) => Promise<RawReply>;

/**
 * `servername`: the TLS name to ask for and check (default: the target's host). SNI carries host
 * names only (RFC 6066): '' sends none and checks an IP target against the certificate's IP SANs.
 */
function send(target: URL, hostHeader: string, init: RequestInit, ca?: string, servername = target.hostname): Promise<RawReply> {
  return httpRequest(target.href, {
    method: init.method,
    headers: { host: hostHeader, ...init.headers },
    ...(init.body !== undefined ? { body: init.body } : {}),
    ...(ca ? { ca, servername: isIP(servername.replace(/^\[|\]$/g, '')) ? '' : servername } : {}),
  });
}

/** Straight to the URL's host. `ca`: the trust anchors for https. */
export function directTransport(options: { ca?: string } = {}): Transport {
  return (url, init) => {
    const target = new URL(url);
    return send(target, target.host, init, options.ca);
  };
}

export interface RoundRobin extends Transport {
  /** Which backend answered what, in order. */
  readonly log: ReadonlyArray<{ backend: string; method: string; path: string; status: number }>;
}

/**
 * Request n goes to backends[(start + n) % backends.length] (each an origin such as https://127.0.0.1:1234),
 * with the Host header and TLS server name of the URL asked for: the API processes behind one
 * public name, as a load balancer that passes TLS through puts them. `ca`: the trust anchors.
 */
export function roundRobinTransport(backends: string[], start = 0, options: { ca?: string } = {}): RoundRobin {
  let next = start;
  const log: Array<{ backend: string; method: string; path: string; status: number }> = [];
  const transport = async (url: string, init: RequestInit): Promise<RawReply> => {
    const asked = new URL(url);
    const backend = backends[next++ % backends.length] as string;
    const target = new URL(`${asked.pathname}${asked.search}`, backend);
    const reply = await send(target, asked.host, init, options.ca, asked.hostname);
    log.push({ backend, method: init.method, path: asked.pathname, status: reply.status });
    return reply;
  };
  return Object.assign(transport, { log });
}

// Replies.

export interface AcmeReply<T = Record<string, unknown>> {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The JSON body ({} when it is not JSON). */
  json: T;
  /** The same body read as a problem document (RFC 7807). */
  problem: Partial<Problem>;
  contentType: string;
  /** The header as one string ('' when absent). */
  header(name: string): string;
}

function replyOf<T>(raw: RawReply): AcmeReply<T> {
  const text = raw.body.toString('utf8');
  let json = {} as T;
  try {
    json = JSON.parse(text) as T;
  } catch {
    // PEM, or empty.
  }
  return {
    status: raw.status,
    headers: raw.headers,
    text,
    json,
    problem: json as Partial<Problem>,
    contentType: String(raw.headers['content-type'] ?? ''),
    header(name) {
      const v = raw.headers[name.toLowerCase()];
      return Array.isArray(v) ? v.join(', ') : (v ?? '');
    },
  };
}

export interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  revokeCert: string;
  keyChange: string;
  renewalInfo?: string;
  meta?: { termsOfService?: string; externalAccountRequired?: boolean; profiles?: Record<string, string>; caaIdentities?: string[] };
}

export interface Problem {
  type: string;
  detail: string;
  status?: number;
  subproblems?: Array<{ type: string; detail: string; identifier: { type: string; value: string } }>;
}

export interface Identifier {
  type: 'dns' | 'ip';
  value: string;
}

export interface OrderJson {
  status: 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
  expires?: string;
  identifiers: Identifier[];
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: Problem;
  replaces?: string;
}

export interface ChallengeJson {
  type: string;
  url: string;
  token: string;
  status: 'pending' | 'processing' | 'valid' | 'invalid';
  validated?: string;
  error?: Problem;
}

export interface AuthzJson {
  identifier: Identifier;
  status: 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';
  expires?: string;
  challenges: ChallengeJson[];
  wildcard?: boolean;
}

export interface SignOptions {
  /** The nonce to use; default: the last Replay-Nonce seen, else a fresh one from newNonce. */
  nonce?: string;
  /** Sign with this key instead of the client's. */
  key?: AccountKey;
  /** Put the key in `jwk` instead of naming the account in `kid` (default: jwk until the account exists). */
  useJwk?: boolean;
  /** Changes to the protected header after it is built; `undefined` removes a member. */
  header?: Record<string, unknown>;
  /** The exact payload text (bypasses JSON.stringify). */
  rawPayload?: string;
}

/**
 * A flattened JWS over any header and payload text, signed with node:crypto by `key` whatever the
 * header says (jose refuses some of what a test must send: a header without a usable alg, RSA
 * keys under 2048 bits).
 */
export function signRaw(key: AccountKey, header: Record<string, unknown>, payload: string): { protected: string; payload: string; signature: string } {
  const p = Buffer.from(JSON.stringify(header)).toString('base64url');
  const pl = Buffer.from(payload).toString('base64url');
  const input = Buffer.from(`${p}.${pl}`);
  const signature =
    key.alg === 'RS256'
      ? cryptoSign('sha256', input, key.privateKey)
      : key.alg === 'EdDSA'
        ? cryptoSign(null, input, key.privateKey)
        : cryptoSign(key.alg === 'ES256' ? 'sha256' : 'sha384', input, { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return { protected: p, payload: pl, signature: signature.toString('base64url') };
}

export const ACME_ERROR = (type: string): string => `urn:ietf:params:acme:error:${type}`;

/** PEM (CSR or certificate) → base64url DER. */
export function pemToB64url(pem: string | Buffer): string {
  const b64 = String(pem).replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return Buffer.from(b64, 'base64').toString('base64url');
}

/** The PEM blocks of a chain, in order. */
export function splitPem(chain: string): string[] {
  return chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

/** A CSR (base64url DER) for `names` (first one the CN) with a fresh key, as acme-client makes it. */
export async function makeCsrFor(names: string[], key: 'P-256' | 'P-384' | 'RSA' = 'P-256'): Promise<{ csr: string; keyPem: string }> {
  const privateKey = key === 'RSA' ? await acme.crypto.createPrivateRsaKey(2048) : await acme.crypto.createPrivateEcdsaKey(key);
  const dns = names.filter((n) => !/^[0-9.]+$|:/.test(n));
  const [, csrPem] = await acme.crypto.createCsr({ ...(dns[0] ? { commonName: dns[0] } : {}), altNames: names }, privateKey);
  return { csr: pemToB64url(csrPem), keyPem: privateKey.toString() };
}

/** What a test does to answer a challenge before the client tells the server to look. */
export type Solver = (challenge: ChallengeJson, keyAuthorization: string, authz: AuthzJson) => Promise<void> | void;

export class AcmeTestClient {
  kid: string | undefined;
  private lastNonce: string | undefined;
  private dir: Directory | undefined;

  constructor(
    readonly directoryUrl: string,
    public key: AccountKey,
    readonly transport: Transport = directTransport(),
  ) {}

  async directory(): Promise<Directory> {
    this.dir ??= replyOf<Directory>(await this.transport(this.directoryUrl, { method: 'GET' })).json;
    return this.dir;
  }

  /** A fresh nonce from newNonce (HEAD). */
  async freshNonce(): Promise<string> {
    const reply = replyOf(await this.transport((await this.directory()).newNonce, { method: 'HEAD' }));
    const nonce = reply.header('replay-nonce');
    if (!nonce) throw new Error(`newNonce answered ${reply.status} without a Replay-Nonce`);
    return nonce;
  }

  /** The last Replay-Nonce seen (consumed), or a fresh one. */
  async nonce(): Promise<string> {
    const n = this.lastNonce;
    this.lastNonce = undefined;
    return n ?? (await this.freshNonce());
  }

  keyAuthorization(token: string, key: AccountKey = this.key): string {
    return `${token}.${key.thumbprint}`;
  }

  /** The TXT value for dns-01 (RFC 8555 §8.4). */
  dns01Value(token: string): string {
    return createHash('sha256').update(this.keyAuthorization(token)).digest('base64url');
  }

  /** A flattened JWS for `url`; `payload` undefined is POST-as-GET (empty payload). */
  async sign(url: string, payload: unknown, options: SignOptions = {}): Promise<FlattenedJWS> {
    const key = options.key ?? this.key;
    const useJwk = options.useJwk ?? this.kid === undefined;
    const header: Record<string, unknown> = { alg: key.alg, nonce: options.nonce ?? (await this.nonce()), url, ...(useJwk ? { jwk: key.jwk } : { kid: this.kid }) };
    for (const [k, v] of Object.entries(options.header ?? {})) {
      if (v === undefined) delete header[k];
      else header[k] = v;
    }
    const text = options.rawPayload ?? (payload === undefined ? '' : JSON.stringify(payload));
    return new FlattenedSign(new TextEncoder().encode(text)).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
  }

  /** POSTs any body (a JWS object, or anything else a test wants to send). */
  async postRaw<T = Record<string, unknown>>(url: string, body: unknown, contentType = 'application/jose+json'): Promise<AcmeReply<T>> {
    const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const reply = replyOf<T>(await this.transport(url, { method: 'POST', headers: { 'content-type': contentType }, body: text }));
    const nonce = reply.header('replay-nonce');
    if (nonce) this.lastNonce = nonce;
    return reply;
  }

  /** A signed POST (POST-as-GET when `payload` is undefined). */
  async post<T = Record<string, unknown>>(url: string, payload?: unknown, options: SignOptions = {}): Promise<AcmeReply<T>> {
    return this.postRaw<T>(url, await this.sign(url, payload, options));
  }

  /** newAccount; remembers the account URL (kid) from Location on 200 and 201. */
  async newAccount(payload: Record<string, unknown> = { termsOfServiceAgreed: true }, options: SignOptions = {}): Promise<AcmeReply> {
    const reply = await this.post((await this.directory()).newAccount, payload, { useJwk: true, ...options });
    if ((reply.status === 200 || reply.status === 201) && reply.header('location')) this.kid = reply.header('location');
    return reply;
  }

  async newOrder(identifiers: Array<string | Identifier>, extra: Record<string, unknown> = {}, options: SignOptions = {}): Promise<AcmeReply<OrderJson>> {
    const ids = identifiers.map((i) => (typeof i === 'string' ? { type: /^[0-9.]+$|:/.test(i) ? 'ip' : 'dns', value: i } : i));
    return this.post<OrderJson>((await this.directory()).newOrder, { identifiers: ids, ...extra }, options);
  }

  /** POST-as-GET until `done` holds for the JSON (or throws naming the last status). */
  async pollUntil<T extends { status?: string }>(url: string, done: (json: T) => boolean, timeoutMs = 30_000): Promise<AcmeReply<T>> {
    let last: AcmeReply<T> | undefined;
    await until(
      async () => {
        last = await this.post<T>(url);
        if (last.status !== 200) throw new Error(`POST-as-GET ${url}: ${last.status} ${last.text}`);
        return done(last.json);
      },
      timeoutMs,
      `${url} reached the wanted state (last: ${last?.text ?? 'none'})`,
    );
    return last as AcmeReply<T>;
  }

  /**
   * Proves every authorization of an order with the first challenge of `type`, answered by
   * `solve` first; resolves when the order has left `pending`.
   */
  async authorize(orderUrl: string, order: OrderJson, type: string, solve: Solver): Promise<AcmeReply<OrderJson>> {
    for (const authzUrl of order.authorizations) {
      const authz = (await this.post<AuthzJson>(authzUrl)).json;
      if (authz.status === 'valid') continue;
      const challenge = authz.challenges.find((c) => c.type === type);
      if (!challenge) throw new Error(`no ${type} challenge for ${authz.identifier.value}: ${JSON.stringify(authz.challenges.map((c) => c.type))}`);
      await solve(challenge, type === 'dns-01' ? this.dns01Value(challenge.token) : this.keyAuthorization(challenge.token), authz);
      const answered = await this.post<ChallengeJson>(challenge.url, {});
      if (answered.status !== 200) throw new Error(`challenge ${challenge.url}: ${answered.status} ${answered.text}`);
      await this.pollUntil<AuthzJson>(authzUrl, (a) => a.status !== 'pending');
    }
    return this.pollUntil<OrderJson>(orderUrl, (o) => o.status !== 'pending');
  }

  /**
   * One certificate end to end: newOrder, the challenges of `type`, finalize, poll, download.
   * Throws with the server's answer at the first step that goes wrong.
   */
  async issue(
    names: Array<string | Identifier>,
    type: string,
    solve: Solver,
    options: { csr?: string; orderExtra?: Record<string, unknown> } = {},
  ): Promise<{ orderUrl: string; order: OrderJson; chainPem: string; keyPem: string | undefined; finalizeReply: AcmeReply<OrderJson> }> {
    const created = await this.newOrder(names, options.orderExtra ?? {});
    if (created.status !== 201) throw new Error(`newOrder: ${created.status} ${created.text}`);
    const orderUrl = created.header('location');
    const ready = await this.authorize(orderUrl, created.json, type, solve);
    if (ready.json.status !== 'ready') throw new Error(`the order is ${ready.json.status}, not ready: ${ready.text}`);
    let keyPem: string | undefined;
    let csr = options.csr;
    if (!csr) {
      const made = await makeCsrFor(names.map((n) => (typeof n === 'string' ? n : n.value)));
      csr = made.csr;
      keyPem = made.keyPem;
    }
    const finalizeReply = await this.post<OrderJson>(ready.json.finalize, { csr });
    if (finalizeReply.status !== 200) throw new Error(`finalize: ${finalizeReply.status} ${finalizeReply.text}`);
    const done = await this.pollUntil<OrderJson>(orderUrl, (o) => o.status === 'valid' || o.status === 'invalid');
    if (done.json.status !== 'valid' || !done.json.certificate) throw new Error(`the order ended ${done.text}`);
    const download = await this.post(done.json.certificate);
    if (download.status !== 200) throw new Error(`download: ${download.status} ${download.text}`);
    return { orderUrl, order: done.json, chainPem: download.text, keyPem, finalizeReply };
  }
}
