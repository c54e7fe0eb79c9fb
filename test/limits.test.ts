// Limits on every door (issue 19, finding 6): issuance limited per requester and per credential
// over ACME, EST and SCEP as REST's is; a REST credential past its 429 mints no SCEP challenge;
// failed logins slowed, then refused (the right secret too) per source address and per claimed
// identity; refused logins audited once per window and source, with a count. Every connection
// is to and from loopback addresses (127.0.0.0/8): a source address of its own per test keeps
// one test's flood out of another's count.
import { randomBytes, randomUUID } from 'node:crypto';
import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AUDIT } from '../src/audit/actions.js';
import { LoginThrottle, RefusalAudit } from '../src/auth/loginThrottle.js';
import { MemoryRateCounter, RedisRateCounter, type RateCounter } from '../src/core/rateCounter.js';
import type { AuditEntry, AuditEntryInput, EnrollmentRequest, ProductRecord, RequestStatus } from '../src/core/types.js';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { fromPem } from '../src/pki/pem.js';
import { MESSAGE_TYPE } from '../protocols/scep/algorithms.js';
import { acmeClientOf, startAcmeEnv, type AcmeEnv } from './helpers/acmeEnv.js';
import { basic, csrDer, startEstEnv, type EstEnv } from './helpers/est.js';
import { httpRequest, type HttpReply } from './helpers/http.js';
import { makeCsr } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from './helpers/restEnv.js';
import { startScepEnv, type ScepEnv } from './helpers/scepEnv.js';
import { buildRequest, getCaCert, pkiOperation, readReply, rsaKey, selfSigned, type RaInfo } from './helpers/scepClient.js';
import { until } from './helpers/until.js';
import { runningClock, type TestClock } from './helpers/clock.js';

const ALL_STATUSES: RequestStatus[] = ['queued', 'pending_approval', 'pending_dcv', 'signing', 'issued', 'rejected', 'failed'];
const MINUTE = 60_000;
// Long enough that a flood on a busy machine ends inside the window it started in.
const THROTTLE_WINDOW_S = 12;

/**
 * Moves the deployment's clock to the start of the next fixed window of `windowMs`: a burst then
 * stays inside one window, and what the window before counted is gone. Every gateway here counts
 * in memory, on its own clock (a Redis counter's windows are Redis's and cannot be moved).
 */
const freshWindow = (clock: TestClock, windowMs: number): void => clock.advance(windowMs - (clock.now() % windowMs));

async function requestsOf(rt: { store: { requests: { listByStatus(s: readonly RequestStatus[], n: number): Promise<EnrollmentRequest[]> } } }, requester: string): Promise<EnrollmentRequest[]> {
  return (await rt.store.requests.listByStatus(ALL_STATUSES, 10_000)).filter((r) => r.requester === requester);
}

/** From a loopback address of the test's choosing: limits count per source. */
const call = (base: string, method: string, path: string, bearer: string | null, localAddress: string, body?: unknown): Promise<HttpReply> =>
  httpRequest(`${base}${path}`, { method, bearer, from: localAddress, ...(body !== undefined ? { json: body } : {}) });

const wrongKey = (id: string) => `cg_${id}_${randomBytes(32).toString('base64url')}`;

