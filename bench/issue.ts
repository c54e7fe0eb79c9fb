// npm run bench -- issue [--count N] [--ops-count N] [--rounds R] [--only ops]
// (a) straight through queue and worker, per queue back-end, against raw native P-256 signing;
// (b) over HTTP with autocannon, certgate (embedded default) against `cfssl serve`, same CSRs;
// (c) over HTTP, what metrics and webhooks cost, each on and off (bench/operatorCost.ts).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { initialize } from '../src/init.js';
import { openRuntime } from '../src/runtime.js';
import { benchOperatorCost } from './operatorCost.js';
import { argValue, cpuSeconds, emit, freePort, load, makeP256Csrs, percentile, round, waitForHttp } from './lib.js';

const root = join(import.meta.dirname, '..');

function rawSignRate(seconds = 2): number {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const tbs = randomBytes(420); // about the size of a leaf TBSCertificate
  let n = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
    n += 100;
  }
  return n / seconds;
}

async function queueScenario(csrs: string[], redisUrl: string | undefined, baseline: number): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'certgate-bench-'));
  const config = loadConfig({ env: {}, overrides: { dataDir, masterKey: 'bench-master-key-0123456789', logLevel: 'warn', ...(redisUrl ? { redisUrl } : {}), workerConcurrency: 32 } });
  const rt = await openRuntime(config, { queuePrefix: `bench-${Date.now()}` });
  const init = await initialize(rt);
  await rt.startWorker();
  const caId = init.issuing?.id as string;
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  const concurrency = 64;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < csrs.length) {
        const csrPem = csrs[next++] as string;
        const t0 = performance.now();
        const { request } = await rt.enrollments.submit({ principal: 'bench', protocol: 'cli', product: { caId } }, csrPem);
        const done = await rt.enrollments.waitForOutcome(request, 120_000);
        if (done.state !== 'issued') failures++;
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const rate = csrs.length / seconds;
  emit({
    scenario: 'issue',
    path: 'queue+worker',
    queue: rt.queue.kind,
    store: rt.store.kind,
    count: csrs.length,
    failures,
    certs_per_s: round(rate, 1),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    baseline: 'raw native P-256 sign',
    baseline_per_s: round(baseline, 0),
    ratio_to_baseline: round(rate / baseline, 3),
  });
  await rt.close();
}

