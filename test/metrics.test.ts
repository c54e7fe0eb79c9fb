// GET /metrics as Prometheus scrapes it: an exposition promtool accepts, counters that move with
// real traffic (REST and EST issuance, a refused login, a rate limit, OCSP), the bearer token, the
// switch that turns it all off, and one total for the whole deployment whichever process answers.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pino from 'pino';
import { CaRegistry } from '../src/ca/registry.js';
import { DCV_DEFAULTS, validateChallenge } from '../src/dcv/index.js';
import { initialize } from '../src/init.js';
import { ProcessMetrics } from '../src/metrics/prometheus.js';
import { openRuntime } from '../src/runtime.js';
import { createEnrollmentProcessor } from '../src/worker/processEnrollment.js';
import { countingCas } from './helpers/countingCas.js';
import { createTestDatabase } from './harness/postgres.js';
import { missingBinaryReason } from './harness/binaries.js';
import { basic, csrDer, startEstEnv, type EstEnv } from './helpers/est.js';
import { startGateway, testConfig } from './helpers/gateway.js';
import { httpRequest, type HttpReply } from './helpers/http.js';
import { freePort } from './helpers/net.js';
import { makeCsr, tempDir } from './helpers/openssl.js';
import { until } from './helpers/until.js';

const promtoolMissing = missingBinaryReason('promtool', 'apt-get install prometheus');
const redisUrl = inject('redisUrl');
const postgresUrl = inject('postgresUrl');
const root = join(import.meta.dirname, '..');

/** A fresh connection each time: a scrape may then be taken by any process sharing the port. */
const scrape = (base: string, token?: string): Promise<HttpReply> => httpRequest(`${base}/metrics`, { headers: { connection: 'close' }, ...(token ? { bearer: token } : {}) });

/** The sum of a metric's samples whose labels include `labels` (0 when there is none). */
function valueOf(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[3]);
  }
  return sum;
}