describe('limits on REST and SCEP challenge minting', () => {
  let env: RestEnv;
  const clock = runningClock();

  beforeAll(async () => {
    env = await startRestEnv(REST_DEPLOYMENTS[0] as (typeof REST_DEPLOYMENTS)[number], {
      issueRateLimitPerMinute: 2,
      loginFailuresBeforeDelay: 3,
      loginDelayMaxMs: 300,
      loginFailuresPerIdentity: 10,
      loginFailuresPerSource: 40,
      loginThrottleWindowSeconds: THROTTLE_WINDOW_S,
      authRefusalAuditSeconds: 2,
    }, clock.now);
  });
  afterAll(async () => {
    await env?.close();
  });

  it('a REST credential past its issuance 429 mints no SCEP challenge; the refusal is audited once', async () => {
    const { credential, token } = await env.restKey('minter', [{ ca: env.issuingId, actions: ['read', 'issue'] }], [env.productId]);
    freshWindow(clock, MINUTE);
    // Issuance calls count before their body is read: two bad ones use up the limit of two.
    for (let i = 0; i < 2; i++) expect((await call(env.base, 'POST', '/v1/certificates', token, '127.0.0.1', {})).status).toBe(400);
    const past = await call(env.base, 'POST', '/v1/certificates', token, '127.0.0.1', {});
    expect(past.status).toBe(429);
    const minted = await call(env.base, 'POST', '/v1/scep/challenges', token, '127.0.0.1', { productId: env.productId });
    expect(minted.status).toBe(429);
    expect(minted.headers['retry-after']).toMatch(/^[1-9][0-9]*$/);
    expect(typeof minted.json.error).toBe('string');
    expect(minted.json.challenge).toBeUndefined();
    const rows = await env.server.rt.store.db.selectFrom('scep_challenges' as never).selectAll().execute();
    expect(rows.filter((r) => (r as { created_by: string }).created_by === credential.id)).toEqual([]);
    // Audited once for the window, however many refusals followed.
    const { entries } = await env.server.rt.store.audit.list({ action: AUDIT.rateLimited, actor: credential.id }, { limit: 100, offset: 0 });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ outcome: 'refused', detail: expect.objectContaining({ bucket: 'issue', limit: 2 }) });
  });

  it('minting a SCEP one-time challenge is an audited event that never names the challenge', async () => {
    const res = await call(env.base, 'POST', '/v1/scep/challenges', env.adminToken, '127.0.0.1', { productId: env.productId, subject: 'CN=host9.test' });
    expect(res.status).toBe(201);
    const { entries } = await env.server.rt.store.audit.list({ action: AUDIT.scepChallengeMint }, { limit: 10, offset: 0 });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ protocol: 'rest', outcome: 'success', sourceIp: '127.0.0.1', detail: expect.objectContaining({ product: env.productId, subject: 'host9.test' }) });
    expect(entries[0]?.target).toMatch(/^scep-challenge:/);
    expect(JSON.stringify(entries)).not.toContain(res.json.challenge as string);
  });

  it('REST bearer: a flood of wrong keys for one credential, then the right key is refused (429) from any address until the window passes', async () => {
    const { credential, token } = await env.restKey('victim', [{ ca: '*', actions: ['read'] }]);
    freshWindow(clock, THROTTLE_WINDOW_S * 1000);
    const flood = await Promise.all(Array.from({ length: 30 }, () => call(env.base, 'GET', '/v1/whoami', wrongKey(credential.id), '127.0.0.11')));
    expect(flood.every((r) => r.status === 401 || r.status === 429)).toBe(true);
    for (const from of ['127.0.0.11', '127.0.0.12']) {
      const right = await call(env.base, 'GET', '/v1/whoami', token, from);
      expect(right.status, from).toBe(429);
      // Whole seconds, at least one (RFC 9110 section 10.2.3).
      expect(right.headers['retry-after']).toMatch(/^[1-9][0-9]*$/);
    }
    freshWindow(clock, THROTTLE_WINDOW_S * 1000);
    expect((await call(env.base, 'GET', '/v1/whoami', token, '127.0.0.12')).status).toBe(200);
  });

  it('200 refused logins from one source leave a bounded number of audit entries that count them all', async () => {
    const source = '127.0.0.13';
    for (let batch = 0; batch < 4; batch++) {
      const replies = await Promise.all(Array.from({ length: 50 }, () => call(env.base, 'GET', '/v1/whoami', wrongKey(randomBytes(8).toString('hex')), source)));
      expect(replies.every((r) => r.status === 401 || r.status === 429)).toBe(true);
    }
    let mine: AuditEntry[] = [];
    const counted = (entries: AuditEntry[]) => entries.reduce((n, e) => n + (typeof e.detail.count === 'number' ? e.detail.count : 1), 0);
    await until(
      async () => {
        const { entries } = await env.server.rt.store.audit.list({ action: AUDIT.authRefused }, { limit: 5_000, offset: 0 });
        mine = entries.filter((e) => e.sourceIp === source);
        return counted(mine) >= 200;
      },
      20_000,
      'the refusal summaries were written',
    );
    expect(counted(mine)).toBe(200);
    // A first entry and a summary per reason (wrong key, then throttled) and window: a handful, not 200.
    expect(mine.length).toBeLessThanOrEqual(12);
    expect(mine.some((e) => e.detail.reason === 'throttled')).toBe(true);
    expect(mine.some((e) => typeof e.detail.count === 'number' && e.detail.count > 1)).toBe(true);
  });
});

