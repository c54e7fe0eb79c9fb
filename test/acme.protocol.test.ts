// RFC 8555 on the wire, one rule at a time, with hand-built JWS requests (jose): nonces, the url
// header, signatures, jwk/kid, status codes and headers of every step, problem types, and what
// real clients rely on (CLIENTS.md): Replay-Nonce everywhere, Link rel="up", finalize never
// answering `ready`, the download being the leaf then the chain.
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  accountKeyFromPem,
  ACME_ERROR,
  AcmeTestClient,
  makeCsrFor,
  newAccountKey,
  pemToB64url,
  signRaw,
  splitPem,
  type AcmeReply,
  type AuthzJson,
  type ChallengeJson,
  type OrderJson,
} from './helpers/acmeClient.js';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { startAcmeEnv, type AcmeEnv } from './helpers/acmeEnv.js';
import { opensslVerify } from './helpers/openssl.js';

const NONCE = /^[A-Za-z0-9_-]+$/;

/** RFC 8555 §6.5: a Replay-Nonce on every response to a POST (errors too), base64url. */
function expectNonce(reply: AcmeReply<unknown>): string {
  const nonce = reply.header('replay-nonce');
  expect(nonce, `no Replay-Nonce on ${reply.status} ${reply.text}`).toMatch(NONCE);
  return nonce;
}

function expectProblem(reply: AcmeReply<unknown>, type: string, status?: number): void {
  expect(reply.problem.type, reply.text).toBe(ACME_ERROR(type));
  if (status !== undefined) expect(reply.status, reply.text).toBe(status);
  expect(reply.contentType).toMatch(/^application\/problem\+json/);
  expectNonce(reply);
}

