// The domain registry as its users rely on it, through a real runtime and its worker, over SQLite
// and PostgreSQL: records validated over http-01 (either path) and dns-01 against a loopback web
// server and the stub DNS server; failures said clearly, audited and sent as dcv.failed; what
// covers a name (holder, reuse window, subdomains, wildcards); and a request of a dcv: required
// product that waits at pending_dcv and is issued once its last name is validated.
import { randomBytes, X509Certificate } from 'node:crypto';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import { credentialKindsOf } from '../src/core/protocol.js';
import type { AuditContext, DcvPolicy, DomainRecord, EnrollmentRequest } from '../src/core/types.js';
import { initialize } from '../src/init.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { PROTOCOLS } from '../protocols/index.js';
import { runningClock } from './helpers/clock.js';
import { startDnsServer, type StubDnsServer } from './helpers/dnsServer.js';
import { deploymentConfig, deploymentMissing, testConfig, type Backend, type QueueKind } from './helpers/gateway.js';
import { makeCsr, opensslVerify, tempDir } from './helpers/openssl.js';
import { until } from './helpers/until.js';
import { startWebServer, type WebServer } from './helpers/webServer.js';

const DAY = 86_400_000;
const log = pino({ level: 'silent' });
const BY: AuditContext = { actor: 'apikey:tester', protocol: 'rest', sourceIp: '127.0.0.1' };
const policy = (p: Partial<DcvPolicy> = {}): DcvPolicy => ({ mode: 'required', reuseDays: 30, subdomains: false, dnsLabel: '_certgate-challenge', ...p });

const DEPLOYMENTS: { backend: Backend; queue: QueueKind; skip: boolean }[] = [
  { backend: 'sqlite', queue: 'memory', skip: false },
  { backend: 'postgres', queue: 'bullmq', skip: deploymentMissing({ backend: 'postgres', queue: 'bullmq' }) },
];

