// The domain registry over REST and the CLI: records held per owner and what they may do to them,
// what to publish (the challenges block), validation over http-01 (a loopback answerer) and dns-01
// (the stub DNS server), and the DCV steps of a REST order: 202 pending_dcv, its dcv view, a
// recheck, and the same request issued. Everything over SQLite and PostgreSQL.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heldResource, may, principalOfCredential } from '../src/auth/authorize.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import type { AuditEntry, CredentialRecord } from '../src/core/types.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { startHttp01Responder, type Http01Responder } from './helpers/acmeResponders.js';
import { certgate, certgateAsync } from './helpers/certgateCli.js';
import { startDnsServer, type StubDnsServer } from './helpers/dnsServer.js';
import { makeCsr, opensslVerify, tempDir } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type ApiAnswer, type RestEnv } from './helpers/restEnv.js';
import { runningClock, type TestClock } from './helpers/clock.js';
import { until } from './helpers/until.js';

interface DomainJson {
  id: string;
  name: string;
  holder: string;
  status: string;
  method: string | null;
  validated_at: string | null;
  expires_at: string | null;
  last_error: string | null;
  challenges: { 'http-01': { url: string; alternative_url: string; content: string }; 'dns-01': { record_name: string; type: string; value: string } };
}

const domainOf = (res: ApiAnswer): DomainJson => res.json as unknown as DomainJson;

let dns: StubDnsServer;
let http: Http01Responder;

beforeAll(async () => {
  [dns, http] = await Promise.all([startDnsServer(), startHttp01Responder()]);
});
afterAll(async () => {
  await Promise.all([dns?.stop(), http?.stop()]);
});

/** The validator sent to loopback only: the stub DNS server answers A 127.0.0.1 for every name. */
const dcvOverrides = () => ({ dnsServer: dns.address, http01Port: http.port, rateLimitPerMinute: 0, issueRateLimitPerMinute: 0 });