function promtoolCheck(text: string): { code: number | null; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('metrics on one gateway', () => {
  let env: EstEnv;
  let httpBase: string;

  beforeAll(async () => {
    // REST allows one issuance a minute per credential, so the second is refused.
    env = await startEstEnv({ products: { held: { requiresApproval: true } }, users: { dev: '*' }, overrides: { issueRateLimitPerMinute: 1 } });
    httpBase = env.server.httpUrl as string;
  });
  afterAll(() => env?.close());

  it.skipIf(!!promtoolMissing)('counts issuances over REST and EST, refused logins, rate limits and OCSP answers, in an exposition promtool accepts', async () => {
    const rest = (body: unknown) => httpRequest(`${httpBase}/v1/certificates`, { bearer: env.adminToken, json: body });
    const issuingId = env.products.default!.caId;
    const first = await rest({ caId: issuingId, csrPem: makeCsr(env.dir, { subject: '/CN=metrics-rest.test', name: 'rest1' }).csrPem, validityDays: 5 });
    expect(first.status, first.text).toBe(201);
    const limited = await rest({ caId: issuingId, csrPem: makeCsr(env.dir, { subject: '/CN=metrics-rest2.test', name: 'rest2' }).csrPem });
    expect(limited.status).toBe(429);

    const estCsr = csrDer(makeCsr(env.dir, { subject: '/CN=metrics-est.test', name: 'est1' }).csrPem).toString('base64');
    const pkcs10 = { 'content-type': 'application/pkcs10' };
    const enrolled = await env.call('/.well-known/est/simpleenroll', { body: estCsr, headers: { ...pkcs10, authorization: basic(env.users.dev!) } });
    expect(enrolled.status, enrolled.text).toBe(200);
    const refused = await env.call('/.well-known/est/simpleenroll', { body: estCsr, headers: { ...pkcs10, authorization: basic({ username: 'dev', password: 'not-the-password' }) } });
    expect(refused.status).toBe(401);
    const heldCsr = csrDer(makeCsr(env.dir, { subject: '/CN=metrics-held.test', name: 'held1' }).csrPem).toString('base64');
    const held = await env.call('/.well-known/est/held/simpleenroll', { body: heldCsr, headers: { ...pkcs10, authorization: basic(env.users.dev!) } });
    expect(held.status, held.text).toBe(202);

    // The same OCSP question twice: signed the first time, from the cache the second.
    const leaf = join(env.dir, 'leaf.pem');
    const issuer = join(env.dir, 'issuing.pem');
    writeFileSync(leaf, (first.json.certificate as { certificate_pem: string }).certificate_pem);
    writeFileSync(issuer, env.issuingPem);
    for (let i = 0; i < 2; i++) {
      // Not execFileSync: the responder answers from this very process.
      const out = await new Promise<string>((resolve) => execFile('openssl', ['ocsp', '-issuer', issuer, '-cert', leaf, '-url', `${httpBase}/ocsp`, '-no_nonce', '-noverify'], (_e, stdout, stderr) => resolve(`${stdout}${stderr}`)));
      expect(out).toMatch(/: good/);
    }
    // Not base64: refused before the responder could read it, counted all the same.
    expect((await httpRequest(`${httpBase}/ocsp/not%20an%20ocsp%20request!`)).status).toBe(200);
    // A CRL exists once someone asked for it.
    expect((await httpRequest(`${httpBase}/crl/${issuingId}.crl`)).status).toBe(200);

    const page = await scrape(httpBase);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = page.text;
    const check = promtoolCheck(text);
    expect(check.out).toBe('');
    expect(check.code).toBe(0);

    expect(valueOf(text, 'certgate_issuances_total', { protocol: 'rest', product: 'default' })).toBe(1);
    expect(valueOf(text, 'certgate_issuances_total', { protocol: 'est', product: 'default' })).toBe(1);
    expect(valueOf(text, 'certgate_requests_total', { outcome: 'issued' })).toBe(2);
    expect(valueOf(text, 'certgate_issuance_duration_seconds_count')).toBe(2);
    expect(valueOf(text, 'certgate_auth_failures_total', { protocol: 'est', reason: 'wrongSecret' })).toBe(1);
    expect(valueOf(text, 'certgate_rate_limited_total', { protocol: 'rest', limit: 'issue' })).toBe(1);
    expect(valueOf(text, 'certgate_ocsp_responses_total', { status: 'good', cache: 'miss' })).toBe(1);
    expect(valueOf(text, 'certgate_ocsp_responses_total', { status: 'good', cache: 'hit' })).toBe(1);
    expect(valueOf(text, 'certgate_ocsp_responses_total', { status: 'malformedRequest' })).toBe(1);
    expect(valueOf(text, 'certgate_store_up')).toBe(1);
    expect(valueOf(text, 'certgate_queue_depth')).toBe(0);
    expect(valueOf(text, 'certgate_approvals_waiting', { product: 'held' })).toBe(1);
    expect(valueOf(text, 'certgate_requests_total', { protocol: 'est', product: 'held', outcome: 'pending_approval' })).toBe(1);
    // The 5-day REST certificate; the EST one lives longer than 30 days.
    expect(valueOf(text, 'certgate_certificates_expiring', { product: 'default', within_days: '7' })).toBe(1);
    expect(valueOf(text, 'certgate_certificates_expiring', { product: 'default', within_days: '30' })).toBe(1);
    const ca = (await env.server.rt.store.cas.get(issuingId))!.name;
    expect(valueOf(text, 'certgate_crl_entries', { ca })).toBe(0);
    expect(valueOf(text, 'certgate_crl_size_bytes', { ca })).toBeGreaterThan(100);
    // No label names a request, a serial or a credential; the gateway's own certificates are not the operator's to renew.
    expect(text).not.toMatch(/(serial|request|credential)\w*="/);
    expect(text).not.toMatch(/product="system/);
  });
});

describe('metrics of the CA worker', () => {
  it('counts a signature the CA failed, the issuance of the retry, and a request that fails for good', async () => {
    const rt = await openRuntime(testConfig(), { log: pino({ level: 'silent' }) });
    try {
      await initialize(rt);
      const product = (await rt.store.products.list())[0]!;
      const metrics = new ProcessMetrics();
      // The CA fails its first call, as an upstream CA that times out.
      const { cas } = countingCas(new CaRegistry(rt.store, rt.secrets), { failFirst: 1 });
      const worker = createEnrollmentProcessor({ store: rt.store, cas, log: rt.log, leaseMs: 30_000, metrics });
      const submit = async (cn: string) =>
        (await rt.enrollments.submit({ principal: 'test', protocol: 'rest', product: { id: product.id } }, makeCsr(rt.config.dataDir, { subject: `/CN=${cn}`, name: cn }).csrPem)).request;
      const retried = await submit('retried.test');
      await expect(worker.process(retried.id, 1)).rejects.toThrow(/timed out/);
      await worker.process(retried.id, 2);
      const given = await submit('given-up.test');
      await worker.onExhausted(given.id, new Error('the CA said no, five times'));

      const text = await metrics.registry.metrics();
      expect(valueOf(text, 'certgate_signing_errors_total')).toBe(1);
      expect(valueOf(text, 'certgate_issuances_total', { protocol: 'rest', product: product.name })).toBe(1);
      expect(valueOf(text, 'certgate_requests_total', { protocol: 'rest', product: product.name, outcome: 'issued' })).toBe(1);
      expect(valueOf(text, 'certgate_requests_total', { protocol: 'rest', product: product.name, outcome: 'failed' })).toBe(1);
    } finally {
      await rt.close();
    }
  });
});

describe('metrics of domain control validation', () => {
  it('tells each attempt\'s method and outcome to the one who asked', async () => {
    const seen: string[] = [];
    const settings = { ...DCV_DEFAULTS, onAttempt: (method: string, outcome: string) => seen.push(`${method} ${outcome}`) };
    // Refused before any connection: http-01 cannot prove a wildcard.
    const result = await validateChallenge({ type: 'http-01', identifier: { type: 'dns', value: '*.metrics.test' }, token: 'a'.repeat(43), keyAuthorization: `${'a'.repeat(43)}.${'b'.repeat(43)}` }, settings);
    expect(result.ok).toBe(false);
    expect(seen).toEqual(['http-01 malformed']);
  });
});

describe('metrics switches', () => {
  it('asks for the bearer token when one is set, and compares it whole', async () => {
    const token = 'metrics-token-0123456789';
    const gw = await startGateway({ overrides: { metricsToken: token } });
    try {
      const none = await scrape(gw.baseUrl);
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
      expect((await scrape(gw.baseUrl, `${token}x`)).status).toBe(401);
      expect((await scrape(gw.baseUrl, token.slice(0, -1))).status).toBe(401);
      expect((await scrape(gw.baseUrl, gw.adminToken)).status).toBe(401);
      const ok = await scrape(gw.baseUrl, token);
      expect(ok.status).toBe(200);
      expect(ok.text).toMatch(/^# HELP certgate_/m);
    } finally {
      await gw.close();
    }
  });

  it('with CERTGATE_METRICS=off serves no page and counts nothing', async () => {
    const gw = await startGateway({ overrides: { metrics: 'off' } });
    try {
      expect(gw.rt.metrics).toBeNull();
      expect((await scrape(gw.baseUrl)).status).toBe(404);
      const issued = await httpRequest(`${gw.baseUrl}/v1/certificates`, { bearer: gw.adminToken, json: { caId: gw.issuing.id, csrPem: makeCsr(gw.dir, { subject: '/CN=off.test' }).csrPem } });
      expect(issued.status, issued.text).toBe(201);
    } finally {
      await gw.close();
    }
  });
});

/** A certgate command as an operator starts it; resolves once it printed its JSON start line. */
async function startCertgate(args: string[], env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'main.ts'), ...args], { cwd: root, env: { ...process.env, CERTGATE_LOG_LEVEL: 'silent', ...env } });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('{')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`certgate ${args.join(' ')} exited ${code}: ${stderr}`)));
  });
  return child;
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