for (const { backend, queue, skip } of DEPLOYMENTS) {
  describe.skipIf(skip)(`the domain registry (${backend}, ${queue} queue)`, () => {
    let rt: Runtime;
    let dns: StubDnsServer;
    let web: WebServer;
    let issuingId: string;
    let rootPem: string;
    const dir = tempDir('certgate-domains-');
    const clock = runningClock();
    /** Unique per test, so that tests share one deployment without sharing records. */
    const zone = () => `z${randomBytes(4).toString('hex')}.test`;

    beforeAll(async () => {
      [dns, web] = await Promise.all([startDnsServer(), startWebServer()]);
      const config = testConfig({ ...(await deploymentConfig({ backend, queue })), dataDir: dir, dnsServer: dns.address, http01Port: web.port, dcvMaxReuseDays: 45, queueBackoffMs: 50 });
      rt = await openRuntime(config, { log, credentialKinds: credentialKindsOf(PROTOCOLS), now: clock.now });
      const init = await initialize(rt);
      if (!init.root || !init.issuing) throw new Error('a fresh deployment was expected');
      issuingId = init.issuing.id;
      rootPem = init.root.certificatePem;
      await rt.startWorker();
    });
    afterAll(async () => {
      await rt?.close();
      await Promise.all([dns?.stop(), web?.stop()]);
    });

    const validated = async (id: string, method?: 'http-01' | 'dns-01'): Promise<DomainRecord> => {
      const queued = await rt.domains.validate(id, method, BY);
      expect(queued.status).toBe('validating');
      await until(async () => (await rt.domains.get(id))?.status !== 'validating', 20_000, `the validation of ${id} ended`);
      return (await rt.domains.get(id)) as DomainRecord;
    };
    const auditOf = async (target: string, action: string) => (await rt.store.audit.list({ target, action }, { limit: 100, offset: 0 })).entries;
    const dcvFailedEvents = async (domainId: string) => {
      const rows = await sql<{ id: string; product_id: string | null; data: string }>`select id, product_id, data from webhook_events where type = 'dcv.failed'`.execute(rt.store.db);
      return rows.rows.filter((r) => (JSON.parse(r.data) as { domainId?: string }).domainId === domainId);
    };

    it('adds a record once per name and holder, with a fresh base64url token, lower-cased and without a trailing dot', async () => {
      const name = `Www.${zone()}.`;
      const first = await rt.domains.add({ name, holder: 'group:web', createdBy: BY.actor }, BY);
      expect(first.created).toBe(true);
      expect(first.domain).toMatchObject({ name: name.toLowerCase().slice(0, -1), holder: 'group:web', status: 'pending', method: null, validatedAt: null, source: 'registry' });
      expect(first.domain.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const again = await rt.domains.add({ name: name.toLowerCase(), holder: 'group:web', createdBy: BY.actor }, BY);
      expect(again).toEqual({ domain: first.domain, created: false });
      const other = await rt.domains.add({ name, holder: 'group:ops', createdBy: BY.actor }, BY);
      expect(other.created).toBe(true);
      expect(other.domain.token).not.toBe(first.domain.token);
      expect(await auditOf(first.domain.id, 'domain.add')).toHaveLength(1);
      await expect(rt.domains.add({ name: `*.${zone()}`, holder: 'group:web', createdBy: BY.actor }, BY)).rejects.toThrow(/wildcard/);
      await expect(rt.domains.add({ name: 'not a name', holder: 'group:web', createdBy: BY.actor }, BY)).rejects.toThrow(/not a DNS name/);
    });

    it('validates over http-01 at /.well-known/pki-validation/ and at the ACME path, and over dns-01, with the dates set', async () => {
      const before = clock.now();
      const a = (await rt.domains.add({ name: `a.${zone()}`, holder: 'group:web', createdBy: BY.actor }, BY)).domain;
      web.answer(`/.well-known/pki-validation/${a.token}`, { body: `${a.token}\n` });
      const va = await validated(a.id, 'http-01');
      expect(va).toMatchObject({ status: 'valid', method: 'http-01', lastError: null });
      expect(va.validatedAt!.getTime()).toBeGreaterThanOrEqual(before);
      expect(va.expiresAt!.getTime()).toBe(va.validatedAt!.getTime() + 45 * DAY);

      const b = (await rt.domains.add({ name: `b.${zone()}`, holder: 'group:web', createdBy: BY.actor }, BY)).domain;
      web.answer(`/.well-known/acme-challenge/${b.token}`, { body: b.token });
      expect(await validated(b.id)).toMatchObject({ status: 'valid', method: 'http-01' });
      expect(web.seen).toContain(`/.well-known/pki-validation/${b.token}`);

      const c = (await rt.domains.add({ name: `c.${zone()}`, holder: 'group:web', createdBy: BY.actor }, BY)).domain;
      dns.setTxt(`_certgate-challenge.${c.name}`, ['something else', c.token]);
      expect(await validated(c.id, 'dns-01')).toMatchObject({ status: 'valid', method: 'dns-01' });

      const entries = await auditOf(a.id, 'domain.validate');
      expect(entries.map((e) => [e.actor, e.outcome, e.detail.step ?? 'ran'])).toEqual([
        ['system', 'success', 'ran'],
        [BY.actor, 'success', 'queued'],
      ]);
    });

    it('fails a wrong token, a refused connection and a redirect that breaks the rules, saying why, audited and sent as dcv.failed', async () => {
      const wrong = (await rt.domains.add({ name: `wrong.${zone()}`, holder: 'group:web', createdBy: BY.actor }, BY)).domain;
      web.answer(`/.well-known/pki-validation/${wrong.token}`, { body: 'not-the-token' });
      const w = await validated(wrong.id, 'http-01');
      expect(w.status).toBe('failed');
      expect(w.lastError).toMatch(/validation token file from http:\/\/wrong\.z[0-9a-f]+\.test:\d+\/\.well-known\/pki-validation\/.* did not match/);
      expect(w.lastError).toMatch(/HTTP 404/);

      const refusedName = `refused.${zone()}`;
      dns.setA(refusedName, '127.0.0.2');
      const refused = (await rt.domains.add({ name: refusedName, holder: 'group:web', createdBy: BY.actor }, BY)).domain;
      const r = await validated(refused.id, 'http-01');
      expect(r.status).toBe('failed');
      expect(r.lastError).toMatch(/at 127\.0\.0\.2: ECONNREFUSED/);

      const toIp = (await rt.domains.add({ name: `to-ip.${zone()}`, holder: 'group:web', createdBy: BY.actor }, BY)).domain;
      web.answer(`/.well-known/pki-validation/${toIp.token}`, { location: `http://127.0.0.1:${web.port}/.well-known/pki-validation/${toIp.token}` });
      const i = await validated(toIp.id, 'http-01');
      expect(i.status).toBe('failed');
      expect(i.lastError).toMatch(/Redirect from .* to the IP address 127\.0\.0\.1: redirects are followed to DNS names only/);

      const toPort = (await rt.domains.add({ name: `to-port.${zone()}`, holder: 'group:web', createdBy: BY.actor }, BY)).domain;
      web.answer(`/.well-known/pki-validation/${toPort.token}`, { location: `http://elsewhere.test:8081/x` });
      const p = await validated(toPort.id, 'http-01');
      expect(p.status).toBe('failed');
      expect(p.lastError).toMatch(/to port 8081: port 8081 is neither the default nor the configured port/);

      const dnsWrong = (await rt.domains.add({ name: `txt.${zone()}`, holder: 'group:web', createdBy: BY.actor }, BY)).domain;
      dns.setTxt(`_certgate-challenge.${dnsWrong.name}`, ['stale-token']);
      const d = await validated(dnsWrong.id, 'dns-01');
      expect(d).toMatchObject({ status: 'failed', method: 'dns-01' });
      expect(d.lastError).toMatch(/Incorrect TXT record "stale-token" found at _certgate-challenge\.txt\./);

      for (const failed of [w, r, i, p, d]) {
        const entries = await auditOf(failed.id, 'domain.validate');
        expect(entries[0]).toMatchObject({ actor: 'system', outcome: 'failure', detail: { name: failed.name, method: failed.method, error: failed.lastError } });
        const events = await dcvFailedEvents(failed.id);
        expect(events).toHaveLength(1);
        expect(JSON.parse(events[0]!.data)).toMatchObject({ name: failed.name, problem: failed.lastError, method: failed.method });
      }
      // The refused connection was tried again by the queue before it failed: one failure, one event.
      expect(await auditOf(refused.id, 'domain.validate')).toHaveLength(2);
    });

    it('retries a validation whose connection is cut, without a second record or a second outcome', async () => {
      const name = `flaky.${zone()}`;
      const domain = (await rt.domains.add({ name, holder: 'group:web', createdBy: BY.actor }, BY)).domain;
      web.answer(`/.well-known/pki-validation/${domain.token}`, { resets: 1, then: domain.token });
      const v = await validated(domain.id, 'http-01');
      expect(v.status).toBe('valid');
      expect(web.seen.filter((p) => p === `/.well-known/pki-validation/${domain.token}`)).toHaveLength(2);
      expect(await rt.domains.list({ holders: '*', name, limit: 10 })).toHaveLength(1);
      expect((await auditOf(domain.id, 'domain.validate')).filter((e) => e.actor === 'system')).toHaveLength(1);
    });

    it('covers a name for its holders only, within min(reuseDays, the deployment maximum)', async () => {
      const name = `held.${zone()}`;
      await rt.domains.recordValidation({ name, wildcard: false, method: 'http-01', holder: 'group:a', validatedAt: new Date(clock.now()), createdBy: 'acme:acct' }, BY);
      const coveredFor = async (holders: string[], p: DcvPolicy) => (await rt.domains.coverage([name], holders, p))[0]!.coveredBy !== null;
      expect(await coveredFor(['*', 'group:a'], policy())).toBe(true);
      expect(await coveredFor(['*', 'group:b', 'user:a'], policy())).toBe(false);
      clock.advance(31 * DAY);
      expect(await coveredFor(['group:a'], policy({ reuseDays: 30 }))).toBe(false);
      expect(await coveredFor(['group:a'], policy({ reuseDays: 60 }))).toBe(true);
      // The deployment's maximum (45 days here) caps a product that asks for more.
      clock.advance(15 * DAY);
      expect(await coveredFor(['group:a'], policy({ reuseDays: 60 }))).toBe(false);
    });

    it('covers names under a domain only with subdomains on and a dns-01 validation, and a wildcard only over dns-01', async () => {
      const http = zone();
      const viaDns = zone();
      const now = new Date(clock.now());
      await rt.domains.recordValidation({ name: http, wildcard: false, method: 'http-01', holder: 'group:a', validatedAt: now, createdBy: 'cli' }, BY);
      await rt.domains.recordValidation({ name: viaDns, wildcard: true, method: 'dns-01', holder: 'group:a', validatedAt: now, createdBy: 'cli' }, BY);
      const covered = async (names: string[], p: DcvPolicy) => (await rt.domains.coverage(names, ['group:a'], p)).map((c) => c.coveredBy?.name ?? null);
      expect(await covered([http, `*.${http}`, `www.${http}`], policy({ subdomains: true }))).toEqual([http, null, null]);
      expect(await covered([viaDns, `*.${viaDns}`, `www.${viaDns}`, `*.eu.${viaDns}`], policy())).toEqual([viaDns, viaDns, null, null]);
      expect(await covered([`www.${viaDns}`, `*.eu.${viaDns}`, `a.b.${viaDns}`], policy({ subdomains: true }))).toEqual([viaDns, viaDns, viaDns]);
    });

    it('lists by holder, status and name (a suffix with a leading dot), page by page, and removes a record with its links, audited', async () => {
      const z = zone();
      const holder = `group:${z}`;
      const made = [];
      for (const label of ['a', 'b', 'c']) made.push((await rt.domains.add({ name: `${label}.${z}`, holder, createdBy: BY.actor }, BY)).domain);
      await rt.domains.add({ name: `a.${z}`, holder: 'group:someone-else', createdBy: BY.actor }, BY);
      await rt.domains.add({ name: `not-${z}`, holder, createdBy: BY.actor }, BY);
      const names = async (filter: Partial<Parameters<Runtime['domains']['list']>[0]>) => (await rt.domains.list({ holders: [holder], limit: 10, ...filter })).map((d) => d.name);
      expect(await names({ name: `.${z}` })).toEqual([`a.${z}`, `b.${z}`, `c.${z}`]);
      expect((await rt.domains.list({ holders: '*', name: `.${z}`, limit: 10 })).map((d) => d.holder).sort()).toEqual(['group:someone-else', holder, holder, holder].sort());
      expect(await names({ name: `.${z}`, limit: 2 })).toEqual([`a.${z}`, `b.${z}`]);
      expect(await names({ name: `.${z}`, after: made[1]!.id })).toEqual([`c.${z}`]);
      expect(await names({ name: `B.${z}` })).toEqual([`b.${z}`]);
      expect(await names({ status: 'valid' })).toEqual([]);
      expect(await rt.domains.list({ holders: [], limit: 10 })).toEqual([]);

      const request = { id: `req-${z}`, credentialId: null, requester: 'apikey:nobody' } as EnrollmentRequest;
      await rt.store.domains.link(request.id, [{ name: `a.${z}`, domainId: made[0]!.id }]);
      expect(await rt.domains.remove(made[0]!.id, BY)).toBe(true);
      expect(await rt.domains.remove(made[0]!.id, BY)).toBe(false);
      expect(await rt.domains.get(made[0]!.id)).toBeUndefined();
      expect(await rt.store.domains.linksOfRequest(request.id)).toEqual([]);
      expect(await auditOf(made[0]!.id, 'domain.remove')).toMatchObject([{ actor: BY.actor, outcome: 'success', detail: { name: `a.${z}`, holder } }]);
      await expect(rt.domains.validate(made[0]!.id, 'http-01', BY)).rejects.toThrow(/not found/);
    });

    it("makes a request's missing name a record of its own holder, never linking one it cannot act on; a deployment validation covers everyone", async () => {
      const name = `shared.${zone()}`;
      const deployment = (await rt.domains.add({ name, holder: '*', createdBy: 'cli' }, BY)).domain;
      await rt.domains.add({ name, holder: 'group:other', createdBy: BY.actor }, BY);
      const request = { id: `req-${name}`, credentialId: null, requester: 'est:device-1' } as EnrollmentRequest;
      expect(await rt.domains.checkRequest(request, [name], policy())).toEqual({ ok: 'pending', detail: `waiting for domain control validation of ${name}` });
      const [link] = await rt.store.domains.linksOfRequest(request.id);
      expect(await rt.domains.get(link!.domainId)).toMatchObject({ name, holder: 'requester:est:device-1', source: 'request', createdBy: 'est:device-1', status: 'pending' });
      expect(await rt.domains.list({ holders: '*', name, limit: 10 })).toHaveLength(3);
      await rt.domains.recordValidation({ name, wildcard: false, method: 'dns-01', holder: '*', validatedAt: new Date(clock.now()), createdBy: 'cli' }, BY);
      expect(await rt.domains.checkRequest(request, [name], policy())).toEqual({ ok: true });
      expect((await rt.domains.coverage([name], ['*'], policy()))[0]!.coveredBy?.id).toBe(deployment.id);
    });

    it('picks up a validation asked for by a process that works no jobs (its record left validating)', async () => {
      const d = (await rt.domains.add({ name: `asked-elsewhere.${zone()}`, holder: 'group:web', createdBy: 'cli' }, BY)).domain;
      web.answer(`/.well-known/pki-validation/${d.token}`, { body: d.token });
      // What validate() writes, without the job a worker process would have been given.
      await rt.store.domains.move(d.id, ['pending'], { status: 'validating', method: 'http-01', lastError: null }, () => null);
      await until(async () => (await rt.domains.get(d.id))?.status === 'valid', 20_000, 'the sweep validated the record');
    });

    it('answers waitForValidation once the check has ended', async () => {
      const d = (await rt.domains.add({ name: `wait.${zone()}`, holder: 'group:web', createdBy: BY.actor }, BY)).domain;
      web.answer(`/.well-known/pki-validation/${d.token}`, { body: d.token });
      await rt.domains.validate(d.id, undefined, BY);
      expect(await rt.domains.waitForValidation(d.id, 20_000)).toMatchObject({ id: d.id, status: 'valid', method: 'http-01' });
      expect(await rt.domains.waitForValidation('no-such-domain', 1_000)).toBeUndefined();
    });

    it('validates an IP address over http-01 only', async () => {
      const ip = (await rt.domains.add({ name: '127.0.0.1', holder: `group:${zone()}`, createdBy: BY.actor }, BY)).domain;
      await expect(rt.domains.validate(ip.id, 'dns-01', BY)).rejects.toThrow(/IP address/);
      web.answer(`/.well-known/pki-validation/${ip.token}`, { body: ip.token });
      expect(await validated(ip.id, 'http-01')).toMatchObject({ status: 'valid', name: '127.0.0.1' });
      expect((await rt.domains.coverage(['127.0.0.1'], [ip.holder], policy()))[0]!.coveredBy?.id).toBe(ip.id);
    });

    describe('a request of a product with dcv: required', () => {
      let productId: string;
      let credentialId: string;
      beforeAll(async () => {
        const template = parseProductTemplate({ allowedDnsSuffixes: ['test'], allowWildcards: true, dcv: { mode: 'required', reuseDays: 10, dnsLabel: '_corp-dcv' } });
        productId = (await createProduct(rt.store, { name: `dcv-${backend}`, caId: issuingId, template }, CLI_CONTEXT)).id;
        const created = await rt.credentials.create({ type: 'rest', name: `web-${backend}`, products: '*', ownerGroup: 'web', permissions: [{ ca: '*', actions: ['read', 'issue'] }] }, CLI_CONTEXT);
        credentialId = created.credential.id;
      });

      const submit = async (names: string[]): Promise<EnrollmentRequest> => {
        const { csrPem } = makeCsr(dir, { subject: `/CN=${names[0]}`, san: names.map((n) => `DNS:${n}`) });
        const outcome = await rt.enrollments.submit({ principal: `apikey:${credentialId}`, credentialId, protocol: 'rest', product: { id: productId } }, csrPem);
        return outcome.request;
      };
      const statusOf = async (id: string) => (await rt.store.requests.get(id))?.status;

      it('waits at pending_dcv, one record per missing name under the credential group, and is issued when the last name is validated', async () => {
        const z = zone();
        const names = [`app.${z}`, `api.${z}`];
        const request = await submit(names);
        await until(async () => (await statusOf(request.id)) === 'pending_dcv', 20_000, 'the request waited for DCV');
        const waiting = (await rt.store.requests.get(request.id))!;
        expect(waiting.statusReason).toBe(`waiting for domain control validation of ${names.join(', ')}`);
        expect(await auditOf(request.id, 'request.await_dcv')).toHaveLength(1);

        const product = (await rt.store.products.get(productId))!;
        const entries = await rt.domains.ofRequest(waiting, parseProductTemplate(product.template).dcv);
        expect(entries.map((e) => [e.name, e.covered, e.domain.holder, e.domain.source, e.domain.createdBy]).sort()).toEqual(
          names.map((n) => [n, false, 'group:web', 'request', `apikey:${credentialId}`]).sort(),
        );
        // Asking again makes no second record.
        expect(await rt.domains.checkRequest(waiting, names, parseProductTemplate(product.template).dcv)).toMatchObject({ ok: 'pending' });
        expect(await rt.domains.list({ holders: ['group:web'], name: `.${z}`, limit: 10 })).toHaveLength(2);

        const app = entries.find((e) => e.name === names[0])!.domain;
        const api = entries.find((e) => e.name === names[1])!.domain;
        web.answer(`/.well-known/pki-validation/${app.token}`, { body: app.token });
        expect((await validated(app.id, 'http-01')).status).toBe('valid');
        expect(await statusOf(request.id)).toBe('pending_dcv');

        // dns-01 looks under the product's label too.
        dns.setTxt(`_corp-dcv.${api.name}`, [api.token]);
        expect((await validated(api.id, 'dns-01')).status).toBe('valid');
        await until(async () => (await statusOf(request.id)) === 'issued', 20_000, 'the request was issued');
        expect(await auditOf(request.id, 'request.resume')).toHaveLength(1);
        const certificate = (await rt.store.certificates.getByRequestId(request.id))!;
        const [issuingPem] = await rt.core.cas.chainOf(issuingId);
        expect(opensslVerify(dir, rootPem, issuingPem!, certificate.certificatePem)).toMatch(/OK/);
        expect(new X509Certificate(certificate.certificatePem).subjectAltName).toBe(names.map((n) => `DNS:${n}`).join(', '));

        // Within the product's window the same names are issued at once; past it they wait again.
        const again = await submit([...names].reverse());
        await until(async () => (await statusOf(again.id)) === 'issued', 20_000, 'the second request was issued');
        expect(await auditOf(again.id, 'request.await_dcv')).toHaveLength(0);
        clock.advance(11 * DAY);
        const late = await submit(names);
        await until(async () => (await statusOf(late.id)) === 'pending_dcv', 20_000, 'the late request waited for DCV');
        expect(await rt.domains.list({ holders: ['group:web'], name: `.${z}`, limit: 10 })).toHaveLength(2);
      });

      it('is resumed when the name is proved over ACME (recordValidation) under a holder of its credential', async () => {
        const name = `acme.${zone()}`;
        const request = await submit([name]);
        await until(async () => (await statusOf(request.id)) === 'pending_dcv', 20_000, 'the request waited for DCV');
        const recorded = await rt.domains.recordValidation({ name, wildcard: false, method: 'http-01', holder: 'group:web', validatedAt: new Date(clock.now()), createdBy: 'acme:account-1' }, BY);
        // The record the request waited on is the one ACME's validation now made valid.
        expect(recorded).toMatchObject({ name, status: 'valid', source: 'request', holder: 'group:web' });
        await until(async () => (await statusOf(request.id)) === 'issued', 20_000, 'the request was issued');
      });

      it('waits for a wildcard until its base name is validated over dns-01, and tells dcv.failed under the product', async () => {
        const z = zone();
        const request = await submit([`*.${z}`]);
        await until(async () => (await statusOf(request.id)) === 'pending_dcv', 20_000, 'the request waited for DCV');
        const [entry] = await rt.domains.ofRequest((await rt.store.requests.get(request.id))!, policy({ reuseDays: 10 }));
        expect(entry).toMatchObject({ name: `*.${z}`, covered: false, domain: { name: z } });
        web.answer(`/.well-known/pki-validation/${entry!.domain.token}`, { body: entry!.domain.token });
        expect((await validated(entry!.domain.id, 'http-01')).status).toBe('valid');
        // Valid over http-01 covers no wildcard: the request still waits.
        expect(await statusOf(request.id)).toBe('pending_dcv');

        dns.setTxt(`_corp-dcv.${z}`, ['wrong']);
        expect((await validated(entry!.domain.id, 'dns-01')).status).toBe('failed');
        const [event] = await dcvFailedEvents(entry!.domain.id);
        expect(event?.product_id).toBe(productId);
        expect(JSON.parse(event!.data)).toMatchObject({ requests: [request.id] });
        expect(await statusOf(request.id)).toBe('pending_dcv');

        dns.setTxt(`_corp-dcv.${z}`, [entry!.domain.token]);
        expect((await validated(entry!.domain.id, 'dns-01')).status).toBe('valid');
        await until(async () => (await statusOf(request.id)) === 'issued', 20_000, 'the wildcard request was issued');
      });
    });
  });
}