describe('limits on EST', () => {
  let env: EstEnv;
  const clock = runningClock();
  const PKCS10 = { 'content-type': 'application/pkcs10' };
  const enroll = (csrPem: string, user: { username: string; password: string }, localAddress = '127.0.0.1') =>
    env.call('/est-basic/.well-known/est/simpleenroll', { body: csrDer(csrPem).toString('base64'), headers: { ...PKCS10, authorization: basic(user) }, localAddress });

  beforeAll(async () => {
    env = await startEstEnv({
      products: { 'est-basic': { protocols: { est: { auth: 'basic' } } } },
      users: { dev1: '*', dev2: '*', dev3: '*' },
      overrides: {
        protocolIssuePerMinute: 2,
        loginFailuresBeforeDelay: 3,
        loginDelayMaxMs: 400,
        loginFailuresPerIdentity: 10,
        loginFailuresPerSource: 1_000,
        loginThrottleWindowSeconds: THROTTLE_WINDOW_S,
      },
      now: clock.now,
    });
  });
  afterAll(async () => {
    await env?.close();
  });

  it('100 wrong passwords at once, then the right one: refused with 429 until the window passes, and nothing issued meanwhile', async () => {
    const { csrPem } = makeCsr(env.dir, { key: 'ec-p256', subject: '/CN=flood.test', san: ['DNS:flood.test'] });
    const dev1 = env.users.dev1 as { username: string; password: string };
    freshWindow(clock, THROTTLE_WINDOW_S * 1000);
    const flood = await Promise.all(Array.from({ length: 100 }, () => enroll(csrPem, { username: 'dev1', password: 'wrong' }, '127.0.0.21')));
    expect(flood.every((r) => r.status === 401 || r.status === 429)).toBe(true);
    const right = await enroll(csrPem, dev1, '127.0.0.21');
    expect(right.status, right.text).toBe(429);
    expect(right.headers['retry-after']).toMatch(/^[1-9][0-9]*$/);
    expect(await requestsOf(env.server.rt, 'est:dev1')).toEqual([]);
    freshWindow(clock, THROTTLE_WINDOW_S * 1000);
    expect((await enroll(csrPem, dev1, '127.0.0.22')).status).toBe(200);
  });

  it('wrong passwords slow down', async () => {
    const durations: number[] = [];
    freshWindow(clock, THROTTLE_WINDOW_S * 1000);
    for (let i = 0; i < 6; i++) {
      const started = Date.now();
      expect((await enroll(makeCsr(env.dir).csrPem, { username: 'dev2', password: 'wrong' }, '127.0.0.23')).status).toBe(401);
      durations.push(Date.now() - started);
    }
    // The sixth waits 100 ms × 2² = 400 ms (the cap) more than the first few.
    expect(durations[5]).toBeGreaterThanOrEqual(400);
    expect(durations[5] as number).toBeGreaterThan(durations[0] as number);
  });

  it('issuance past the per-credential limit: 429 with Retry-After, nothing issued; a replay of an earlier request is still answered', async () => {
    const dev3 = env.users.dev3 as { username: string; password: string; id: string };
    const csrs = ['one', 'two', 'three'].map((n) => makeCsr(env.dir, { key: 'ec-p256', subject: `/CN=${n}.limit.test`, san: [`DNS:${n}.limit.test`] }).csrPem);
    freshWindow(clock, MINUTE);
    expect((await enroll(csrs[0] as string, dev3)).status).toBe(200);
    expect((await enroll(csrs[1] as string, dev3)).status).toBe(200);
    const third = await enroll(csrs[2] as string, dev3);
    expect(third.status, third.text).toBe(429);
    expect(third.headers['retry-after']).toMatch(/^[1-9][0-9]*$/);
    expect(third.text).toMatch(/rate limit/);
    expect((await enroll(csrs[0] as string, dev3)).status).toBe(200);
    const requests = await requestsOf(env.server.rt, 'est:dev3');
    expect(requests).toHaveLength(2);
    expect(requests.every((r) => r.status === 'issued')).toBe(true);
    const { entries } = await env.server.rt.store.audit.list({ action: AUDIT.rateLimited, actor: dev3.id }, { limit: 10, offset: 0 });
    expect(entries).toEqual([expect.objectContaining({ protocol: 'est', outcome: 'refused' })]);
  });
  it('the CLI (an operator holding the database and the master key) is not limited: three issuances where protocols get two', async () => {
    const rt = env.server.rt;
    for (const n of ['cli-one', 'cli-two', 'cli-three']) {
      const { csrPem } = makeCsr(env.dir, { key: 'ec-p256', subject: `/CN=${n}.test`, san: [`DNS:${n}.test`] });
      const { request } = await rt.enrollments.submit({ principal: 'cli', protocol: 'cli', product: { name: 'est-basic' } }, csrPem);
      expect((await rt.enrollments.waitForOutcome(request, 15_000)).state).toBe('issued');
    }
  });
});

