// ACME by the RFC, as an attacker with a client of their own tries it (issue 19): URLs that come from
// the configuration and not from the Host header, HTTPS only (RFC 8555 §6.1), malformed paths that
// are the client's error and not a 500, a CSR that reuses the account key refused, and every change
// to who an account is (creation, EAB binding, key change, deactivation) in the audit trail.
import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { acmeBaseUrl } from '../protocols/acme/baseUrl.js';
import { loadConfig, type Config } from '../src/config.js';
import { ACME_ERROR, AcmeTestClient, directTransport, makeCsrFor, newAccountKey, pemToB64url, type ChallengeJson, type OrderJson, type Transport } from './helpers/acmeClient.js';
import { startAcmeEnv, type AcmeEnv } from './helpers/acmeEnv.js';

const EVIL = 'evil.example:1234';

interface AuditJson {
  actor: string;
  protocol: string;
  action: string;
  target: string;
  outcome: string;
  detail: Record<string, unknown>;
}

describe('ACME by the RFC (issue 19: findings 7, 8, 12, 14)', () => {
  let env: AcmeEnv;
  let client: AcmeTestClient;
  /** Plain HTTP, no TLS: what reaches the HTTP listener. */
  const plain = directTransport();

  const http01 = (ch: ChallengeJson, ka: string): void => env.http01.set(ch.token, ka);
  const accountIdOf = (url: string): string => url.split('/').pop() as string;

  const auditOf = async (query: Record<string, string>): Promise<AuditJson[]> => {
    const res = await env.rest('GET', `/v1/audit?${new URLSearchParams({ pageSize: '100', ...query }).toString()}`);
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    return res.json.entries as AuditJson[];
  };

  beforeAll(async () => {
    env = await startAcmeEnv();
    await env.product('eabsec', { protocols: { acme: { eabRequired: true } } });
    client = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), env.transport);
    expect((await client.newAccount()).status).toBe(201);
  });

  afterAll(async () => {
    await env?.stop();
  });

  describe('finding 7: every URL from the configuration, over HTTPS only', () => {
    /** Every request with the Host header an attacker chose. */
    const spoofing: Transport = (url, init) => env.transport(url, { ...init, headers: { ...init.headers, host: EVIL } });

    it('derives the ACME base from the configuration: https, the configured host, the HTTPS port', () => {
      const config = (overrides: Partial<Config>) => loadConfig({ env: {}, overrides: { dataDir: env.dir, ...overrides } });
      expect(acmeBaseUrl(config({ publicUrl: 'https://acme.example.com/' }))).toBe('https://acme.example.com');
      expect(acmeBaseUrl(config({ publicUrl: 'https://acme.example.com:9443/certgate/' }))).toBe('https://acme.example.com:9443/certgate');
      // An http: public URL names the host, never the scheme or the port.
      expect(acmeBaseUrl(config({ publicUrl: 'http://gw.example.com:8080', httpsPort: 8443 }))).toBe('https://gw.example.com:8443');
      expect(acmeBaseUrl(config({ tlsHostnames: ['gw.internal', 'other'], httpsPort: 443 }))).toBe('https://gw.internal');
      expect(acmeBaseUrl(config({ host: '0.0.0.0', httpsPort: 8443 }))).toBe('https://localhost:8443');
      expect(acmeBaseUrl(config({ host: '::1', httpsPort: 8443 }))).toBe('https://[::1]:8443');
      expect(acmeBaseUrl(config({}))).toBe('https://127.0.0.1:8443');
    });

    it('answers a directory asked for with Host: evil.example:1234 with the configured URLs', async () => {
      const raw = await spoofing(env.directoryUrl, { method: 'GET' });
      expect(raw.status).toBe(200);
      const text = raw.body.toString('utf8');
      expect(text).not.toContain('evil.example');
      const dir = JSON.parse(text) as Record<string, string>;
      for (const k of ['newNonce', 'newAccount', 'newOrder', 'revokeCert', 'keyChange', 'renewalInfo']) expect(dir[k]?.startsWith(`${env.acmeBase}/acme/`), `${k}: ${dir[k]}`).toBe(true);
      expect(String(raw.headers.link)).toBe(`<${env.acmeBase}/acme/directory>;rel="index"`);
    });

    it('hands out only configured URLs (Location, kid, order, authz, challenge, Link) to a client sending a spoofed Host', async () => {
      const spoofed = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), spoofing);
      const account = await spoofed.newAccount();
      expect(account.status, account.text).toBe(201);
      expect(account.header('location').startsWith(`${env.acmeBase}/acme/acct/`)).toBe(true);
      const order = await spoofed.newOrder(['host-spoof.test']);
      expect(order.status, order.text).toBe(201);
      const authz = await spoofed.post<{ challenges: ChallengeJson[] }>(order.json.authorizations[0] as string);
      const challenge = await spoofed.post(authz.json.challenges[0]?.url as string);
      const everything = [account, order, authz, challenge].map((r) => `${JSON.stringify(r.headers)} ${r.text}`).join('\n');
      expect(everything).not.toContain('evil.example');
      for (const url of [order.header('location'), order.json.finalize, ...order.json.authorizations, ...authz.json.challenges.map((c) => c.url)]) {
        expect(url.startsWith(`${env.acmeBase}/acme/`), url).toBe(true);
      }
      expect(challenge.header('link')).toContain(`<${env.acmeBase}/acme/authz/`);
    });

    it('refuses a JWS whose url names the spoofed host, and makes no order', async () => {
      const before = (await client.post<{ orders: string[] }>(`${client.kid}/orders`)).json.orders.length;
      // The request goes to the real server with the Host its url names: the url must still be refused.
      const spoofed = new AcmeTestClient(env.directoryUrl, client.key, spoofing);
      spoofed.kid = client.kid;
      const url = `https://${EVIL}/acme/new-order`;
      const reply = await spoofed.postRaw((await client.directory()).newOrder, await spoofed.sign(url, { identifiers: [{ type: 'dns', value: 'spoofed-url.test' }] }));
      expect(reply.status, reply.text).toBe(403);
      expect(reply.problem.type).toBe(ACME_ERROR('unauthorized'));
      const after = (await client.post<{ orders: string[] }>(`${client.kid}/orders`)).json.orders.length;
      expect(after).toBe(before);
    });

    it('still knows an account by a kid with the origin of old (made when URLs followed the Host header), and only with its key', async () => {
      const holder = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), env.transport);
      expect((await holder.newAccount()).status).toBe(201);
      const id = accountIdOf(holder.kid as string);
      holder.kid = `${env.base}/acme/acct/${id}`;
      const order = await holder.newOrder(['old-kid.test']);
      expect(order.status, order.text).toBe(201);
      expect(order.header('location').startsWith(`${env.acmeBase}/acme/order/`)).toBe(true);
      // Another account's id under any origin is still that account's key to sign with.
      const other = await holder.newOrder(['old-kid.test'], {}, { header: { kid: `https://${EVIL}/acme/acct/${accountIdOf(client.kid as string)}` } });
      expect(other.status, other.text).toBe(400);
      expect(other.problem.type).toBe(ACME_ERROR('malformed'));
      const elsewhere = await holder.newOrder(['old-kid.test'], {}, { header: { kid: `${env.acmeBase}/other/acct/${id}` } });
      expect(elsewhere.problem.type).toBe(ACME_ERROR('accountDoesNotExist'));
    });

    it('refuses newAccount on the plain-HTTP listener with a problem naming the HTTPS directory, and makes no account', async () => {
      const key = await newAccountKey('ES256');
      const signer = new AcmeTestClient(env.directoryUrl, key, env.transport);
      for (const url of [`${env.base}/acme/new-account`, `${env.acmeBase}/acme/new-account`]) {
        const jws = await signer.sign(url, { termsOfServiceAgreed: true }, { useJwk: true });
        const reply = await signer.postRaw(`${env.base}/acme/new-account`, jws);
        // No nonce comes back over plain HTTP: postRaw kept none.
        expect(reply.status, reply.text).toBe(403);
        expect(reply.contentType).toMatch(/^application\/problem\+json/);
        expect(reply.problem.type).toBe(ACME_ERROR('unauthorized'));
        expect(reply.problem.detail).toContain(`${env.acmeBase}/acme/directory`);
        expect(reply.header('replay-nonce')).toBe('');
      }
      const signerOverPlain = new AcmeTestClient(env.directoryUrl, key, plain);
      const refused = await signerOverPlain.postRaw(`${env.base}/acme/new-account`, await signer.sign(`${env.base}/acme/new-account`, { termsOfServiceAgreed: true }, { useJwk: true }));
      expect(refused.status).toBe(403);
      // Over HTTPS the key has no account: nothing was made.
      const existing = await signer.newAccount({ onlyReturnExisting: true });
      expect(existing.problem.type, existing.text).toBe(ACME_ERROR('accountDoesNotExist'));
    });

    it('refuses newOrder on the plain-HTTP listener, and makes no order', async () => {
      const before = (await client.post<{ orders: string[] }>(`${client.kid}/orders`)).json.orders.length;
      const jws = await client.sign(`${env.base}/acme/new-order`, { identifiers: [{ type: 'dns', value: 'plain-http.test' }] });
      const raw = await plain(`${env.base}/acme/new-order`, { method: 'POST', headers: { 'content-type': 'application/jose+json' }, body: JSON.stringify(jws) });
      expect(raw.status).toBe(403);
      expect(JSON.parse(raw.body.toString('utf8')).type).toBe(ACME_ERROR('unauthorized'));
      const after = (await client.post<{ orders: string[] }>(`${client.kid}/orders`)).json.orders;
      expect(after.length).toBe(before);
    });

    it('redirects a GET (and HEAD) on plain HTTP to the configured HTTPS URL, whatever the Host header', async () => {
      for (const method of ['GET', 'HEAD']) {
        const raw = await plain(`${env.base}/acme/directory?x=1`, { method, headers: { host: EVIL } });
        expect(raw.status).toBe(308);
        expect(raw.headers.location).toBe(`${env.acmeBase}/acme/directory?x=1`);
      }
      const nonce = await plain(`${env.base}/acme/new-nonce`, { method: 'HEAD' });
      expect(nonce.status).toBe(308);
      expect(nonce.headers['replay-nonce']).toBeUndefined();
    });
  });

  describe('finding 8: malformed percent-encoding in paths', () => {
    it('answers /acme/%ff/directory and /acme/order/%ff with 400 malformed and logs no error', async () => {
      const logged = vi.spyOn(env.server.rt.log, 'error');
      try {
        for (const path of ['/acme/%ff/directory', '/acme/%E0%A4%A/directory', '/acme/%c0%af/new-nonce']) {
          const raw = await env.transport(`${env.acmeBase}${path}`, { method: 'GET' });
          expect(raw.status, path).toBe(400);
          expect(String(raw.headers['content-type'])).toMatch(/^application\/problem\+json/);
          expect(JSON.parse(raw.body.toString('utf8')).type).toBe(ACME_ERROR('malformed'));
        }
        for (const path of ['/acme/order/%ff', '/acme/order/%ff/finalize', '/acme/acct/%', '/acme/%ff/new-order']) {
          const reply = await client.post(`${env.acmeBase}${path}`, {});
          expect(reply.status, `${path}: ${reply.text}`).toBe(400);
          expect(reply.problem.type).toBe(ACME_ERROR('malformed'));
          expect(reply.header('replay-nonce')).toMatch(/^[A-Za-z0-9_-]+$/);
        }
        expect(logged).not.toHaveBeenCalled();
      } finally {
        logged.mockRestore();
      }
    });
  });

  describe('finding 12: a CSR with the account key', () => {
    it.each(['ES256', 'RS256'] as const)('refuses it with badCSR (%s account), issues nothing, audits the refusal; the order stays ready for a proper CSR', async (alg) => {
      const owner = new AcmeTestClient(env.directoryUrl, await newAccountKey(alg), env.transport);
      expect((await owner.newAccount()).status).toBe(201);
      const name = `account-key-csr-${alg.toLowerCase()}.test`;
      const created = await owner.newOrder([name]);
      expect(created.status, created.text).toBe(201);
      const orderUrl = created.header('location');
      const ready = await owner.authorize(orderUrl, created.json, 'http-01', http01);
      expect(ready.json.status).toBe('ready');
      const [, csrPem] = await acme.crypto.createCsr({ commonName: name, altNames: [name] }, owner.key.pem);
      const refused = await owner.post<OrderJson>(ready.json.finalize, { csr: pemToB64url(csrPem) });
      expect(refused.status, refused.text).toBe(400);
      expect(refused.problem.type).toBe(ACME_ERROR('badCSR'));
      expect(refused.problem.detail).toMatch(/account key/);

      expect((await owner.post<OrderJson>(orderUrl)).json.status).toBe('ready');
      const certificates = await env.rest('GET', '/v1/certificates?pageSize=100');
      expect(JSON.stringify(certificates.json)).not.toContain(name);
      const orderId = orderUrl.split('/').pop() as string;
      // The first refusal of a window per source and reason has a row of its own; later ones (the
      // second account here) are counted into the window's summary row, so a flood stays bounded.
      if (alg === 'ES256') {
        const [entry] = await auditOf({ action: 'auth.refused', target: orderId });
        expect(entry?.protocol).toBe('acme');
        expect(entry?.detail.reason).toBe('csrKeyIsAccountKey');
        expect(entry?.actor).toBe(`acme-account:${accountIdOf(owner.kid as string)}`);
      }

      // The same order takes a CSR with a key of its own.
      const finalized = await owner.post<OrderJson>(ready.json.finalize, { csr: (await makeCsrFor([name], alg === 'RS256' ? 'RSA' : 'P-256')).csr });
      expect(finalized.status, finalized.text).toBe(200);
      const done = await owner.pollUntil<OrderJson>(orderUrl, (o) => o.status === 'valid' || o.status === 'invalid');
      expect(done.json.status, done.text).toBe('valid');
    });
  });

  describe('finding 14: accounts in the audit trail', () => {
    it('records the creation of an account without EAB, with the account as actor', async () => {
      const id = accountIdOf(client.kid as string);
      const [entry] = await auditOf({ action: 'acme.account_create', target: id });
      expect(entry).toMatchObject({ actor: `acme-account:${id}`, protocol: 'acme', outcome: 'success' });
      expect(entry?.detail).toMatchObject({ thumbprint: client.key.thumbprint, eabCredentialId: null });
    });

    it('records an EAB account: its creation and the binding, by the credential; its key change and deactivation', async () => {
      const { kid, hmacKey } = await env.eabCredential(['eabsec']);
      const c = new acme.Client({ directoryUrl: `${env.acmeBase}/acme/eabsec/directory`, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: { kid, hmacKey } });
      await c.createAccount({ termsOfServiceAgreed: true });
      const id = accountIdOf(c.getAccountUrl());

      const [created] = await auditOf({ action: 'acme.account_create', target: id });
      expect(created).toMatchObject({ actor: kid, protocol: 'acme', outcome: 'success' });
      expect(created?.detail.eabCredentialId).toBe(kid);
      const [bound] = await auditOf({ action: 'acme.eab_bind', target: kid });
      expect(bound).toMatchObject({ actor: kid, outcome: 'success' });
      expect(bound?.detail.accountId).toBe(id);

      const oldThumbprint = created?.detail.thumbprint;
      await c.updateAccountKey(await acme.crypto.createPrivateEcdsaKey('P-384'));
      const [changed] = await auditOf({ action: 'acme.key_change', target: id });
      expect(changed).toMatchObject({ actor: kid, outcome: 'success' });
      expect(changed?.detail.oldThumbprint).toBe(oldThumbprint);
      expect(changed?.detail.newThumbprint).not.toBe(oldThumbprint);

      const deactivated = await c.updateAccount({ status: 'deactivated' } as Parameters<acme.Client['updateAccount']>[0]);
      expect(deactivated.status).toBe('deactivated');
      const [gone] = await auditOf({ action: 'acme.account_deactivate', target: id });
      expect(gone).toMatchObject({ actor: kid, outcome: 'success' });
      // A second deactivation changes nothing (the account may do nothing now), and adds no entry.
      await expect(c.updateAccount({ status: 'deactivated' } as Parameters<acme.Client['updateAccount']>[0])).rejects.toThrow();
      expect(await auditOf({ action: 'acme.account_deactivate', target: id })).toHaveLength(1);
    });
  });
});