async function httpScenario(csrs: string[]): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'certgate-bench-http-'));
  const port = await freePort();
  const env = { ...process.env, CERTGATE_DATA_DIR: dataDir, CERTGATE_HTTP_PORT: String(port), CERTGATE_HTTPS_PORT: '0', CERTGATE_LOG_LEVEL: 'warn', CERTGATE_RATE_LIMIT_PER_MINUTE: '0', CERTGATE_ISSUE_RATE_LIMIT_PER_MINUTE: '0', REDIS_URL: '', DATABASE_URL: '' };
  const cli = [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'main.ts')];
  const init = JSON.parse(execFileSync(process.execPath, [...cli, 'init', '--json'], { env, encoding: 'utf8' })) as { issuing_ca_id: string; admin_api_key: string };
  const server = spawn(process.execPath, [...cli, 'serve', '--json'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const cfsslDir = mkdtempSync(join(tmpdir(), 'cfssl-bench-'));
  let cfssl: ChildProcess | undefined;
  try {
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, server);
    const oursCpu0 = cpuSeconds(server.pid as number);
    const ours = await load(
      `http://127.0.0.1:${port}/v1/certificates`,
      csrs.map((csrPem) => JSON.stringify({ caId: init.issuing_ca_id, csrPem })),
      { authorization: `Bearer ${init.admin_api_key}` },
    );

    // cfssl signs with a P-256 CA of the same shape; it stores nothing (no db-config).
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(join(cfsslDir, 'ca-key.pem'), createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' })).export({ format: 'pem', type: 'sec1' }));
    execFileSync('openssl', ['req', '-x509', '-new', '-key', join(cfsslDir, 'ca-key.pem'), '-subj', '/CN=cfssl bench CA', '-days', '30', '-out', join(cfsslDir, 'ca.pem')]);
    writeFileSync(join(cfsslDir, 'config.json'), JSON.stringify({ signing: { default: { expiry: '2160h', usages: ['digital signature', 'server auth', 'client auth'] } } }));
    const cport = await freePort();
    cfssl = spawn('cfssl', ['serve', '-address', '127.0.0.1', '-port', String(cport), '-ca', join(cfsslDir, 'ca.pem'), '-ca-key', join(cfsslDir, 'ca-key.pem'), '-config', join(cfsslDir, 'config.json'), '-loglevel', '5'], { stdio: 'ignore' });
    await waitForHttp(`http://127.0.0.1:${cport}/`, cfssl);
    const oursCpuMs = ((cpuSeconds(server.pid as number) - oursCpu0) * 1000) / Math.max(1, ours.requests - ours.non2xx);
    const theirsCpu0 = cpuSeconds(cfssl.pid as number);
    const theirs = await load(`http://127.0.0.1:${cport}/api/v1/cfssl/sign`, csrs.map((c) => JSON.stringify({ certificate_request: c })), {});
    const theirsCpuMs = ((cpuSeconds(cfssl.pid as number) - theirsCpu0) * 1000) / Math.max(1, theirs.requests - theirs.non2xx);

    emit({ scenario: 'issue', path: 'http', server: 'certgate', store: 'sqlite', queue: 'memory', count: csrs.length, certs_per_s: round(ours.rate, 1), p50_ms: ours.p50, p99_ms: ours.p99, server_cpu_ms_per_cert: round(oursCpuMs, 3), non2xx: ours.non2xx, errors: ours.errors });
    emit({ scenario: 'issue', path: 'http', server: 'cfssl serve', count: csrs.length, certs_per_s: round(theirs.rate, 1), p50_ms: theirs.p50, p99_ms: theirs.p99, server_cpu_ms_per_cert: round(theirsCpuMs, 3), non2xx: theirs.non2xx, errors: theirs.errors });
    emit({ scenario: 'issue', path: 'http', comparison: 'certgate / cfssl', ratio: round(ours.rate / theirs.rate, 3), cpu_per_cert_ratio: round(oursCpuMs / theirsCpuMs, 3), target: 0.5 });
  } finally {
    server.kill('SIGTERM');
    cfssl?.kill('SIGTERM');
  }
}

export async function benchIssue(args: string[]): Promise<void> {
  const opsCount = argValue(args, 'ops-count', 4000);
  const rounds = argValue(args, 'rounds', 3);
  if (args.includes('--only') && args[args.indexOf('--only') + 1] === 'ops') return benchOperatorCost(timedP256Csrs(opsCount), rounds);
  const count = argValue(args, 'count', 20_000);
  const csrs = timedP256Csrs(count);
  const baseline = rawSignRate();
  emit({ scenario: 'issue', path: 'raw-sign', what: 'native P-256 ECDSA sign of a 420-byte body', signs_per_s: round(baseline, 0) });
  await queueScenario(csrs, undefined, baseline);
  if (process.env.REDIS_URL) await queueScenario(csrs, process.env.REDIS_URL, baseline);
  else emit({ scenario: 'issue', path: 'queue+worker', queue: 'bullmq', skipped: 'set REDIS_URL to a running redis-server (bench/run.ts starts one when installed)' });
  await httpScenario(csrs);
  await benchOperatorCost(csrs.slice(0, opsCount), rounds);
}

function timedP256Csrs(count: number): string[] {
  const t0 = performance.now();
  const csrs = makeP256Csrs(count);
  console.error(`made ${count} P-256 CSRs in ${round((performance.now() - t0) / 1000)} s`);
  return csrs;
}