describe('limits on ACME', () => {
  let env: AcmeEnv;
  const clock = runningClock();
  const issue = async (c: acme.Client, name: string) => {
    const [, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] });
    return c.auto({ csr, ...env.autoHttp01 });
  };

  // acme-client honours Retry-After and tries again (a rateLimited finalize would succeed once the
  // window passed): here the refusal itself is under test.
  const settings = (acme as unknown as { axios: { defaults: { acmeSettings: { retryMaxAttempts: number } } } }).axios.defaults.acmeSettings;
  const retries = settings.retryMaxAttempts;

  beforeAll(async () => {
    settings.retryMaxAttempts = 0;
    env = await startAcmeEnv({ overrides: { protocolIssuePerMinute: 2, loginFailuresPerIdentity: 20, loginFailuresPerSource: 1_000, loginDelayMaxMs: 200 }, now: clock.now });
    await env.product('eab', { protocols: { acme: { eabRequired: true } } });
  });
  afterAll(async () => {
    settings.retryMaxAttempts = retries;
    await env?.stop();
  });

  it('per account: the third finalize in a minute is rateLimited and nothing is issued for it', async () => {
    freshWindow(clock, MINUTE);
    const c = acmeClientOf(env.directoryUrl, await acme.crypto.createPrivateEcdsaKey());
    await c.createAccount({ termsOfServiceAgreed: true });
    await issue(c, 'a1.limit.test');
    await issue(c, 'a2.limit.test');
    await expect(issue(c, 'a3.limit.test')).rejects.toThrow(/rate limit/);
    const accountId = c.getAccountUrl().split('/').pop() as string;
    const requests = await requestsOf(env.server.rt, `acme:${accountId}`);
    expect(requests).toHaveLength(2);
    expect(requests.every((r) => r.status === 'issued')).toBe(true);
  });

  it('per EAB credential: a second account bound to the same credential shares its limit', async () => {
    freshWindow(clock, MINUTE);
    const product = (await env.server.rt.store.products.getByName('eab')) as ProductRecord;
    const eab = await env.eabCredential([product.id]);
    const directoryUrl = `${env.base}/acme/eab/directory`;
    const first = acmeClientOf(directoryUrl, await acme.crypto.createPrivateEcdsaKey(), { externalAccountBinding: eab });
    await first.createAccount({ termsOfServiceAgreed: true });
    await issue(first, 'e1.limit.test');
    await issue(first, 'e2.limit.test');
    const second = acmeClientOf(directoryUrl, await acme.crypto.createPrivateEcdsaKey(), { externalAccountBinding: eab });
    await second.createAccount({ termsOfServiceAgreed: true });
    await expect(issue(second, 'e3.limit.test')).rejects.toThrow(/rate limit/);
    const secondId = second.getAccountUrl().split('/').pop() as string;
    expect(await requestsOf(env.server.rt, `acme:${secondId}`)).toEqual([]);
    const { entries } = await env.server.rt.store.audit.list({ action: AUDIT.rateLimited, actor: eab.kid }, { limit: 10, offset: 0 });
    expect(entries).toEqual([expect.objectContaining({ protocol: 'acme', outcome: 'refused', target: `issue:credential:${eab.kid}` })]);
  });

  it('wrong EAB MACs for one key id are throttled: the right binding is then refused with rateLimited', async () => {
    // 20 failures per claimed identity (the EAB key id), as by default.
    const product = (await env.server.rt.store.products.getByName('eab')) as ProductRecord;
    const eab = await env.eabCredential([product.id]);
    const directoryUrl = `${env.base}/acme/eab/directory`;
    const wrong = { kid: eab.kid, hmacKey: Buffer.alloc(32, 9).toString('base64url') };
    await Promise.all(
      Array.from({ length: 25 }, async () => {
        const c = acmeClientOf(directoryUrl, await acme.crypto.createPrivateEcdsaKey(), { externalAccountBinding: wrong });
        await expect(c.createAccount({ termsOfServiceAgreed: true })).rejects.toThrow();
      }),
    );
    const right = acmeClientOf(directoryUrl, await acme.crypto.createPrivateEcdsaKey(), { externalAccountBinding: eab });
    await expect(right.createAccount({ termsOfServiceAgreed: true })).rejects.toThrow(/too many failed logins/);
  });
});