/** The token's file, where the http-01 check finds it (the responder serves the ACME-style path). */
const publishHttp = (d: DomainJson): void => {
  expect(d.challenges['http-01'].alternative_url).toMatch(/\/\.well-known\/acme-challenge\//);
  http.set(d.challenges['http-01'].content, d.challenges['http-01'].content);
};

describe.each(REST_DEPLOYMENTS)('the domain registry over REST: $name', (d) => {
  let env: RestEnv;
  /** The deployment's clock: the last case steps it past a reuse window. */
  let clock: TestClock;
  let suffix: string;
  /** Two keys of group team-a (one scope own), one of team-b, and a device credential. */
  let teamA: string;
  let teamA2: string;
  let teamAOwn: string;
  let teamB: string;
  let estSecret: string;
  let est: CredentialRecord;

  const name = (label: string): string => `${label}.${suffix}`;
  const refusalsOf = async (target: string): Promise<AuditEntry[]> =>
    (await env.server.rt.core.audit.list({ target }, { limit: 50, offset: 0 })).entries.filter((e) => e.outcome === 'refused');

  beforeAll(async () => {
    if (d.skip) return;
    clock = runningClock();
    env = await startRestEnv(d, dcvOverrides(), clock.now);
    suffix = `${randomUUID().slice(0, 8)}.domains.test`;
    const make = async (label: string, ownerGroup: string, scope: 'product' | 'own' = 'product') => {
      const { credential, secret } = await env.server.rt.credentials.create(
        { type: 'rest', name: label, products: '*', permissions: [{ ca: env.issuingId, actions: ['read', 'issue', 'revoke'] }], admin: false, ownerGroup, scope },
        CLI_CONTEXT,
      );
      return { id: credential.id, token: secret };
    };
    teamA = (await make('team-a', 'team-a')).token;
    teamA2 = (await make('team-a-2', 'team-a')).token;
    teamAOwn = (await make('team-a-own', 'team-a', 'own')).token;
    teamB = (await make('team-b', 'team-b')).token;
    const device = await env.server.rt.credentials.create({ type: 'est', name: 'router', products: '*' }, CLI_CONTEXT);
    [est, estSecret] = [device.credential, device.secret];
  }, 120_000);
  afterAll(async () => {
    await env?.close();
  });

  it.skipIf(d.skip)('adds a record held by the caller\'s group, idempotently, and says exactly what to publish', async () => {
    const added = await env.api('POST', '/v1/domains', teamA, { name: `Shop.${suffix}.` });
    expect(added.status, added.text).toBe(201);
    const rec = domainOf(added);
    expect(added.headers.get('location')).toBe(`/v1/domains/${rec.id}`);
    expect(rec).toMatchObject({ name: name('shop'), holder: 'group:team-a', status: 'pending', method: null, validated_at: null, expires_at: null, last_error: null });
    const token = rec.challenges['http-01'].content;
    expect(token).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(rec.challenges).toEqual({
      'http-01': { url: `http://${name('shop')}/.well-known/pki-validation/${token}`, alternative_url: `http://${name('shop')}/.well-known/acme-challenge/${token}`, content: token },
      'dns-01': { record_name: `_certgate-challenge.${name('shop')}`, type: 'TXT', value: token },
    });

    // The same name for the same holder, by another key of the group: the record there is.
    const again = await env.api('POST', '/v1/domains', teamA2, { name: name('shop') });
    expect(again.status, again.text).toBe(200);
    expect(domainOf(again).id).toBe(rec.id);
    // Another holder's record of the same name is its own.
    const theirs = await env.api('POST', '/v1/domains', teamB, { name: name('shop') });
    expect(theirs.status, theirs.text).toBe(201);
    expect(domainOf(theirs)).toMatchObject({ holder: 'group:team-b' });
    expect(domainOf(theirs).id).not.toBe(rec.id);

    const shown = await env.api('GET', `/v1/domains/${rec.id}`, teamA2, undefined);
    expect(shown.status, shown.text).toBe(200);
    expect(shown.json).toEqual(added.json);
    const entries = (await env.server.rt.core.audit.list({ action: 'domain.add' }, { limit: 50, offset: 0 })).entries;
    expect(entries.filter((e) => e.target === rec.id || JSON.stringify(e).includes(rec.id)).length).toBeGreaterThanOrEqual(1);
  });

  it.skipIf(d.skip)('refuses another group\'s records, holders that are not the caller\'s, and device credentials; refusals audited', async () => {
    const rec = domainOf(await env.api('POST', '/v1/domains', teamA, { name: name('private') }));
    for (const [method, path, body] of [
      ['GET', `/v1/domains/${rec.id}`, undefined],
      ['POST', `/v1/domains/${rec.id}/validate`, {}],
      ['DELETE', `/v1/domains/${rec.id}`, undefined],
    ] as const) {
      const res = await env.api(method, path, teamB, body);
      expect(res.status, `${method} ${path}: ${res.text}`).toBe(403);
      expect(res.json.error).toMatch(/another owner/);
    }
    expect((await refusalsOf(rec.id)).map((e) => e.action).sort()).toEqual(['domain.read', 'domain.remove', 'domain.validate']);
    // Not in team-b's list either.
    const listed = await env.api('GET', `/v1/domains?name=${name('private')}`, teamB, undefined);
    expect(listed.status).toBe(200);
    expect(listed.json.domains).toEqual([]);

    const forB = await env.api('POST', '/v1/domains', teamA, { name: name('for-b'), holder: 'group:team-b' });
    expect(forB.status, forB.text).toBe(403);
    const everyone = await env.api('POST', '/v1/domains', teamA, { name: name('everyone'), holder: '*' });
    expect(everyone.status, everyone.text).toBe(403);
    expect(everyone.json.error).toMatch(/whole deployment: only an admin/);
    // An admin names any holder, the whole deployment too; everyone reads that, only admins change it.
    const deployment = await env.api('POST', '/v1/domains', env.adminToken, { name: name('everyone'), holder: '*' });
    expect(deployment.status, deployment.text).toBe(201);
    const shared = domainOf(deployment);
    expect((await env.api('GET', `/v1/domains/${shared.id}`, teamB, undefined)).status).toBe(200);
    expect((await env.api('DELETE', `/v1/domains/${shared.id}`, teamB, undefined)).status).toBe(403);
    expect((await env.api('POST', '/v1/domains', env.adminToken, { name: name('given'), holder: 'group:team-b' })).status).toBe(201);

    // scope own: reads the group's records, acts only on those it made.
    expect((await env.api('GET', `/v1/domains/${rec.id}`, teamAOwn, undefined)).status).toBe(200);
    const ownValidate = await env.api('POST', `/v1/domains/${rec.id}/validate`, teamAOwn, {});
    expect(ownValidate.status, ownValidate.text).toBe(403);
    expect(ownValidate.json.error).toMatch(/made by another/);
    expect((await env.api('POST', '/v1/domains', teamAOwn, { name: name('own') })).status).toBe(201);

    // A device's credential (EST) does not get past REST's door, and were it to, the decision refuses it.
    const device = await env.api('GET', '/v1/domains', estSecret, undefined);
    expect(device.status, device.text).toBe(401);
    const decision = may(principalOfCredential(est, `est:${est.id}`), 'read', heldResource('domain', { id: rec.id, holder: rec.holder, createdBy: 'x' }));
    expect(decision).toEqual({ ok: false, reason: 'a est credential may not manage domains' });
  });

  it.skipIf(d.skip)('answers bad input with a 400 naming the field, an unknown id with 404, never a 5xx', async () => {
    const bad = async (method: string, path: string, body: unknown, field: string) => {
      const res = await env.api(method, path, teamA, body);
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}: ${res.text}`).toBe(400);
      expect(res.json.error).toContain(field);
    };
    await bad('POST', '/v1/domains', { name: 'not a name!' }, 'name');
    await bad('POST', '/v1/domains', { name: '' }, 'name');
    await bad('POST', '/v1/domains', { name: 42 }, 'name');
    await bad('POST', '/v1/domains', { name: `a..${suffix}` }, 'name');
    await bad('POST', '/v1/domains', { name: name('x'), holder: 'nobody' }, 'holder');
    await bad('POST', '/v1/domains', { name: name('x'), extra: 1 }, 'extra');
    const rec = domainOf(await env.api('POST', '/v1/domains', teamA, { name: name('input') }));
    await bad('POST', `/v1/domains/${rec.id}/validate`, { method: 'tls-alpn-01' }, 'method');
    await bad('POST', `/v1/domains/${rec.id}/validate?wait=31`, {}, 'wait');
    await bad('GET', '/v1/domains?status=done', undefined, 'status');
    await bad('GET', '/v1/domains?pageSize=0', undefined, 'pageSize');
    for (const [method, path] of [
      ['GET', '/v1/domains/nope'],
      ['POST', '/v1/domains/nope/validate'],
      ['DELETE', '/v1/domains/nope'],
      ['GET', '/v1/requests/nope/dcv'],
      ['POST', '/v1/requests/nope/dcv/recheck'],
      ['GET', '/v1/certificates/nope/dcv'],
    ] as const) {
      const res = await env.api(method, path, teamA, method === 'POST' ? {} : undefined);
      expect(res.status, `${method} ${path}`).toBe(404);
    }

    const body = fc.oneof(
      fc.record({ name: fc.oneof(fc.string(), fc.domain(), fc.constant(name('fuzz'))), holder: fc.option(fc.oneof(fc.string(), fc.constantFrom('*', 'group:team-a', 'group:team-b')), { nil: undefined }) }, { requiredKeys: ['name'] }),
      fc.anything(),
      fc.json(),
    );
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const res = await env.api('POST', '/v1/domains', teamA, typeof b === 'string' ? b : b === undefined ? {} : b);
        expect(res.status, `${JSON.stringify(b)}: ${res.text}`).toBeLessThan(500);
        expect([200, 201, 400, 403]).toContain(res.status);
        if (res.status >= 400) expect(typeof res.json.error).toBe('string');
      }),
      { numRuns: 60 },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.record({ method: fc.oneof(fc.string(), fc.constantFrom('http-01', 'dns-01')) }), fc.anything()), async (b) => {
        const res = await env.api('POST', `/v1/domains/${rec.id}/validate`, teamA, b === undefined ? {} : b);
        expect([202, 400]).toContain(res.status);
      }),
      { numRuns: 30 },
    );
  }, 120_000);

  it.skipIf(d.skip)('validates over http-01 (?wait answers with the outcome) and over dns-01 (polled); a wrong token fails with the reason', async () => {
    const web = domainOf(await env.api('POST', '/v1/domains', teamA, { name: name('web') }));
    publishHttp(web);
    const done = await env.api('POST', `/v1/domains/${web.id}/validate?wait=30`, teamA, {});
    expect(done.status, done.text).toBe(200);
    expect(domainOf(done)).toMatchObject({ id: web.id, status: 'valid', method: 'http-01', last_error: null });
    const validatedAt = Date.parse(domainOf(done).validated_at as string);
    expect(Date.parse(domainOf(done).expires_at as string) - validatedAt).toBe(398 * 86_400_000);

    const txt = domainOf(await env.api('POST', '/v1/domains', teamA, { name: name('txt') }));
    dns.setTxt(txt.challenges['dns-01'].record_name, [txt.challenges['dns-01'].value]);
    const queued = await env.api('POST', `/v1/domains/${txt.id}/validate`, teamA, { method: 'dns-01' });
    expect(queued.status, queued.text).toBe(202);
    expect(domainOf(queued)).toMatchObject({ status: 'validating', method: 'dns-01' });
    let now: DomainJson = domainOf(queued);
    await until(async () => {
      now = domainOf(await env.api('GET', `/v1/domains/${txt.id}`, teamA, undefined));
      return now.status !== 'validating';
    }, 30_000, 'the dns-01 check ended');
    expect(now).toMatchObject({ status: 'valid', method: 'dns-01' });

    const wrong = domainOf(await env.api('POST', '/v1/domains', teamA, { name: name('wrong') }));
    http.set(wrong.challenges['http-01'].content, 'not the token');
    const failed = await env.api('POST', `/v1/domains/${wrong.id}/validate?wait=30`, teamA, { method: 'http-01' });
    expect(failed.status, failed.text).toBe(200);
    expect(domainOf(failed)).toMatchObject({ status: 'failed', method: 'http-01', validated_at: null });
    expect(domainOf(failed).last_error).toEqual(expect.any(String));
    // Put right, and asked again: the same record is valid.
    http.set(wrong.challenges['http-01'].content, wrong.challenges['http-01'].content);
    const retried = await env.api('POST', `/v1/domains/${wrong.id}/validate?wait=30`, teamA, {});
    expect(retried.status, retried.text).toBe(200);
    expect(domainOf(retried)).toMatchObject({ status: 'valid', method: 'http-01', last_error: null });

    const validations = (await env.server.rt.core.audit.list({ action: 'domain.validate' }, { limit: 100, offset: 0 })).entries;
    const of = (id: string) => validations.filter((e) => e.target === id).map((e) => e.outcome);
    await until(async () => of(web.id).includes('success'), 10_000, 'the http-01 validation was audited');
    expect(of(web.id)).toContain('success');
    expect(of(txt.id)).toContain('success');
    expect(of(wrong.id)).toContain('failure');
  }, 120_000);

  it.skipIf(d.skip)('lists by status and name (exact, or under a suffix), page by page, and removes', async () => {
    const base = `list-${randomUUID().slice(0, 6)}.${suffix}`;
    const made: DomainJson[] = [];
    for (const label of ['a', 'b', 'c']) made.push(domainOf(await env.api('POST', '/v1/domains', teamA, { name: `${label}.${base}` })));
    // Another group's, under the same suffix: never in team-a's list.
    await env.api('POST', '/v1/domains', teamB, { name: `d.${base}` });

    const exact = await env.api('GET', `/v1/domains?name=b.${base}`, teamA, undefined);
    expect((exact.json.domains as DomainJson[]).map((x) => x.id)).toEqual([made[1]?.id]);

    const seen: string[] = [];
    let after: string | null = null;
    do {
      const page: ApiAnswer = await env.api('GET', `/v1/domains?name=.${base}&pageSize=2${after ? `&after=${after}` : ''}`, teamA, undefined);
      expect(page.status, page.text).toBe(200);
      const domains = page.json.domains as DomainJson[];
      expect(domains.length).toBeLessThanOrEqual(2);
      seen.push(...domains.map((x) => x.id));
      after = page.json.nextCursor as string | null;
    } while (after);
    expect(seen.sort()).toEqual(made.map((x) => x.id).sort());
    const all = await env.api('GET', `/v1/domains?name=.${base}`, env.adminToken, undefined);
    expect((all.json.domains as DomainJson[]).length).toBe(4);

    const pendingOnly = await env.api('GET', `/v1/domains?name=.${base}&status=valid`, teamA, undefined);
    expect(pendingOnly.json.domains).toEqual([]);

    const gone = made[0] as DomainJson;
    const removed = await env.api('DELETE', `/v1/domains/${gone.id}`, teamA2, undefined);
    expect(removed.status, removed.text).toBe(204);
    expect((await env.api('GET', `/v1/domains/${gone.id}`, teamA, undefined)).status).toBe(404);
    expect((await env.server.rt.core.audit.list({ action: 'domain.remove', target: gone.id }, { limit: 5, offset: 0 })).entries).toHaveLength(1);
  });

  it.skipIf(d.skip)('a REST order for an unvalidated name waits at pending_dcv with its dcv view; a recheck issues the same request', async () => {
    const product = await createProduct(
      env.server.rt.store,
      { name: `dcv-${randomUUID().slice(0, 8)}`, caId: env.issuingId, template: parseProductTemplate({ dcv: { mode: 'required' } }) },
      CLI_CONTEXT,
    );
    const host = name('order');
    const { csrPem } = makeCsr(env.dir, { subject: `/CN=${host}`, san: [`DNS:${host}`] });
    const asked = await env.api('POST', '/v1/certificates', teamA, { productId: product.id, mode: 'csr', csrPem });
    expect(asked.status, asked.text).toBe(202);
    const requestId = asked.json.request_id as string;
    expect(asked.json).toMatchObject({ id: requestId, status: 'pending_dcv' });
    const block = asked.json.dcv as { name: string; covered: boolean; domain_id: string; token: string; status: string; challenges: DomainJson['challenges'] }[];
    expect(block).toEqual([expect.objectContaining({ name: host, covered: false, status: 'pending' })]);
    const entry = block[0] as (typeof block)[number];
    expect(entry.challenges['dns-01']).toEqual({ record_name: `_certgate-challenge.${host}`, type: 'TXT', value: entry.token });

    const view = await env.api('GET', `/v1/requests/${requestId}/dcv`, teamA, undefined);
    expect(view.status, view.text).toBe(200);
    expect(view.json).toEqual({ request_id: requestId, request_status: 'pending_dcv', names: block });
    const got = await env.api('GET', `/v1/requests/${requestId}`, teamA, undefined);
    expect(got.json).toMatchObject({ status: 'pending_dcv', dcv: block });
    // A credential of another CA may neither see the request nor recheck it; both refusals audited.
    const outsider = (await env.restKey('outsider', [{ ca: env.rootId, actions: ['read', 'issue'] }])).token;
    expect((await env.api('GET', `/v1/requests/${requestId}/dcv`, outsider, undefined)).status).toBe(403);
    expect((await env.api('POST', `/v1/requests/${requestId}/dcv/recheck`, outsider, {})).status).toBe(403);
    expect((await refusalsOf(requestId)).map((e) => e.action).sort()).toEqual(['domain.validate', 'request.read']);

    // The token published, a recheck: the same request is issued.
    http.set(entry.token, entry.token);
    const recheck = await env.api('POST', `/v1/requests/${requestId}/dcv/recheck`, teamA, {});
    expect(recheck.status, recheck.text).toBe(202);
    let request: Record<string, unknown> = {};
    await until(async () => {
      request = (await env.api('GET', `/v1/requests/${requestId}`, teamA, undefined)).json;
      return request.status === 'issued';
    }, 60_000, 'the request was issued');
    const certificateId = request.certificate_id as string;
    const cert = await env.api('GET', `/v1/certificates/${certificateId}`, teamA, undefined);
    expect(cert.json).toMatchObject({ request_id: requestId, san_dns: [host] });
    expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, cert.json.certificate_pem as string)).toMatch(/OK/);

    const after = await env.api('GET', `/v1/certificates/${certificateId}/dcv`, teamA, undefined);
    expect(after.status, after.text).toBe(200);
    expect(after.json).toMatchObject({ request_id: requestId, request_status: 'issued', names: [expect.objectContaining({ name: host, covered: true, status: 'valid', method: 'http-01' })] });
    // Nothing left to recheck.
    expect((await env.api('POST', `/v1/requests/${requestId}/dcv/recheck`, teamA, {})).status).toBe(409);
    // A validation of the group covers its next order at once.
    const { csrPem: again } = makeCsr(env.dir, { subject: `/CN=${host}`, san: [`DNS:${host}`] });
    expect((await env.api('POST', '/v1/certificates', teamA2, { productId: product.id, mode: 'csr', csrPem: again })).status).toBe(201);
  }, 120_000);

  /** A product requiring DCV, and an order of `host` under it by `token`. */
  const dcvProduct = (dcv: Record<string, unknown>) =>
    createProduct(env.server.rt.store, { name: `dcv-${randomUUID().slice(0, 8)}`, caId: env.issuingId, template: parseProductTemplate({ dcv: { mode: 'required', ...dcv } }) }, CLI_CONTEXT);
  const order = (productId: string, host: string, token: string) => env.api('POST', '/v1/certificates', token, { productId, mode: 'csr', csrPem: makeCsr(env.dir, { subject: `/CN=${host}`, san: [`DNS:${host}`] }).csrPem });
  const issuedInTime = async (requestId: string): Promise<void> =>
    until(async () => (await env.api('GET', `/v1/requests/${requestId}`, teamA, undefined)).json.status === 'issued', 60_000, `request ${requestId} was issued`);

  it.skipIf(d.skip)("shows the TXT record under the product's own label, and a dns-01 recheck there issues the request", async () => {
    const product = await dcvProduct({ dnsLabel: '_pki-proof' });
    const host = name('labelled');
    const asked = await order(product.id, host, teamA);
    expect(asked.status, asked.text).toBe(202);
    const [entry] = asked.json.dcv as { token: string; challenges: DomainJson['challenges'] }[];
    if (!entry) throw new Error('no dcv entry');
    expect(entry.challenges['dns-01']).toEqual({ record_name: `_pki-proof.${host}`, type: 'TXT', value: entry.token });
    dns.setTxt(`_pki-proof.${host}`, [entry.token]);
    const recheck = await env.api('POST', `/v1/requests/${asked.json.request_id as string}/dcv/recheck`, teamA, { method: 'dns-01' });
    expect(recheck.status, recheck.text).toBe(202);
    expect(recheck.json.names).toEqual([expect.objectContaining({ name: host, status: 'validating', method: 'dns-01' })]);
    await issuedInTime(asked.json.request_id as string);
  }, 120_000);

  // Last: it moves the deployment's clock.
  it.skipIf(d.skip)('reuses a validation within the product\'s window; past it, the next order waits again on the same record', async () => {
    const product = await dcvProduct({ reuseDays: 2 });
    const host = name('window');
    const first = await order(product.id, host, teamA);
    expect(first.status, first.text).toBe(202);
    const [entry] = first.json.dcv as { token: string; domain_id: string }[];
    if (!entry) throw new Error('no dcv entry');
    http.set(entry.token, entry.token);
    expect((await env.api('POST', `/v1/requests/${first.json.request_id as string}/dcv/recheck`, teamA, {})).status).toBe(202);
    await issuedInTime(first.json.request_id as string);

    clock.advance(86_400_000);
    expect((await order(product.id, host, teamA2)).status).toBe(201);

    clock.advance(2 * 86_400_000);
    const late = await order(product.id, host, teamA);
    expect(late.status, late.text).toBe(202);
    expect(late.json).toMatchObject({ status: 'pending_dcv', dcv: [expect.objectContaining({ name: host, domain_id: entry.domain_id, status: 'valid', covered: false })] });
  }, 120_000);
});

describe('certgate domain …', () => {
  const dir = tempDir();
  const dcvEnv = () => ({ CERTGATE_DNS_SERVER: dns.address, CERTGATE_HTTP01_PORT: String(http.port) });
  const run = (args: string[]) => certgate(dir, args, dcvEnv());
  // A check asks the stub DNS server and the answerer, which live in this process: it must not block.
  const check = (args: string[]) => certgateAsync(dir, args, dcvEnv());

  beforeAll(() => {
    const init = certgate(dir, ['init', '--json']);
    expect(init.code, init.stderr).toBe(0);
  }, 60_000);

  it('adds (for the whole deployment), lists, shows the challenges, validates and removes', async () => {
    const name = `cli-${randomUUID().slice(0, 8)}.domains.test`;
    const added = run(['domain', 'add', name, '--json']);
    expect(added.code, added.stderr).toBe(0);
    const rec = added.json() as unknown as DomainJson & { created: boolean };
    expect(rec).toMatchObject({ name, holder: '*', status: 'pending', created: true });
    const token = rec.challenges['http-01'].content;

    const human = run(['domain', 'show', rec.id]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(`http://${name}/.well-known/pki-validation/${token}`);
    expect(human.stdout).toContain(`_certgate-challenge.${name} TXT "${token}"`);

    expect(run(['domain', 'add', name, '--holder', 'group:ops', '--json']).json()).toMatchObject({ holder: 'group:ops', created: true });
    const listed = run(['domain', 'list', '--name', name, '--json']).json() as unknown as DomainJson[];
    expect(listed.map((x) => x.holder).sort()).toEqual(['*', 'group:ops']);
    expect(run(['domain', 'list', '--status', 'valid']).stdout).not.toContain(name);
    expect(run(['domain', 'list']).stdout).toMatch(/^ID\s+NAME\s+HOLDER\s+STATUS/);

    http.set(token, token);
    // Embedded, the console runs the check itself.
    const validated = await check(['domain', 'validate', rec.id, '--method', 'http-01', '--json']);
    expect(validated.code, validated.stdout + validated.stderr).toBe(0);
    expect(validated.json()).toMatchObject({ id: rec.id, status: 'valid', method: 'http-01' });

    const wrongName = `cli-wrong-${randomUUID().slice(0, 8)}.domains.test`;
    const wrong = run(['domain', 'add', wrongName, '--json']).json() as unknown as DomainJson;
    http.set(wrong.challenges['http-01'].content, 'not the token');
    const failed = await check(['domain', 'validate', wrong.id]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(new RegExp(`domain ${wrong.id} ${wrongName} \\(holder \\*\\): failed`));
    expect(failed.stdout).toMatch(/last error: .+/);

    const removed = run(['domain', 'remove', rec.id]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(run(['domain', 'show', rec.id]).code).toBe(1);
  }, 180_000);

  it('refuses bad options naming them', () => {
    expect(run(['domain', 'list', '--status', 'done']).stderr).toMatch(/--status.*unknown status "done"/);
    expect(run(['domain', 'add', 'x.test', '--holder', 'nobody']).stderr).toMatch(/--holder/);
    expect(run(['domain', 'validate', 'x', '--method', 'tls-alpn-01']).stderr).toMatch(/--method.*unknown method/);
    const missing = run(['domain', 'show', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/domain nope not found/);
  }, 120_000);
});
