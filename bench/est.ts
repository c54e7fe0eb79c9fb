// npm run bench -- est [--count N] [--rounds R] [--warmup W]
// EST simpleenroll throughput over TLS with keep-alive (autocannon, 32 connections, P-256 CSRs, HTTP
// Basic with an est credential) against REST csr issuance over TLS (POST /v1/certificates with an
// API key) on the same certgate process, after W unmeasured requests of each (JIT, caches, the
// SQLite file's first pages) (`serve`, embedded: SQLite and the in-process queue). Rounds
// alternate between the two, each with CSRs of its own (a CSR sent again is the same request); the
// median round of each and the ratio EST / REST are printed (target: at least 0.7), with the CPU
// the certgate process spent per certificate (all its threads), which a busy machine disturbs less.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { argValue, cpuSeconds, emit, freePort, killTree, makeP256Csrs, round, waitForPort } from './lib.js';

const root = join(import.meta.dirname, '..');

interface Load {
  rate: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

/**
 * POSTs each body once, 32 connections, keep-alive. The rate is timed to the last response:
 * autocannon notices the end of a fixed amount only at its next one-second tick, which on runs of
 * a few seconds would cost either side up to a fifth of its rate.
 */
async function post(url: string, bodies: string[], headers: Record<string, string>): Promise<Load> {
  let i = 0;
  let last = 0;
  const started = performance.now();
  const result = await autocannon({
    url,
    connections: 32,
    amount: bodies.length,
    timeout: 60,
    requests: [{ method: 'POST', headers, setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length] as string }), onResponse: () => void (last = performance.now()) }],
  });
  return { rate: result.requests.total / ((last - started) / 1000), p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const base64Der = (pem: string): string => pem.replace(/-----[^-]+-----|\s/g, '');

export async function benchEst(args: string[]): Promise<void> {
  const count = argValue(args, 'count', 3000);
  const rounds = argValue(args, 'rounds', 5);
  const warmup = argValue(args, 'warmup', 1000);
  const t0 = performance.now();
  const csrs = makeP256Csrs((count * rounds + warmup) * 2);
  console.error(`made ${csrs.length} P-256 CSRs in ${round((performance.now() - t0) / 1000)} s`);

  const dataDir = mkdtempSync(join(tmpdir(), 'certgate-bench-est-'));
  const httpsPort = await freePort();
  const env = {
    ...process.env,
    CERTGATE_DATA_DIR: dataDir,
    CERTGATE_HTTP_PORT: String(await freePort()),
    CERTGATE_HTTPS_PORT: String(httpsPort),
    CERTGATE_LOG_LEVEL: 'warn',
    // The REST baseline is measured, not limited.
    CERTGATE_RATE_LIMIT_PER_MINUTE: '0',
    CERTGATE_ISSUE_RATE_LIMIT_PER_MINUTE: '0',
    REDIS_URL: '',
    DATABASE_URL: '',
  };
  const cli = [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'main.ts')];
  const init = JSON.parse(execFileSync(process.execPath, [...cli, 'init', '--json'], { env, encoding: 'utf8' })) as { issuing_ca_id: string; admin_api_key: string };
  const est = JSON.parse(execFileSync(process.execPath, [...cli, 'credential', 'create', '--type', 'est', '--name', 'bench', '--product', '*', '--json'], { env, encoding: 'utf8' })) as { username: string; password: string };
  // tsx as a loader, not its CLI (which would run the server in a child): CERTGATE_BENCH_PROF profiles certgate itself.
  const server = spawn(process.execPath, [...(process.env.CERTGATE_BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CERTGATE_BENCH_PROF}`] : []), '--import', 'tsx', join(root, 'main.ts'), 'serve', '--json'], {
    cwd: root,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitForPort(httpsPort, server, 60_000);
    const base = `https://127.0.0.1:${httpsPort}`;
    const basic = `Basic ${Buffer.from(`${est.username}:${est.password}`).toString('base64')}`;
    let next = 0;
    const batch = (n: number) => csrs.slice(next, (next += n));
    const scenarios = {
      rest: (n = count) =>
        post(
          `${base}/v1/certificates`,
          batch(n).map((csrPem) => JSON.stringify({ caId: init.issuing_ca_id, csrPem })),
          { 'content-type': 'application/json', authorization: `Bearer ${init.admin_api_key}` },
        ),
      est: (n = count) => post(`${base}/.well-known/est/simpleenroll`, batch(n).map(base64Der), { 'content-type': 'application/pkcs10', authorization: basic }),
    };
    if (warmup > 0) {
      const warm = [await scenarios.rest(warmup), await scenarios.est(warmup)];
      if (warm.some((w) => w.non2xx || w.errors)) throw new Error(`warm-up failed: ${JSON.stringify(warm)}`);
    }
    // cpuMs: what the certgate process (all its threads) spent per request, steadier than the rate on a busy machine.
    const results: Record<'rest' | 'est', (Load & { cpuMs: number })[]> = { rest: [], est: [] };
    for (let r = 0; r < rounds; r++) {
      for (const name of (r % 2 ? ['est', 'rest'] : ['rest', 'est']) as ('rest' | 'est')[]) {
        const cpuBefore = cpuSeconds(server.pid as number);
        const load = await scenarios[name]();
        const result = { ...load, cpuMs: ((cpuSeconds(server.pid as number) - cpuBefore) * 1000) / count };
        results[name].push(result);
        emit({
          scenario: 'est',
          round: r + 1,
          path: name === 'est' ? 'EST simpleenroll' : 'REST POST /v1/certificates',
          tls: true,
          count,
          certs_per_s: round(result.rate, 1),
          p50_ms: result.p50,
          p99_ms: result.p99,
          server_cpu_ms_per_cert: round(result.cpuMs, 3),
          non2xx: result.non2xx,
          errors: result.errors,
        });
      }
    }
    const rest = median(results.rest.map((x) => x.rate));
    const estRate = median(results.est.map((x) => x.rate));
    const failures = [...results.rest, ...results.est].reduce((n, x) => n + x.non2xx + x.errors, 0);
    emit({
      scenario: 'est',
      comparison: 'EST simpleenroll / REST csr issuance, both over TLS with keep-alive, median of rounds',
      est_per_s: round(estRate, 1),
      rest_per_s: round(rest, 1),
      ratio: round(estRate / rest, 3),
      target: 0.7,
      est_cpu_ms_per_cert: round(median(results.est.map((x) => x.cpuMs)), 3),
      rest_cpu_ms_per_cert: round(median(results.rest.map((x) => x.cpuMs)), 3),
      failures,
    });
  } finally {
    killTree(server.pid as number);
  }
}