describe('ACME wire protocol (hand-built JWS)', () => {
  let env: AcmeEnv;
  let client: AcmeTestClient;

  const http01 = (ch: ChallengeJson, ka: string): void => env.http01.set(ch.token, ka);

  beforeAll(async () => {
    env = await startAcmeEnv();
    await env.product('narrow', { allowedDnsSuffixes: ['example.com'] });
    client = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), env.transport);
  });

  afterAll(async () => {
    await env?.stop();
  });

  describe('directory and nonces', () => {
    it('serves the directory with every resource, the products as profiles', async () => {
      const dir = await client.directory();
      for (const k of ['newNonce', 'newAccount', 'newOrder', 'revokeCert', 'keyChange', 'renewalInfo'] as const) expect(dir[k]?.startsWith(`${env.acmeBase}/acme/`), `${k}: ${dir[k]}`).toBe(true);
      expect(env.acmeBase).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(Object.keys(dir.meta?.profiles ?? {})).toEqual(expect.arrayContaining(['default', 'narrow']));
      expect(dir.meta?.externalAccountRequired).toBe(false);
      const narrow = (await env.getJson<{ newOrder: string; newAccount: string }>(`${env.acmeBase}/acme/narrow/directory`)).json;
      expect(narrow.newOrder).toBe(`${env.acmeBase}/acme/narrow/new-order`);
    });

    it('answers HEAD newNonce 200 and GET newNonce 204, each with a fresh nonce and no caching', async () => {
      const dir = await client.directory();
      const head = await client.transport(dir.newNonce, { method: 'HEAD' });
      const get = await client.transport(dir.newNonce, { method: 'GET' });
      expect(head.status).toBe(200);
      expect(get.status).toBe(204);
      for (const r of [head, get]) {
        expect(String(r.headers['replay-nonce'])).toMatch(NONCE);
        expect(String(r.headers['cache-control'])).toContain('no-store');
      }
      expect(head.headers['replay-nonce']).not.toBe(get.headers['replay-nonce']);
    });
  });

  describe('accounts', () => {
    it('creates an account (201 + Location), finds it again (200 + Location), and with onlyReturnExisting', async () => {
      const created = await client.newAccount({ termsOfServiceAgreed: true, contact: ['mailto:ops@example.test'] });
      expect(created.status, created.text).toBe(201);
      expectNonce(created);
      const location = created.header('location');
      expect(location).toMatch(/\/acme\/acct\/[^/]+$/);
      expect(created.json).toMatchObject({ status: 'valid', contact: ['mailto:ops@example.test'] });
      expect(created.json.orders).toBe(`${location}/orders`);

      const again = await client.newAccount();
      expect(again.status).toBe(200);
      expect(again.header('location')).toBe(location);
      expectNonce(again);

      const existing = await client.newAccount({ onlyReturnExisting: true });
      expect(existing.status).toBe(200);
      expect(existing.header('location')).toBe(location);

      const stranger = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES384'), env.transport);
      const none = await stranger.newAccount({ onlyReturnExisting: true });
      expectProblem(none, 'accountDoesNotExist', 400);
      expect(none.header('location')).toBe('');
    });

    it('refuses an RSA account key under 2048 bits (badPublicKey) and contacts that are not mailto: URLs', async () => {
      const weakKey = await accountKeyFromPem(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
      const dir = await client.directory();
      const weak = signRaw(weakKey, { alg: 'RS256', nonce: await client.freshNonce(), url: dir.newAccount, jwk: weakKey.jwk }, JSON.stringify({ termsOfServiceAgreed: true }));
      expectProblem(await client.postRaw(dir.newAccount, weak), 'badPublicKey', 400);
      const fresh = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), env.transport);
      expectProblem(await fresh.newAccount({ termsOfServiceAgreed: true, contact: ['tel:+15555550100'] }), 'unsupportedContact', 400);
      expectProblem(await fresh.newAccount({ termsOfServiceAgreed: true, contact: ['mailto:not an address'] }), 'invalidContact', 400);
    });

    it('reads the account with POST-as-GET and lists its orders', async () => {
      const acct = await client.post(client.kid as string);
      expect(acct.status).toBe(200);
      expect(acct.json.status).toBe('valid');
      expectNonce(acct);
      const order = await client.newOrder(['listed.test']);
      const list = await client.post<{ orders: string[] }>(acct.json.orders as string);
      expect(list.status).toBe(200);
      expect(list.json.orders).toContain(order.header('location'));
    });

    it('refuses an account key signed with kid for newAccount, and a new order signed with a jwk', async () => {
      const dir = await client.directory();
      expectProblem(await client.post(dir.newAccount, { termsOfServiceAgreed: true }, { useJwk: false }), 'malformed', 400);
      expectProblem(await client.post(dir.newOrder, { identifiers: [{ type: 'dns', value: 'a.test' }] }, { useJwk: true }), 'malformed', 400);
    });

    it('answers accountDoesNotExist for a kid that names no account', async () => {
      const dir = await client.directory();
      const res = await client.post(dir.newOrder, { identifiers: [{ type: 'dns', value: 'a.test' }] }, { header: { kid: `${env.acmeBase}/acme/acct/no-such-account` } });
      expectProblem(res, 'accountDoesNotExist', 400);
    });
  });

  describe('JWS checks', () => {
    it('refuses a replayed nonce with 400 badNonce and a fresh Replay-Nonce that works', async () => {
      const dir = await client.directory();
      const nonce = await client.freshNonce();
      const payload = { identifiers: [{ type: 'dns', value: 'replay.test' }] };
      expect((await client.post(dir.newOrder, payload, { nonce })).status).toBe(201);
      const replayed = await client.post(dir.newOrder, payload, { nonce });
      expectProblem(replayed, 'badNonce', 400);
      const fresh = expectNonce(replayed);
      expect(fresh).not.toBe(nonce);
      expect((await client.post(dir.newOrder, payload, { nonce: fresh })).status).toBe(201);
    });

    it('refuses a nonce it never issued with badNonce', async () => {
      const dir = await client.directory();
      expectProblem(await client.post(dir.newOrder, { identifiers: [{ type: 'dns', value: 'a.test' }] }, { nonce: 'bm90LWEtbm9uY2U' }), 'badNonce', 400);
    });

    it('refuses a url header other than the URL posted to with unauthorized (§6.4)', async () => {
      const dir = await client.directory();
      const jws = await client.sign(dir.newAccount, { identifiers: [{ type: 'dns', value: 'a.test' }] });
      const res = await client.postRaw(dir.newOrder, jws);
      expectProblem(res, 'unauthorized');
      expect(res.status).toBe(403);
    });

    it('refuses a bad signature with malformed, and does not burn the nonce', async () => {
      const dir = await client.directory();
      const nonce = await client.freshNonce();
      const jws = await client.sign(dir.newOrder, { identifiers: [{ type: 'dns', value: 'sig.test' }] }, { nonce });
      const sig = Buffer.from(jws.signature, 'base64url');
      sig[5] = (sig[5] as number) ^ 0xff;
      expectProblem(await client.postRaw(dir.newOrder, { ...jws, signature: sig.toString('base64url') }), 'malformed', 400);
      // The same request, correctly signed, still goes through with that nonce.
      expect((await client.postRaw(dir.newOrder, jws)).status).toBe(201);
    });

    it('refuses a payload changed after signing with malformed', async () => {
      const dir = await client.directory();
      const jws = await client.sign(dir.newOrder, { identifiers: [{ type: 'dns', value: 'sig.test' }] });
      const payload = Buffer.from(JSON.stringify({ identifiers: [{ type: 'dns', value: 'other.test' }] })).toString('base64url');
      expectProblem(await client.postRaw(dir.newOrder, { ...jws, payload }), 'malformed', 400);
    });

    it('refuses jwk and kid together, and neither, with malformed', async () => {
      const dir = await client.directory();
      const payload = { identifiers: [{ type: 'dns', value: 'a.test' }] };
      expectProblem(await client.post(dir.newOrder, payload, { header: { jwk: client.key.jwk } }), 'malformed', 400);
      expectProblem(await client.post(dir.newOrder, payload, { header: { kid: undefined } }), 'malformed', 400);
    });

    it('refuses a kid that is not a string with malformed, not a 500', async () => {
      const dir = await client.directory();
      for (const kid of [5, { url: client.kid }, [client.kid], true, null]) {
        const res = await client.post(dir.newOrder, { identifiers: [{ type: 'dns', value: 'a.test' }] }, { header: { kid } });
        expect(res.status, `kid ${JSON.stringify(kid)}: ${res.text}`).toBeLessThan(500);
        expectProblem(res, 'malformed', 400);
      }
    });

    it('refuses alg none and MAC algorithms with badSignatureAlgorithm', async () => {
      const dir = await client.directory();
      const header = Buffer.from(JSON.stringify({ alg: 'none', nonce: await client.freshNonce(), url: dir.newOrder, kid: client.kid })).toString('base64url');
      const payload = Buffer.from(JSON.stringify({ identifiers: [{ type: 'dns', value: 'a.test' }] })).toString('base64url');
      expectProblem(await client.postRaw(dir.newOrder, { protected: header, payload, signature: '' }), 'badSignatureAlgorithm', 400);
      const hs = Buffer.from(JSON.stringify({ alg: 'HS256', nonce: await client.freshNonce(), url: dir.newOrder, kid: client.kid })).toString('base64url');
      expectProblem(await client.postRaw(dir.newOrder, { protected: hs, payload, signature: 'AAAA' }), 'badSignatureAlgorithm', 400);
    });

    it('refuses a body that is not application/jose+json, or not a flattened JWS', async () => {
      const dir = await client.directory();
      const jws = await client.sign(dir.newOrder, { identifiers: [{ type: 'dns', value: 'a.test' }] });
      const wrongType = await client.postRaw(dir.newOrder, jws, 'application/json');
      expect(wrongType.status).toBe(415);
      expectProblem(wrongType, 'malformed');
      expectProblem(await client.postRaw(dir.newOrder, '{"protected":', 'application/jose+json'), 'malformed', 400);
      expectProblem(await client.postRaw(dir.newOrder, { ...jws, header: { kid: 'x' } }), 'malformed', 400);
    });

    it('refuses a GET on a POST-as-GET resource with 405 (§6.3)', async () => {
      const order = await client.newOrder(['get.test']);
      const res = await client.transport(order.header('location'), { method: 'GET' });
      expect(res.status).toBe(405);
    });
  });

  describe('orders', () => {
    it('goes pending → ready → processing|valid with the statuses and headers clients expect', async () => {
      const created = await client.newOrder(['flow.test', 'www.flow.test']);
      expect(created.status, created.text).toBe(201);
      expectNonce(created);
      const orderUrl = created.header('location');
      expect(orderUrl).toMatch(/\/acme\/order\/[^/]+$/);
      expect(created.json.status).toBe('pending');
      expect(created.json.identifiers).toEqual([
        { type: 'dns', value: 'flow.test' },
        { type: 'dns', value: 'www.flow.test' },
      ]);
      expect(created.json.authorizations).toHaveLength(2);

      // Finalize too early: orderNotReady (403).
      const early = await client.post(created.json.finalize, { csr: (await makeCsrFor(['flow.test', 'www.flow.test'])).csr });
      expectProblem(early, 'orderNotReady', 403);

      for (const [i, authzUrl] of created.json.authorizations.entries()) {
        const authz = await client.post<AuthzJson>(authzUrl);
        expect(authz.status).toBe(200);
        expectNonce(authz);
        expect(authz.json.status).toBe('pending');
        expect(authz.json.challenges.map((c) => c.type).sort()).toEqual(['dns-01', 'http-01', 'tls-alpn-01']);
        const challenge = authz.json.challenges.find((c) => c.type === 'http-01') as ChallengeJson;
        expect(challenge.token).toMatch(/^[A-Za-z0-9_-]{22,}$/);
        env.http01.set(challenge.token, client.keyAuthorization(challenge.token));
        const answered = await client.post<ChallengeJson>(challenge.url, {});
        expect(answered.status).toBe(200);
        expectNonce(answered);
        // Link: <authz-url>;rel="up", with the quotes.
        expect(answered.header('link')).toContain(`<${authzUrl}>;rel="up"`);
        expect(['processing', 'valid']).toContain(answered.json.status);
        await client.pollUntil<AuthzJson>(authzUrl, (a) => a.status === 'valid');
        // The order is ready in the same step its last authorization turned valid.
        const order = await client.post<OrderJson>(orderUrl);
        expect(order.json.status).toBe(i === created.json.authorizations.length - 1 ? 'ready' : 'pending');
      }

      // A CSR whose names differ from the order: badCSR, and the order stays ready.
      const wrongCsr = await client.post(created.json.finalize, { csr: (await makeCsrFor(['flow.test', 'other.test'])).csr });
      expectProblem(wrongCsr, 'badCSR', 400);
      const missingCsr = await client.post(created.json.finalize, { csr: (await makeCsrFor(['flow.test'])).csr });
      expectProblem(missingCsr, 'badCSR', 400);
      // An email address besides the order's names is no identifier of the order: badCSR as well,
      // read as the worker reads a CSR (src/pki/names.ts), not left for the worker to refuse.
      const { privateKey: other } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const emailCsr = pemToB64url(buildCsr(other, 'CN=flow.test', { dns: ['flow.test', 'www.flow.test'], email: ['ops@flow.test'] }));
      expectProblem(await client.post(created.json.finalize, { csr: emailCsr }), 'badCSR', 400);
      expect((await client.post<OrderJson>(orderUrl)).json.status).toBe('ready');

      const { csr } = await makeCsrFor(['flow.test', 'www.flow.test'], 'P-384');
      const finalized = await client.post<OrderJson>(created.json.finalize, { csr });
      expect(finalized.status, finalized.text).toBe(200);
      expectNonce(finalized);
      expect(['processing', 'valid']).toContain(finalized.json.status);
      expect(finalized.header('location')).toBe(orderUrl);

      const done = await client.pollUntil<OrderJson>(orderUrl, (o) => o.status === 'valid');
      expect(done.json.certificate).toMatch(/\/acme\/cert\/[^/]+$/);
      // A second finalize of a valid order: orderNotReady.
      expectProblem(await client.post(created.json.finalize, { csr }), 'orderNotReady', 403);

      const download = await client.post(done.json.certificate as string);
      expect(download.status).toBe(200);
      expectNonce(download);
      expect(download.contentType).toMatch(/^application\/pem-certificate-chain/);
      const chain = splitPem(download.text);
      expect(chain.length).toBeGreaterThanOrEqual(2);
      const leaf = new X509Certificate(chain[0] as string);
      expect(leaf.ca).toBe(false);
      expect(leaf.checkIssued(new X509Certificate(chain[1] as string))).toBe(true);
      expect(leaf.subjectAltName).toBe('DNS:flow.test, DNS:www.flow.test');
      expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, chain[0] as string)).toMatch(/: OK/);
    });

    it('issues for an IP address over http-01', async () => {
      const { chainPem } = await client.issue(['127.0.0.1'], 'http-01', http01);
      expect(new X509Certificate(splitPem(chainPem)[0] as string).subjectAltName).toBe('IP Address:127.0.0.1');
    });

    it('offers a wildcard only dns-01 (no http-01, no tls-alpn-01)', async () => {
      const created = await client.newOrder(['*.wc.test']);
      expect(created.status).toBe(201);
      const authz = await client.post<AuthzJson>(created.json.authorizations[0] as string);
      expect(authz.json.wildcard).toBe(true);
      expect(authz.json.identifier).toEqual({ type: 'dns', value: 'wc.test' });
      expect(authz.json.challenges.map((c) => c.type)).toEqual(['dns-01']);
    });

    it("refuses an identifier the product does not allow: rejectedIdentifier at newOrder", async () => {
      const narrow = new AcmeTestClient(`${env.acmeBase}/acme/narrow/directory`, client.key, env.transport);
      narrow.kid = client.kid;
      const outside = await narrow.newOrder(['www.example.com', 'outside.test']);
      expectProblem(outside, 'rejectedIdentifier', 400);
      expect(JSON.stringify(outside.json)).toContain('outside.test');
      expect((await narrow.newOrder(['www.example.com'])).status).toBe(201);
      // The same product chosen by profile from the default directory.
      expectProblem(await client.newOrder(['outside.test'], { profile: 'narrow' }), 'rejectedIdentifier', 400);
      expectProblem(await client.newOrder(['a.test'], { profile: 'no-such-profile' }), 'malformed', 400);
    });

    it('refuses identifier types it does not support with unsupportedIdentifier', async () => {
      expectProblem(await client.newOrder([{ type: 'email' as 'dns', value: 'a@b.test' }]), 'unsupportedIdentifier', 400);
      expectProblem(await client.newOrder([]), 'malformed', 400);
    });

    it('finds the request of a finalize that stopped before writing the order: the order reads valid, with its certificate', async () => {
      const own = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), env.transport);
      expect((await own.newAccount()).status).toBe(201);
      const created = await own.newOrder(['recovered.test']);
      const orderUrl = created.header('location');
      const ready = await own.authorize(orderUrl, created.json, 'http-01', http01);
      expect(ready.json.status).toBe('ready');
      // What a finalize submits before it writes the order; its process stops there.
      const product = await env.server.rt.enrollments.productForLabel(undefined);
      const accountId = (own.kid as string).split('/').pop() as string;
      const csr = Buffer.from((await makeCsrFor(['recovered.test'])).csr, 'base64url');
      await env.server.rt.enrollments.submit(
        { principal: `acme:${accountId}`, actor: `acme-account:${accountId}`, protocol: 'acme', product: { id: (product as { id: string }).id } },
        csr,
        { identifiers: ['recovered.test'], transactionId: orderUrl.split('/').pop() as string },
      );
      const done = await own.pollUntil<OrderJson>(orderUrl, (o) => o.status === 'valid');
      expectProblem(await own.post(created.json.finalize, { csr: (await makeCsrFor(['recovered.test'])).csr }), 'orderNotReady', 403);
      const download = await own.post(done.json.certificate as string);
      expect(download.status).toBe(200);
      expect(new X509Certificate(splitPem(download.text)[0] as string).subjectAltName).toBe('DNS:recovered.test');
    });

    it("hides another account's order, authorization and certificate", async () => {
      const { order } = await client.issue(['mine.test'], 'http-01', http01);
      const other = new AcmeTestClient(env.directoryUrl, await newAccountKey('RS256'), env.transport);
      expect((await other.newAccount()).status).toBe(201);
      for (const url of [order.authorizations[0] as string, order.certificate as string, order.finalize.replace(/\/finalize$/, '')]) {
        // Answered as if it did not exist: a 404, never a 403 that says it does.
        const res = await other.post(url);
        expectProblem(res, 'malformed', 404);
        expect(res.problem.detail, url).toMatch(/^no such (authorization|certificate|order)$/);
      }
    });
  });

  describe('key change (RFC 8555 §7.3.5)', () => {
    it('refuses an inner JWS whose oldKey is not a JWK with malformed, not a 500', async () => {
      const kc = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), env.transport);
      expect((await kc.newAccount()).status).toBe(201);
      const newKey = await newAccountKey('ES384');
      const url = (await kc.directory()).keyChange;
      for (const oldKey of [{}, { kty: 'EC' }, { kty: 'nope', x: 'y' }]) {
        const inner = await kc.sign(url, { account: kc.kid, oldKey }, { key: newKey, useJwk: true, header: { nonce: undefined } });
        const res = await kc.post(url, inner);
        expect(res.status, `oldKey ${JSON.stringify(oldKey)}: ${res.text}`).toBeLessThan(500);
        expectProblem(res, 'malformed', 400);
      }
    });

    it('refuses an inner JWS naming another account, or signed with a nonce, or for another url', async () => {
      const kc = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), env.transport);
      expect((await kc.newAccount()).status).toBe(201);
      const newKey = await newAccountKey('ES256');
      const url = (await kc.directory()).keyChange;
      const otherAccount = await kc.sign(url, { account: client.kid, oldKey: kc.key.jwk }, { key: newKey, useJwk: true, header: { nonce: undefined } });
      expectProblem(await kc.post(url, otherAccount), 'unauthorized', 403);
      const withNonce = await kc.sign(url, { account: kc.kid, oldKey: kc.key.jwk }, { key: newKey, useJwk: true, nonce: await kc.freshNonce() });
      expectProblem(await kc.post(url, withNonce), 'malformed', 400);
      const wrongUrl = await kc.sign((await kc.directory()).newOrder, { account: kc.kid, oldKey: kc.key.jwk }, { key: newKey, useJwk: true, header: { nonce: undefined } });
      expectProblem(await kc.post(url, wrongUrl), 'malformed', 400);
      // None of these changed the key.
      expect((await kc.post(kc.kid as string)).status).toBe(200);
    });
  });

  describe('validation outcomes', () => {
    it('fails a wrong key authorization: challenge invalid (incorrectResponse), authorization and order invalid', async () => {
      const created = await client.newOrder(['wrong-ka.test']);
      const authzUrl = created.json.authorizations[0] as string;
      const authz = (await client.post<AuthzJson>(authzUrl)).json;
      const challenge = authz.challenges.find((c) => c.type === 'http-01') as ChallengeJson;
      env.http01.set(challenge.token, `${challenge.token}.not-the-thumbprint`);
      expect((await client.post(challenge.url, {})).status).toBe(200);
      const done = await client.pollUntil<AuthzJson>(authzUrl, (a) => a.status !== 'pending');
      expect(done.json.status).toBe('invalid');
      const failed = done.json.challenges.find((c) => c.type === 'http-01');
      expect(failed?.status).toBe('invalid');
      // As Boulder and Pebble say it (RFC 8555 §6.7 also has incorrectResponse).
      expect(failed?.error?.type).toBe(ACME_ERROR('unauthorized'));
      expect(failed?.error?.detail).toMatch(/^The key authorization file from .* did not match this challenge: HTTP 200 with \d+ bytes that are not /);
      const order = await client.post<OrderJson>(created.header('location'));
      expect(order.json.status).toBe('invalid');
      expect(order.json.error?.type).toMatch(/^urn:ietf:params:acme:error:/);
    });

    it('fails a name whose CAA records name another CA: challenge invalid with a caa problem', async () => {
      env.dns.setCaa('caa-denied.test', [{ tag: 'issue', value: 'other-ca.example' }]);
      const created = await client.newOrder(['caa-denied.test']);
      const authzUrl = created.json.authorizations[0] as string;
      const authz = (await client.post<AuthzJson>(authzUrl)).json;
      const challenge = authz.challenges.find((c) => c.type === 'http-01') as ChallengeJson;
      env.http01.set(challenge.token, client.keyAuthorization(challenge.token));
      await client.post(challenge.url, {});
      const done = await client.pollUntil<AuthzJson>(authzUrl, (a) => a.status !== 'pending');
      expect(done.json.status).toBe('invalid');
      expect(done.json.challenges.find((c) => c.type === 'http-01')?.error?.type).toBe(ACME_ERROR('caa'));
    });
  });

  describe('account keys', () => {
    it('accepts an Ed25519 account key (EdDSA) from account to certificate', async () => {
      const ed = new AcmeTestClient(env.directoryUrl, await newAccountKey('EdDSA'), env.transport);
      expect((await ed.newAccount()).status).toBe(201);
      const issued = await ed.issue(['ed25519.test'], 'http-01', http01);
      expect(issued.order.status).toBe('valid');
      expect(splitPem(issued.chainPem)).toHaveLength(3);
    });
  });

  describe('limits', () => {
    it('refuses the 301st pending order of an account with 429 rateLimited and Retry-After', async () => {
      const busy = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), env.transport);
      expect((await busy.newAccount()).status).toBe(201);
      for (let i = 0; i < 300; i++) expect((await busy.newOrder([`pending${i}.test`])).status).toBe(201);
      const refused = await busy.newOrder(['one-too-many.test']);
      expectProblem(refused, 'rateLimited', 429);
      expect(refused.header('retry-after')).toMatch(/^[1-9][0-9]*$/);
    });
  });

  describe('revocation', () => {
    it('revokes with the account key and with the certificate key; twice is alreadyRevoked', async () => {
      const dir = await client.directory();
      const one = await client.issue(['revoke1.test'], 'http-01', http01);
      const certificate = pemToB64url(splitPem(one.chainPem)[0] as string);
      expectProblem(await client.post(dir.revokeCert, { certificate, reason: 6 }), 'badRevocationReason', 400);
      const revoked = await client.post(dir.revokeCert, { certificate, reason: 1 });
      expect(revoked.status, revoked.text).toBe(200);
      expectNonce(revoked);
      expectProblem(await client.post(dir.revokeCert, { certificate }), 'alreadyRevoked', 400);
      const certId = (one.order.certificate as string).split('/').pop() as string;
      const rest = await env.rest('GET', `/v1/certificates/${certId}`);
      expect(rest.json.revocation_reason).toBe('keyCompromise');

      // Signed by the certificate's own key, as jwk (§7.6).
      const two = await client.issue(['revoke2.test'], 'http-01', http01);
      const certKey = await accountKeyFromPem(two.keyPem as string);
      const byKey = await client.post(dir.revokeCert, { certificate: pemToB64url(splitPem(two.chainPem)[0] as string) }, { key: certKey, useJwk: true });
      expect(byKey.status, byKey.text).toBe(200);
      const certId2 = (two.order.certificate as string).split('/').pop() as string;
      expect((await env.rest('GET', `/v1/certificates/${certId2}`)).json).toMatchObject({ status: 'revoked', revoked_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/) });

      // Neither the owner nor the certificate key: unauthorized.
      const three = await client.issue(['revoke3.test'], 'http-01', http01);
      const stranger = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), env.transport);
      expect((await stranger.newAccount()).status).toBe(201);
      expectProblem(await stranger.post(dir.revokeCert, { certificate: pemToB64url(splitPem(three.chainPem)[0] as string) }), 'unauthorized', 403);
    });
  });
});