describe.skipIf(!redisUrl || !postgresUrl)('metrics of a scaled-out deployment (serve --processes 2, a separate worker, PostgreSQL + Redis)', () => {
  let api: ChildProcess | undefined;
  let worker: ChildProcess | undefined;
  let base: string;
  let init: { admin_api_key: string; issuing_ca_id: string };
  const dir = tempDir('certgate-metrics-scaled-');
  const queuePrefix = `test-${randomUUID()}`;

  beforeAll(async () => {
    const port = await freePort();
    const env = {
      CERTGATE_DATA_DIR: dir,
      CERTGATE_MASTER_KEY: 'test-master-key-0123456789',
      CERTGATE_HTTP_PORT: String(port),
      CERTGATE_HTTPS_PORT: '0',
      DATABASE_URL: await createTestDatabase(postgresUrl as string),
      REDIS_URL: redisUrl as string,
      CERTGATE_QUEUE_PREFIX: queuePrefix,
      CERTGATE_LOGIN_FAILURES_BEFORE_DELAY: '100',
    };
    const made = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'main.ts'), 'init', '--json'], { cwd: root, encoding: 'utf8', env: { ...process.env, CERTGATE_LOG_LEVEL: 'silent', ...env } });
    expect(made.status, made.stderr).toBe(0);
    init = JSON.parse(made.stdout) as typeof init;
    // The API processes sign nothing: every certificate is signed by the worker, another process.
    api = await startCertgate(['serve', '--no-worker', '--processes', '2', '--json'], env);
    worker = await startCertgate(['worker', '--json'], env);
    base = `http://127.0.0.1:${port}`;
  }, 120_000);

  afterAll(async () => {
    await Promise.all([stop(api), stop(worker)]);
  });

  it('reports the same totals whichever API process takes the scrape, the worker\'s issuances included', async () => {
    const issued = 4;
    for (let i = 0; i < issued; i++) {
      const reply = await httpRequest(`${base}/v1/certificates`, {
        bearer: init.admin_api_key,
        headers: { connection: 'close' },
        json: { caId: init.issuing_ca_id, csrPem: makeCsr(dir, { subject: `/CN=scaled-${i}.test`, name: `scaled-${i}` }).csrPem },
      });
      expect(reply.status, reply.text).toBe(201);
    }
    // Refused by whichever HTTP process takes each call: counted there, summed over IPC.
    const refusals = 3;
    for (let i = 0; i < refusals; i++) {
      const reply = await httpRequest(`${base}/v1/certificates`, { bearer: `cg_0123456789abcdef_${'x'.repeat(43)}`, headers: { connection: 'close' }, json: {} });
      expect(reply.status).toBe(401);
    }

    const totals = async () => {
      const page = await scrape(base);
      expect(page.status).toBe(200);
      return { issued: valueOf(page.text, 'certgate_issuances_total'), refused: valueOf(page.text, 'certgate_auth_failures_total', { protocol: 'rest' }), text: page.text };
    };
    // The worker publishes its counters every few seconds.
    await until(async () => (await totals()).issued === issued, 30_000, `the scrape shows ${issued} issuances`);
    for (let i = 0; i < 12; i++) {
      const t = await totals();
      expect(t.issued).toBe(issued);
      expect(t.refused).toBe(refusals);
      expect(valueOf(t.text, 'certgate_redis_up')).toBe(1);
      expect(valueOf(t.text, 'certgate_store_up')).toBe(1);
    }
    if (!promtoolMissing) expect(promtoolCheck((await totals()).text).code).toBe(0);

    // A worker that stops hands its counts over: the totals do not drop (a restart is no reset).
    // Its own published entry is gone at once (not left to go stale), so it is the retired sum
    // that still counts its issuances.
    const redis = createClient({ url: redisUrl as string });
    await redis.connect();
    try {
      const members = async () => Object.keys(await redis.hGetAll(`${queuePrefix}:metrics`)).sort();
      const before = await members();
      expect(before).toHaveLength(4); // the primary, its two children, the worker
      await stop(worker);
      const after = await members();
      expect(after).toContain('retired');
      expect(after.filter((m) => m !== 'retired')).toHaveLength(3);
      for (let i = 0; i < 4; i++) expect((await totals()).issued).toBe(issued);
    } finally {
      await redis.quit();
    }
  }, 120_000);
});
