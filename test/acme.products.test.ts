// Products seen through ACME: one that requires an external account binding (RFC 8555 §7.3.4,
// bound to an `acme` credential whose revocation stops the account), and one whose requests wait
// for an operator (finalize answers `processing` with Retry-After; approval over REST issues,
// a decline turns the order invalid with the operator's reason).
import { X509Certificate } from 'node:crypto';
import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import type { EnrollmentRequest } from '../src/core/types.js';
import { accountKeyFromPem, ACME_ERROR, AcmeTestClient, makeCsrFor, newAccountKey, splitPem, type ChallengeJson, type OrderJson } from './helpers/acmeClient.js';
import { acmeClientOf, startAcmeEnv, type AcmeEnv } from './helpers/acmeEnv.js';
import { opensslVerify } from './helpers/openssl.js';
import { until } from './helpers/until.js';

describe('ACME products', () => {
  let env: AcmeEnv;


  beforeAll(async () => {
    env = await startAcmeEnv();
    await env.product('eab', { protocols: { acme: { eabRequired: true } } });
    await env.product('approval', { requiresApproval: true });
  });

  afterAll(async () => {
    await env?.stop();
  });

  describe('external account binding', () => {
    let directoryUrl: string;

    beforeAll(() => {
      directoryUrl = `${env.acmeBase}/acme/eab/directory`;
    });

    it('says so in the directory, and refuses newAccount without a binding: externalAccountRequired', async () => {
      const meta = (await env.getJson<{ meta: { externalAccountRequired: boolean } }>(directoryUrl)).json.meta;
      expect(meta.externalAccountRequired).toBe(true);
      const raw = new AcmeTestClient(directoryUrl, await newAccountKey('ES256'), env.transport);
      const res = await raw.newAccount();
      expect(res.problem.type, res.text).toBe(ACME_ERROR('externalAccountRequired'));
      expect(res.status).toBe(401);
      expect(res.header('replay-nonce')).toMatch(/^[A-Za-z0-9_-]+$/);
      await expect(acmeClientOf(directoryUrl, await acme.crypto.createPrivateEcdsaKey()).createAccount({ termsOfServiceAgreed: true })).rejects.toThrow(/external account binding/);
    });

    it('creates an account bound to an acme credential and issues under the product; revoking the credential stops the account', async () => {
      const product = await env.server.rt.store.products.getByName('eab');
      const eab = await env.eabCredential([product?.id as string]);
      const accountKey = await acme.crypto.createPrivateEcdsaKey('P-384');
      const c = acmeClientOf(directoryUrl, accountKey, { externalAccountBinding: eab });
      const account = await c.createAccount({ termsOfServiceAgreed: true });
      expect(account.status).toBe('valid');

      const [, csr] = await acme.crypto.createCsr({ commonName: 'eab.test', altNames: ['eab.test'] });
      const pem = await c.auto({ csr, ...env.autoHttp01 });
      expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, splitPem(pem)[0] as string)).toMatch(/: OK/);

      await env.server.rt.credentials.revoke(eab.kid, CLI_CONTEXT);
      const raw = new AcmeTestClient(directoryUrl, await accountKeyFromPem(accountKey), env.transport);
      raw.kid = c.getAccountUrl();
      const refused = await raw.newOrder(['eab.test']);
      expect(refused.problem.type, refused.text).toBe(ACME_ERROR('unauthorized'));
      expect(refused.status).toBe(403);
      await expect(c.createOrder({ identifiers: [{ type: 'dns', value: 'eab.test' }] })).rejects.toThrow();
    });

    it('refuses a binding made with the wrong HMAC key, an unknown kid, or a credential of another product', async () => {
      const product = await env.server.rt.store.products.getByName('eab');
      const good = await env.eabCredential([product?.id as string]);
      const other = await env.eabCredential([(await env.server.rt.store.products.getByName('default'))?.id as string]);
      const wrongKey = { kid: good.kid, hmacKey: Buffer.alloc(32, 7).toString('base64url') };
      const unknown = { kid: 'no-such-credential', hmacKey: good.hmacKey };
      for (const binding of [wrongKey, unknown, other]) {
        const c = acmeClientOf(directoryUrl, await acme.crypto.createPrivateEcdsaKey(), { externalAccountBinding: binding });
        await expect(c.createAccount({ termsOfServiceAgreed: true }), JSON.stringify(binding)).rejects.toThrow(/external account binding refused/);
      }
    });

    it('refuses an unbound account an order under the product (by profile)', async () => {
      const raw = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), env.transport);
      expect((await raw.newAccount()).status).toBe(201);
      const res = await raw.newOrder(['eab.test'], { profile: 'eab' });
      expect(res.problem.type, res.text).toBe(ACME_ERROR('externalAccountRequired'));
    });
  });

  describe('approval', () => {
    let directoryUrl: string;

    const pendingRequestOf = async (orderId: string): Promise<EnrollmentRequest> => {
      let found: EnrollmentRequest | undefined;
      await until(async () => {
        found = (await env.server.rt.store.requests.listByStatus(['pending_approval'], 100)).find((r) => r.transactionId === orderId);
        return found !== undefined;
      }, 20_000, `a pending_approval request for order ${orderId}`);
      return found as EnrollmentRequest;
    };

    beforeAll(() => {
      directoryUrl = `${env.acmeBase}/acme/approval/directory`;
    });

    it('leaves the order processing until an operator approves; then acme-client gets the certificate', async () => {
      const c = acmeClientOf(directoryUrl, await acme.crypto.createPrivateEcdsaKey('P-256'));
      await c.createAccount({ termsOfServiceAgreed: true });
      const order = await c.createOrder({ identifiers: [{ type: 'dns', value: 'approve.test' }] });
      for (const authz of await c.getAuthorizations(order)) {
        const challenge = authz.challenges.find((ch) => ch.type === 'http-01') as acme.Authorization['challenges'][number];
        env.http01.set(challenge.token, await c.getChallengeKeyAuthorization(challenge));
        await c.completeChallenge(challenge);
        await c.waitForValidStatus(authz);
      }
      const ready = await c.waitForValidStatus(order);
      expect(ready.status).toBe('ready');
      const [, csr] = await acme.crypto.createCsr({ commonName: 'approve.test', altNames: ['approve.test'] });
      const finalized = await c.finalizeOrder(order, csr);
      expect(finalized.status).toBe('processing');

      const request = await pendingRequestOf(order.url.split('/').pop() as string);
      // The client polls (with its backoff) while the operator decides.
      const certificate = c.getCertificate(finalized);
      certificate.catch(() => undefined);
      const approved = await env.rest('POST', `/v1/requests/${request.id}/approve`);
      expect(approved.status, JSON.stringify(approved.json)).toBe(200);
      const pem = await certificate;
      const leaf = splitPem(pem)[0] as string;
      expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, leaf)).toMatch(/: OK/);
      expect(new X509Certificate(leaf).subjectAltName).toBe('DNS:approve.test');
    });

    it('answers finalize and order polls with processing and Retry-After; a decline turns the order invalid with the reason', async () => {
      const raw = new AcmeTestClient(directoryUrl, await newAccountKey('ES256'), env.transport);
      expect((await raw.newAccount()).status).toBe(201);
      const created = await raw.newOrder(['decline.test']);
      expect(created.status, created.text).toBe(201);
      const orderUrl = created.header('location');
      const ready = await raw.authorize(orderUrl, created.json, 'http-01', (ch: ChallengeJson, ka) => env.http01.set(ch.token, ka));
      expect(ready.json.status).toBe('ready');

      const finalized = await raw.post<OrderJson>(ready.json.finalize, { csr: (await makeCsrFor(['decline.test'])).csr });
      expect(finalized.status, finalized.text).toBe(200);
      expect(finalized.json.status).toBe('processing');
      expect(finalized.header('retry-after')).toMatch(/^[1-9][0-9]*$/);
      const polled = await raw.post<OrderJson>(orderUrl);
      expect(polled.json.status).toBe('processing');
      expect(polled.header('retry-after')).toMatch(/^[1-9][0-9]*$/);

      const request = await pendingRequestOf(orderUrl.split('/').pop() as string);
      const reason = 'decline.test is not ours to certify';
      const declined = await env.rest('POST', `/v1/requests/${request.id}/reject`, { reason });
      expect(declined.status, JSON.stringify(declined.json)).toBe(200);

      const invalid = await raw.pollUntil<OrderJson>(orderUrl, (o) => o.status !== 'processing');
      expect(invalid.json.status).toBe('invalid');
      expect(invalid.json.error?.type).toMatch(/^urn:ietf:params:acme:error:/);
      expect(invalid.json.error?.detail).toContain(reason);
      expect(invalid.json.certificate).toBeUndefined();
    });
  });
});
