// npm run bench -- issue: what metrics and webhooks cost on REST issuance, on and off, in one run.
// The same embedded gateway (SQLite, in-process queue) is started once per variant and loaded with
// the same CSRs; the variants run in rounds (ABCD ABCD …) so a noisy neighbour hits them alike.
// Server CPU counts until every webhook delivery the load caused has reached the receiver, so a
// delivery's own work is in the figure, not only the enqueue.
import { spawn, execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, emit, freePort, killTree, load, percentile, round, waitForHttp } from './lib.js';

const root = join(import.meta.dirname, '..');
const cli = [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'main.ts')];
// The server runs in one process (tsx as a loader), so its CPU and its profile are the server's.
// e.g. BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof" to see where a variant's time goes.
const serverNodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);

interface Variant {
  name: string;
  metrics: boolean;
  /** The events the one subscription wants; none: no subscription. */
  webhooks: string[];
}

// "webhooks on, none due" subscribes to an event issuance does not cause: what the outbox's tail
// costs every issuance. "a delivery per certificate" adds one signed, logged POST per certificate.
const VARIANTS: Variant[] = [
  { name: 'metrics off, webhooks off', metrics: false, webhooks: [] },
  { name: 'metrics on, webhooks off', metrics: true, webhooks: [] },
  { name: 'metrics off, webhooks on, none due', metrics: false, webhooks: ['certificate.revoked'] },
  { name: 'metrics off, webhooks on, a delivery per certificate', metrics: false, webhooks: ['certificate.issued'] },
  { name: 'metrics on, webhooks on, a delivery per certificate', metrics: true, webhooks: ['certificate.issued'] },
];

/** A local receiver that counts deliveries and answers 204. */
async function receiver(): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      n++;
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/hook`, count: () => n, close: () => new Promise((r) => server.close(() => r())) };
}

async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

interface Sample {
  rate: number;
  p50: number;
  p99: number;
  cpuMsPerOp: number;
  non2xx: number;
  delivered: number;
}

async function runVariant(v: Variant, csrs: string[]): Promise<Sample> {
  const dataDir = mkdtempSync(join(tmpdir(), 'certgate-bench-ops-'));
  const port = await freePort();
  const env = {
    ...process.env,
    CERTGATE_DATA_DIR: dataDir,
    CERTGATE_HTTP_PORT: String(port),
    CERTGATE_HTTPS_PORT: '0',
    CERTGATE_LOG_LEVEL: 'warn',
    CERTGATE_RATE_LIMIT_PER_MINUTE: '0',
    CERTGATE_ISSUE_RATE_LIMIT_PER_MINUTE: '0',
    CERTGATE_METRICS: v.metrics ? 'on' : 'off',
    CERTGATE_WEBHOOK_ALLOW_PRIVATE: 'true',
    REDIS_URL: '',
    DATABASE_URL: '',
  };
  const init = JSON.parse(execFileSync(process.execPath, [...cli, 'init', '--json'], { env, encoding: 'utf8' })) as { issuing_ca_id: string; admin_api_key: string };
  const server = spawn(process.execPath, [...serverNodeArgs, '--import', import.meta.resolve('tsx'), join(root, 'main.ts'), 'serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const hook = v.webhooks.length ? await receiver() : null;
  const auth = { authorization: `Bearer ${init.admin_api_key}` };
  try {
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, server);
    if (hook) {
      const res = await fetch(`http://127.0.0.1:${port}/v1/webhooks`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ url: hook.url, events: v.webhooks }) });
      if (res.status !== 201) throw new Error(`webhook create answered ${res.status}: ${await res.text()}`);
    }
    if (v.metrics) await fetch(`http://127.0.0.1:${port}/metrics`); // the first scrape builds what it caches
    const pid = server.pid as number;
    const cpu0 = cpuSeconds(pid);
    const t0 = performance.now();
    const result = await load(`http://127.0.0.1:${port}/v1/certificates`, csrs.map((csrPem) => JSON.stringify({ caId: init.issuing_ca_id, csrPem })), auth, 16);
    // autocannon's own duration is in whole seconds: too coarse for a few seconds' run.
    const seconds = (performance.now() - t0) / 1000;
    const issued = result.requests - result.non2xx;
    const due = v.webhooks.includes('certificate.issued') ? issued : 0;
    if (hook && !(await until(() => hook.count() >= due, 120_000))) throw new Error(`${hook.count()} of ${due} deliveries arrived`);
    const cpu = cpuSeconds(pid) - cpu0;
    return { rate: result.requests / seconds, p50: result.p50, p99: result.p99, cpuMsPerOp: (cpu * 1000) / Math.max(1, issued), non2xx: result.non2xx, delivered: hook?.count() ?? 0 };
  } finally {
    killTree(server.pid as number);
    await hook?.close();
  }
}

export async function benchOperatorCost(csrs: string[], rounds: number): Promise<void> {
  const samples = new Map<string, Sample[]>(VARIANTS.map((v) => [v.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const v of VARIANTS) samples.get(v.name)?.push(await runVariant(v, csrs));
  }
  const median = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 50);
  const base = samples.get(VARIANTS[0]?.name as string) as Sample[];
  const baseCpu = median(base.map((s) => s.cpuMsPerOp));
  const baseRate = median(base.map((s) => s.rate));
  for (const v of VARIANTS) {
    const s = samples.get(v.name) as Sample[];
    const cpu = median(s.map((x) => x.cpuMsPerOp));
    const rate = median(s.map((x) => x.rate));
    emit({
      scenario: 'issue',
      path: 'http',
      variant: v.name,
      rounds,
      count: csrs.length,
      certs_per_s: round(rate, 1),
      p50_ms: median(s.map((x) => x.p50)),
      p99_ms: median(s.map((x) => x.p99)),
      server_cpu_ms_per_cert: round(cpu, 3),
      non2xx: s.reduce((a, x) => a + x.non2xx, 0),
      webhook_deliveries: s.reduce((a, x) => a + x.delivered, 0),
      baseline: VARIANTS[0]?.name,
      rate_ratio_to_baseline: round(rate / baseRate, 3),
      cpu_ratio_to_baseline: round(cpu / baseCpu, 3),
      target: v.metrics || v.webhooks.length ? 'cpu ratio ≤ 1.05' : undefined,
    });
  }
}
