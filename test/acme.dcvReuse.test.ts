// ACME and the domain registry (issue 23, item 2), with acme-client. A name the registry holds a
// current validation of for the account's holders (its EAB credential's group) is authorized from
// the start, within the order's product's reuse window: the client is asked for nothing. A name an
// ACME challenge proves is recorded in the registry, and covers a REST request of the same group
// under a product with dcv: required. Over SQLite and over PostgreSQL with Redis.
import { X509Certificate } from 'node:crypto';
import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import type { DomainRecord, Holder, ProductRecord, ProductTemplate } from '../src/core/types.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { AcmeTestClient, newAccountKey, splitPem } from './helpers/acmeClient.js';
import { acmeClientOf, startAcmeEnv, type AcmeEnv } from './helpers/acmeEnv.js';
import { runningClock } from './helpers/clock.js';
import { deploymentMissing, type Deployment } from './helpers/gateway.js';
import { restCall } from './helpers/http.js';
import { opensslVerify } from './helpers/openssl.js';
import { until } from './helpers/until.js';

const DAY_MS = 86_400_000;

const DEPLOYMENTS: { name: string; deployment: Deployment }[] = [
  { name: 'embedded (SQLite + in-process queue)', deployment: {} },
  { name: 'PostgreSQL + Redis (BullMQ)', deployment: { backend: 'postgres', queue: 'bullmq' } },
];

interface AuditJson {
  action: string;
  target: string;
  actor: string;
  protocol: string | null;
  detail: Record<string, unknown>;
}