describe('limits on SCEP', () => {
  let env: ScepEnv;
  const clock = runningClock();
  let ra: RaInfo;
  let product: ProductRecord;
  let n = 0;

  beforeAll(async () => {
    env = await startScepEnv({
      overrides: { protocolIssuePerMinute: 2, scepIssuePerProductPerMinute: 3, loginFailuresPerSource: 10, loginThrottleWindowSeconds: THROTTLE_WINDOW_S, loginDelayMaxMs: 200 },
      now: clock.now,
    });
    ra = await getCaCert(`${env.base}/scep`);
    product = (await env.server.rt.store.products.getByName('default')) as ProductRecord;
  });
  afterAll(async () => {
    await env?.stop();
  });

  async function enroll(challenge: string, cn: string, label = '', key = rsaKey()) {
    const requester = selfSigned(key, `CN=${cn}`);
    const csr = fromPem(buildCsr(key, `CN=${cn}`, {}, { challengePassword: challenge }), ['CERTIFICATE REQUEST']);
    const der = await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csr, transactionId: `limits-${Date.now()}-${n++}` });
    const res = await pkiOperation(`${env.base}/scep${label}`, der);
    expect(res.status).toBe(200);
    return readReply(res.body, requester);
  }
  const scepIssued = async () => (await env.server.rt.store.requests.listByStatus(['issued'], 10_000)).filter((r) => r.protocol === 'scep').length;

  it('per static challenge, then per product: FAILURE badRequest past the limit, nothing issued for it', async () => {
    const first = await env.staticChallenge([product.id]);
    const second = await env.staticChallenge([product.id]);
    freshWindow(clock, MINUTE);
    const before = await scepIssued();
    expect((await enroll(first.challenge, 'd1.limit.test')).status).toBe('SUCCESS');
    expect((await enroll(first.challenge, 'd2.limit.test')).status).toBe('SUCCESS');
    // Each device has a key of its own: the challenge is what is counted.
    expect(await enroll(first.challenge, 'd3.limit.test')).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    expect(await scepIssued()).toBe(before + 2);
    // Another challenge for the same product: one more, then the product's own limit of three.
    expect((await enroll(second.challenge, 'd4.limit.test')).status).toBe('SUCCESS');
    expect(await enroll(second.challenge, 'd5.limit.test')).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    expect(await scepIssued()).toBe(before + 3);
    const { entries } = await env.server.rt.store.audit.list({ action: AUDIT.rateLimited }, { limit: 10, offset: 0 });
    expect(entries.map((e) => e.target).sort()).toEqual([`issue:credential:${first.id}`, `issue:product:${product.id}`].sort());
    expect(entries.every((e) => e.protocol === 'scep')).toBe(true);
  });

  it('a one-time challenge refused by the product limit is not used up', async () => {
    const onetime = await env.product('onetime');
    const [s1, s2] = [await env.staticChallenge([onetime.id]), await env.staticChallenge([onetime.id])];
    freshWindow(clock, MINUTE);
    for (const [challenge, cn] of [[s1.challenge, 'o1'], [s1.challenge, 'o2'], [s2.challenge, 'o3']] as const) {
      expect((await enroll(challenge, `${cn}.limit.test`, '/onetime')).status).toBe('SUCCESS');
    }
    const challenge = await env.oneTimeChallenge(onetime.id);
    expect(await enroll(challenge, 'o4.limit.test', '/onetime')).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    const rows = (await env.server.rt.store.db.selectFrom('scep_challenges' as never).selectAll().execute()) as { product_id: string; used_at: unknown }[];
    expect(rows.filter((r) => r.product_id === onetime.id).map((r) => r.used_at)).toEqual([null]);
  });

  it('wrong challenges from one address, then the right one: FAILURE until the window passes', async () => {
    // A product of its own: the one above has used up its issuance limit for this minute.
    const fresh = await env.product('throttled');
    const right = await env.staticChallenge([fresh.id]);
    const key = rsaKey();
    freshWindow(clock, THROTTLE_WINDOW_S * 1000);
    const wrong = await Promise.all(Array.from({ length: 15 }, (_, i) => enroll('0123456789abcdef0123456789abcdef', `w${i}.limit.test`, '/throttled', key)));
    expect(wrong.every((r) => r.status === 'FAILURE' && r.failInfo === 'badRequest')).toBe(true);
    expect(await enroll(right.challenge, 'r1.limit.test', '/throttled', key)).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    expect((await env.server.rt.store.requests.listByStatus(ALL_STATUSES, 10_000)).filter((r) => r.productId === fresh.id)).toEqual([]);
    freshWindow(clock, THROTTLE_WINDOW_S * 1000);
    expect((await enroll(right.challenge, 'r2.limit.test', '/throttled', key)).status).toBe('SUCCESS');
  });
});