for (const d of DEPLOYMENTS) {
  describe.skipIf(deploymentMissing(d.deployment))(`ACME and the domain registry, ${d.name}`, () => {
    let env: AcmeEnv;
    const clock = runningClock();
    let short: ProductRecord;
    let required: ProductRecord;

    const core = () => env.server.rt.core;
    const domains = () => core().domains;
    /** An EAB credential of `group` (every product), and an acme-client account bound to it. */
    const accountOf = async (group: string | null, directoryUrl = env.directoryUrl, accountKey?: Buffer) => {
      const key = accountKey ?? (await acme.crypto.createPrivateEcdsaKey());
      let binding = {};
      if (group !== null) {
        const { credential, secret } = await env.server.rt.credentials.create({ type: 'acme', products: '*', ownerGroup: group }, CLI_CONTEXT);
        binding = { externalAccountBinding: { kid: credential.id, hmacKey: secret } };
      }
      const client = acmeClientOf(directoryUrl, key, binding);
      await client.createAccount({ termsOfServiceAgreed: true });
      return { client, key };
    };
    const auditOf = async (query: Record<string, string>): Promise<AuditJson[]> => {
      const res = await env.rest('GET', `/v1/audit?${new URLSearchParams({ pageSize: '100', ...query }).toString()}`);
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      return res.json.entries as AuditJson[];
    };
    /** A domain added to the registry for `holder` and validated there over dns-01 (TXT on the stub DNS server). */
    const validatedInRegistry = async (name: string, holder: Holder): Promise<DomainRecord> => {
      const { domain } = await domains().add({ name, holder, createdBy: 'cli' }, CLI_CONTEXT);
      env.dns.setTxt(`_certgate-challenge.${name}`, [domain.token]);
      await domains().validate(domain.id, 'dns-01', CLI_CONTEXT);
      const done = await domains().waitForValidation(domain.id, 20_000);
      expect(done, JSON.stringify(done)).toMatchObject({ status: 'valid', method: 'dns-01' });
      return done as DomainRecord;
    };
    /** acme-client's auto() whose challenge hooks record what the client was asked to do. */
    const autoAsking = (asked: string[]): Omit<acme.ClientAutoOptions, 'csr'> => ({
      ...env.autoHttp01,
      challengeCreateFn: async (a, ch, ka) => {
        asked.push(`${ch.type} ${a.identifier.value}`);
        env.http01.set((ch as { token: string }).token, ka);
      },
    });
    const issuedPem = async (client: acme.Client, names: string[], asked: string[]): Promise<string> => {
      const [, csr] = await acme.crypto.createCsr({ commonName: names[0] as string, altNames: names });
      return client.auto({ csr, ...autoAsking(asked) });
    };
    const sansOf = (pem: string): string[] => (new X509Certificate(pem).subjectAltName ?? '').split(', ').map((s) => s.replace(/^DNS:/, '')).sort();

    beforeAll(async () => {
      env = await startAcmeEnv({ deployment: d.deployment, now: clock.now });
      short = await env.product('short', { dcv: { reuseDays: 5 } });
      required = await env.product('required', { dcv: { mode: 'required' } });
    });

    afterAll(async () => {
      await env?.stop();
    });

    it('an order for a name validated in the registry is ready at once: valid authorizations, nothing asked of the client; the certificate verifies', async () => {
      const record = await validatedInRegistry('reg.test', 'group:team-a');
      const { client } = await accountOf('team-a');
      const seen = env.http01.requests.length;

      const order = await client.createOrder({ identifiers: [{ type: 'dns', value: 'reg.test' }, { type: 'dns', value: '*.reg.test' }] });
      expect(order.status).toBe('ready');
      const authzs = await client.getAuthorizations(order);
      for (const authz of authzs) {
        expect(authz.status).toBe('valid');
        // RFC 8555 §7.1.4: the challenge that was validated, and only it.
        expect(authz.challenges.map((c) => [c.type, c.status, (c as { validated?: string }).validated])).toEqual([['dns-01', 'valid', (record.validatedAt as Date).toISOString()]]);
        expect(new Date(authz.expires as string).getTime()).toBeLessThanOrEqual((record.validatedAt as Date).getTime() + 30 * DAY_MS);
      }

      const asked: string[] = [];
      const pem = await issuedPem(client, ['reg.test', '*.reg.test'], asked);
      expect(asked).toEqual([]);
      expect(env.http01.requests.slice(seen)).toEqual([]);
      const [leaf] = splitPem(pem);
      expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, leaf as string)).toMatch(/: OK/);
      expect(sansOf(leaf as string)).toEqual(['*.reg.test', 'reg.test']);

      // Each reuse in the trail: which authorization, for whom, on which registry record.
      const entries = (await auditOf({ action: 'acme.authz_reuse' })).filter((e) => e.detail.domainId === record.id);
      expect(entries.map((e) => e.detail.identifier).sort()).toEqual(['*.reg.test', '*.reg.test', 'reg.test', 'reg.test']);
      for (const e of entries) expect(e).toMatchObject({ protocol: 'acme', detail: { holder: 'group:team-a', method: 'dns-01', domain: 'reg.test' } });
      expect(new Set(entries.map((e) => e.target)).size).toBe(4);
    });

    it('reuses under a product stored before products had dcv settings (its defaults: 30 days)', async () => {
      const { dcv: _dcv, ...older } = parseProductTemplate({});
      const legacy = await createProduct(env.server.rt.store, { name: 'legacy', caId: env.issuingId, template: older as ProductTemplate }, CLI_CONTEXT);
      await env.server.rt.catalogue.changed();
      expect(legacy.template).not.toHaveProperty('dcv');
      await validatedInRegistry('legacy.test', 'group:team-a');
      const { client } = await accountOf('team-a', `${env.acmeBase}/acme/legacy/directory`);
      const order = await client.createOrder({ identifiers: [{ type: 'dns', value: 'legacy.test' }] });
      expect(order.status).toBe('ready');
      const other = await client.createOrder({ identifiers: [{ type: 'dns', value: 'unproved.test' }] });
      expect(other.status).toBe('pending');
    });

    it('does not reuse another holder\'s validation, nor an http-01 one for a wildcard', async () => {
      await validatedInRegistry('other.test', 'group:team-a');
      for (const group of ['team-b', null]) {
        const { client } = await accountOf(group);
        const order = await client.createOrder({ identifiers: [{ type: 'dns', value: 'other.test' }] });
        expect(order.status, String(group)).toBe('pending');
        const [authz] = await client.getAuthorizations(order);
        expect(authz?.status).toBe('pending');
        expect(authz?.challenges.map((c) => `${c.type} ${c.status}`).sort()).toEqual(['dns-01 pending', 'http-01 pending', 'tls-alpn-01 pending']);
      }

      // What an http-01 (or tls-alpn-01) proof stands for: the name, never the wildcard under it.
      await domains().recordValidation({ name: 'web.test', wildcard: false, method: 'http-01', holder: 'group:team-a', validatedAt: new Date(clock.now()), createdBy: 'cli' }, CLI_CONTEXT);
      const { client } = await accountOf('team-a');
      const order = await client.createOrder({ identifiers: [{ type: 'dns', value: 'web.test' }, { type: 'dns', value: '*.web.test' }] });
      expect(order.status).toBe('pending');
      const byName = Object.fromEntries((await client.getAuthorizations(order)).map((a) => [`${a.wildcard ? '*.' : ''}${a.identifier.value}`, a]));
      expect(byName['web.test']?.status).toBe('valid');
      expect(byName['web.test']?.challenges.map((c) => `${c.type} ${c.status}`)).toEqual(['http-01 valid']);
      expect(byName['*.web.test']?.status).toBe('pending');
      expect(byName['*.web.test']?.challenges.map((c) => `${c.type} ${c.status}`)).toEqual(['dns-01 pending']);
    });

    it('records a name an ACME challenge proved for the account\'s group: it covers a REST request of that group under dcv: required, and another ACME account of the group', async () => {
      const { client } = await accountOf('team-a');
      const asked: string[] = [];
      await issuedPem(client, ['proved.test'], asked);
      expect(asked).toEqual(['http-01 proved.test']);

      const [record] = await domains().list({ holders: ['group:team-a'], name: 'proved.test', limit: 10 });
      expect(record).toMatchObject({ name: 'proved.test', holder: 'group:team-a', status: 'valid', method: 'http-01', source: 'acme' });

      // The same group's REST credential is covered (what the worker asks of a dcv: required product), another group's is not.
      const restOf = async (group: string) => env.server.rt.credentials.create({ type: 'rest', name: `rest-${group}-${Date.now()}`, products: '*', permissions: [{ ca: '*', actions: ['read', 'issue'] }], admin: false, ownerGroup: group }, CLI_CONTEXT);
      const restA = await restOf('team-a');
      const restB = await restOf('team-b');
      const coveredFor = async (credentialId: string) => {
        const holders = await domains().holdersOf({ credentialId, requester: `apikey:${credentialId}` });
        return (await domains().coverage(['proved.test'], holders, required.template.dcv))[0]?.coveredBy?.id ?? null;
      };
      expect(await coveredFor(restA.credential.id)).toBe(record?.id);
      expect(await coveredFor(restB.credential.id)).toBeNull();

      const res = await restCall(env.base, restA.secret, 'POST', '/v1/certificates', { productId: required.id, commonName: 'proved.test', sanDns: ['proved.test'] });
      expect(res.status, JSON.stringify(res.json)).toBe(201);
      const pem = (res.json.certificate as { certificate_pem: string }).certificate_pem;
      expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, pem)).toMatch(/: OK/);
      expect(sansOf(pem)).toEqual(['proved.test']);
      // Another group's request for the name waits for a proof of its own.
      const other = await restCall(env.base, restB.secret, 'POST', '/v1/certificates', { productId: required.id, commonName: 'proved.test', sanDns: ['proved.test'] });
      expect(other.status, JSON.stringify(other.json)).toBe(202);
      expect(other.json).toMatchObject({ status: 'pending_dcv', certificate_id: null });

      // Another account bound to a credential of the group is asked for nothing.
      const second = await accountOf('team-a');
      const again: string[] = [];
      await issuedPem(second.client, ['proved.test'], again);
      expect(again).toEqual([]);
    });

    it('issues a REST request waiting at pending_dcv once an ACME account of its group proves the name', async () => {
      const rest = await env.server.rt.credentials.create({ type: 'rest', name: `rest-waiting-${Date.now()}`, products: '*', permissions: [{ ca: '*', actions: ['read', 'issue'] }], admin: false, ownerGroup: 'team-c' }, CLI_CONTEXT);
      const waiting = await restCall(env.base, rest.secret, 'POST', '/v1/certificates', { productId: required.id, commonName: 'later.test', sanDns: ['later.test'] });
      expect(waiting.status, JSON.stringify(waiting.json)).toBe(202);
      expect(waiting.json.status).toBe('pending_dcv');

      const { client } = await accountOf('team-c');
      const asked: string[] = [];
      await issuedPem(client, ['later.test'], asked);
      expect(asked).toEqual(['http-01 later.test']);

      const requestOf = () => env.server.rt.store.requests.get(waiting.json.id as string);
      await until(async () => (await requestOf())?.status === 'issued', 20_000, 'the waiting REST request was issued');
      const cert = await env.server.rt.store.certificates.get((await requestOf())?.certificateId as string);
      expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, cert?.certificatePem as string)).toMatch(/: OK/);
      expect(sansOf(cert?.certificatePem as string)).toEqual(['later.test']);
    });

    it('issues when the registry cannot record the proof: the ACME validation stands', async () => {
      const registry = domains();
      const refused: string[] = [];
      registry.recordValidation = async (input) => {
        refused.push(input.name);
        throw new Error('the registry is down');
      };
      try {
        const { client } = await accountOf('team-a');
        const asked: string[] = [];
        const [leaf] = splitPem(await issuedPem(client, ['unrecorded.test'], asked));
        expect(asked).toEqual(['http-01 unrecorded.test']);
        expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, leaf as string)).toMatch(/: OK/);
      } finally {
        delete (registry as Partial<typeof registry>).recordValidation;
      }
      expect(refused).toEqual(['unrecorded.test']);
      expect(await domains().list({ holders: '*', name: 'unrecorded.test', limit: 10 })).toEqual([]);
    });

    it('records a tls-alpn-01 proof as http-01: the name is reused, its wildcard is not', async () => {
      const { client } = await accountOf('team-a');
      const [, csr] = await acme.crypto.createCsr({ commonName: 'alpn.test', altNames: ['alpn.test'] });
      await client.auto({
        csr,
        challengePriority: ['tls-alpn-01'],
        skipChallengeVerification: true,
        termsOfServiceAgreed: true,
        challengeCreateFn: async (a, _ch, ka) => env.tlsAlpn.set(a.identifier.value, ka),
        challengeRemoveFn: async () => undefined,
      });
      const [record] = await domains().list({ holders: ['group:team-a'], name: 'alpn.test', limit: 10 });
      expect(record).toMatchObject({ status: 'valid', method: 'http-01', source: 'acme' });
      const order = await client.createOrder({ identifiers: [{ type: 'dns', value: 'alpn.test' }, { type: 'dns', value: '*.alpn.test' }] });
      const byName = Object.fromEntries((await client.getAuthorizations(order)).map((a) => [`${a.wildcard ? '*.' : ''}${a.identifier.value}`, a.status]));
      expect(byName).toEqual({ 'alpn.test': 'valid', '*.alpn.test': 'pending' });
    });

    it('records an IP address an account without EAB proved under the account itself, and reuses it for that account', async () => {
      const raw = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), env.transport);
      expect((await raw.newAccount()).status).toBe(201);
      await raw.issue(['127.0.0.1'], 'http-01', (ch, ka) => env.http01.set(ch.token, ka));
      const holder = `requester:acme:${(raw.kid as string).split('/').pop() as string}`;
      const [record] = await domains().list({ holders: [holder], name: '127.0.0.1', limit: 10 });
      expect(record).toMatchObject({ holder, status: 'valid', method: 'http-01', source: 'acme' });

      const again = await raw.newOrder(['127.0.0.1']);
      expect(again.status, again.text).toBe(201);
      expect(again.json.status).toBe('ready');
    });

    // Last: the clock moves on for good.
    it('reuses a validation only within the order\'s product\'s window, and not in its last hours: then pending with challenges again', async () => {
      const record = await validatedInRegistry('window.test', 'group:team-a');
      const validatedAt = (record.validatedAt as Date).getTime();
      const { client, key } = await accountOf('team-a');
      const shortClient = acmeClientOf(`${env.acmeBase}/acme/${short.name}/directory`, key);
      await shortClient.createAccount({ termsOfServiceAgreed: true, onlyReturnExisting: true });
      const statusOf = async (c: acme.Client) => {
        const order = await c.createOrder({ identifiers: [{ type: 'dns', value: 'window.test' }] });
        const [authz] = await c.getAuthorizations(order);
        return { order: order.status, authz: authz?.status, challenges: authz?.challenges.map((ch) => ch.type).sort(), expires: [order.expires, authz?.expires] };
      };
      const reused = { order: 'ready', authz: 'valid', challenges: ['dns-01'] };
      const asked = { order: 'pending', authz: 'pending', challenges: ['dns-01', 'http-01', 'tls-alpn-01'] };
      expect(await statusOf(shortClient)).toMatchObject(reused);

      // A day of the short product's 5 left: reused, and the order ends with the window.
      clock.advance(4 * DAY_MS);
      const lastDay = await statusOf(shortClient);
      expect(lastDay).toMatchObject(reused);
      expect(lastDay.expires).toEqual([new Date(validatedAt + 5 * DAY_MS).toISOString(), new Date(validatedAt + 5 * DAY_MS).toISOString()]);
      // Under 21 hours left (an eighth of an order's 7 days, as Boulder): proved again.
      clock.advance(6 * 3_600_000);
      expect(await statusOf(shortClient)).toMatchObject(asked);
      // The default product's 30 days still cover it.
      expect(await statusOf(client)).toMatchObject(reused);

      clock.advance(27 * DAY_MS);
      expect(await statusOf(client)).toMatchObject(asked);
      expect((await domains().get(record.id))?.status).toBe('valid');
    });
  });
}