const redisUrl = inject('redisUrl');

describe('the throttle and the refusal audit on the shared counter', () => {
  const open: RateCounter[] = [];
  afterAll(async () => {
    await Promise.all(open.map((c) => c.close()));
  });
  const settings = { windowMs: 60_000, failuresBeforeDelay: 2, delayMaxMs: 0, maxPerSource: 0, maxPerIdentity: 5 };
  const counters = (kind: 'memory' | 'redis'): [RateCounter, RateCounter] => {
    if (kind === 'memory') {
      const one = new MemoryRateCounter();
      open.push(one);
      return [one, one];
    }
    // Two processes of one deployment: two connections under one prefix.
    const prefix = `cgtest-${randomUUID()}`;
    const pair: [RateCounter, RateCounter] = [new RedisRateCounter(redisUrl as string, prefix, () => undefined), new RedisRateCounter(redisUrl as string, prefix, () => undefined)];
    open.push(...pair);
    return pair;
  };

  for (const kind of ['memory', 'redis'] as const) {
    it.skipIf(kind === 'redis' && !redisUrl)(`${kind}: failures counted in one process throttle the identity in another; peek does not count`, async () => {
      const [a, b] = counters(kind);
      if (kind === 'redis') await until(async () => (await a.hit('ready', 1_000)).count > 0 && (await b.hit('ready', 1_000)).count > 0, 10_000, 'Redis connected');
      const here = new LoginThrottle(a, settings);
      const there = new LoginThrottle(b, settings);
      for (let i = 0; i < 5; i++) await here.failed('127.0.0.1', 'est:victim');
      expect(await there.check('127.0.0.9', 'est:victim')).toMatchObject({ throttled: true, by: 'identity' });
      expect(await there.check('127.0.0.9', 'est:someone-else')).toEqual({ throttled: false });
      // Checking is free: a caller who logs in right is not counted.
      for (let i = 0; i < 10; i++) await there.check('127.0.0.9', 'est:fresh');
      expect((await b.peek('login:id:est:fresh', settings.windowMs)).count).toBe(0);
      expect(here.delayFor(2)).toBe(0);
      expect(new LoginThrottle(a, { ...settings, delayMaxMs: 10_000 }).delayFor(5)).toBe(400);

      // The first refusal of a window in any process is written; the rest are one entry per process, with their count.
      const written: AuditEntryInput[] = [];
      const audits = [new RefusalAudit(a, 60_000, async (e) => void written.push(e)), new RefusalAudit(b, 60_000, async (e) => void written.push(e))];
      const refusal = (i: number): AuditEntryInput => ({ actor: 'unknown', protocol: 'est', sourceIp: '127.0.0.7', action: AUDIT.authRefused, target: `est-user:u${i}`, outcome: 'refused', detail: { reason: 'unknown' } });
      for (let i = 0; i < 100; i++) await (audits[i % 2] as RefusalAudit).record(refusal(i));
      expect(written).toHaveLength(1);
      await Promise.all(audits.map((r) => r.close()));
      expect(written.length).toBeLessThanOrEqual(3);
      expect(written.reduce((n, e) => n + (typeof e.detail?.count === 'number' ? e.detail.count : 1), 0)).toBe(100);
      expect(written.at(-1)?.detail).toMatchObject({ reason: 'unknown', presented: expect.any(Array) });
      expect((written.at(-1)?.detail?.presented as string[]).length).toBeLessThanOrEqual(5);
    });
  }
});
