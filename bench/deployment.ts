// certgate as a benchmark's server, in either of its two deployments, with every process it runs
// accounted for: the embedded default (`serve`: SQLite, the in-process queue and worker, one
// process) or the scaled-out one of the README's runbook (PostgreSQL with durable commits, Redis,
// `serve --no-worker --processes N` and a separate `worker`). CPU per operation is read from /proc
// for certgate's own processes and, scaled out, separately for its PostgreSQL and Redis servers,
// so a figure can be set beside a peer that keeps its store in-process (cfssl's SQLite certdb).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type PostgresServer } from '../test/harness/postgres.js';
import { startRedis, type RunningRedis } from '../test/harness/redis.js';
import { cpuSeconds, freePort, stopChild, waitForPort } from './lib.js';

const root = join(import.meta.dirname, '..');
const MASTER_KEY = 'bench-master-key-0123456789';

export type DeploymentKind = 'embedded' | 'scaled';

export interface DeploymentOptions {
  kind: DeploymentKind;
  /** Scaled out: HTTP processes of `serve --no-worker --processes N` (default 2). */
  apiProcesses?: number;
  /** Scaled out: separate `worker` processes (default 1). */
  workers?: number;
  /** `serve` (default) or `start` (serve, initializing an empty store first). Embedded only. */
  command?: 'serve' | 'start';
  /** Extra environment for every certgate process (settings the scenario needs). */
  env?: Record<string, string>;
}

export interface Deployment {
  kind: DeploymentKind;
  /** e.g. "embedded" or "scaled api×2 worker×1": what a JSON line names the side by. */
  label: string;
  http: string;
  https: string;
  httpsPort: number;
  caId: string;
  adminToken: string;
  /** The environment the processes run with: run more CLI commands (credentials, products) with it. */
  env: NodeJS.ProcessEnv;
  /** `certgate …` with the deployment's settings; returns stdout. */
  cli(args: string[]): string;
  /** CPU seconds so far of certgate's processes (all threads, live children). */
  cpuSeconds(): number;
  /** CPU seconds so far of the stores it uses (PostgreSQL with its backends, Redis); 0 embedded. */
  storeCpuSeconds(): number;
  stop(): Promise<void>;
}

/** The rate limits (per credential, and per protocol for EST/SCEP/ACME issuance) would cap any load test; a benchmark measures the path, not the limiter. */
export const NO_RATE_LIMITS = {
  CERTGATE_RATE_LIMIT_PER_MINUTE: '0',
  CERTGATE_ISSUE_RATE_LIMIT_PER_MINUTE: '0',
  CERTGATE_PROTOCOL_ISSUE_PER_MINUTE: '0',
  CERTGATE_PROTOCOL_ISSUE_PER_HOUR: '0',
};

const TSX_CLI = join(root, 'node_modules/tsx/dist/cli.mjs');
const START_TIMEOUT_MS = 240_000;

/** Node with tsx as a loader (not its CLI, which would run certgate in a child): CERTGATE_BENCH_PROF profiles certgate itself. */
export function spawnCertgate(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const prof = process.env.CERTGATE_BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CERTGATE_BENCH_PROF}`] : [];
  return spawn(process.execPath, [...prof, '--import', 'tsx', join(root, 'main.ts'), ...args], { cwd: root, env, stdio: ['ignore', 'ignore', 'inherit'] });
}

export async function startDeployment(options: DeploymentOptions): Promise<Deployment> {
  const dataDir = mkdtempSync(join(tmpdir(), `certgate-bench-${options.kind}-`));
  const httpPort = await freePort();
  const httpsPort = await freePort();
  let pg: PostgresServer | null = null;
  let redis: RunningRedis | null = null;
  const children: ChildProcess[] = [];
  const cleanup = async () => {
    // Front-ends first, then the workers, then the stores they write to.
    for (const child of children) await stopChild(child);
    await redis?.stop();
    await pg?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const storeEnv: Record<string, string> = { REDIS_URL: '', DATABASE_URL: '' };
    if (options.kind === 'scaled') {
      pg = await startPostgres({ durable: true });
      redis = await startRedis();
      if (!pg || !redis) throw new Error('the scaled-out deployment needs PostgreSQL (initdb, pg_ctl) and redis-server installed');
      Object.assign(storeEnv, { DATABASE_URL: pg.url, REDIS_URL: redis.url, CERTGATE_QUEUE_PREFIX: 'bench' });
    }
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...NO_RATE_LIMITS,
      ...storeEnv,
      CERTGATE_DATA_DIR: dataDir,
      CERTGATE_MASTER_KEY: MASTER_KEY,
      CERTGATE_HOST: '127.0.0.1',
      CERTGATE_HTTP_PORT: String(httpPort),
      CERTGATE_HTTPS_PORT: String(httpsPort),
      CERTGATE_PUBLIC_URL: `https://127.0.0.1:${httpsPort}`,
      CERTGATE_LOG_LEVEL: 'warn',
      ...options.env,
    };
    const cli = (args: string[]) => execFileSync(process.execPath, [TSX_CLI, join(root, 'main.ts'), ...args], { cwd: root, env, encoding: 'utf8' });
    const init = JSON.parse(cli(['init', '--json'])) as { issuing_ca_id: string; admin_api_key: string };

    let label: string;
    if (options.kind === 'scaled') {
      const api = options.apiProcesses ?? 2;
      const workers = options.workers ?? 1;
      children.push(spawnCertgate(['serve', '--no-worker', '--processes', String(api), '--json'], env));
      for (let i = 0; i < workers; i++) children.push(spawnCertgate(['worker'], env));
      label = `scaled api×${api} worker×${workers}`;
    } else {
      children.push(spawnCertgate([options.command ?? 'serve', '--json'], env));
      label = 'embedded';
    }
    // Minutes, not seconds: on a shared 2-core machine under load, N processes compiling certgate
    // through tsx at once have been seen to take longer than a minute to listen.
    await waitForPort(httpsPort, children[0] as ChildProcess, START_TIMEOUT_MS);
    await waitForReady(`http://127.0.0.1:${httpPort}/readyz`);

    const pgPid = pg ? Number(readFileSync(join(pg.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]) : 0;
    return {
      kind: options.kind,
      label,
      http: `http://127.0.0.1:${httpPort}`,
      https: `https://127.0.0.1:${httpsPort}`,
      httpsPort,
      caId: init.issuing_ca_id,
      adminToken: init.admin_api_key,
      env,
      cli,
      cpuSeconds: () => children.reduce((sum, c) => sum + cpuSeconds(c.pid as number), 0),
      storeCpuSeconds: () => (pgPid ? cpuSeconds(pgPid) : 0) + (redis ? cpuSeconds(redis.pid) : 0),
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

async function waitForReady(url: string, timeoutMs = START_TIMEOUT_MS): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never answered ready`);
}

export interface CpuPerOp {
  /** certgate's processes, milliseconds of CPU per operation. */
  server_cpu_ms_per_op: number;
  /** Scaled out: PostgreSQL and Redis, per operation. */
  store_cpu_ms_per_op?: number;
  /** Scaled out: both together, the figure to set beside a peer whose store is in-process. */
  total_cpu_ms_per_op?: number;
}

/** Starts counting now; the function returned gives CPU per operation since then, for `ops` operations. */
export function cpuMeter(d: Deployment): (ops: number) => CpuPerOp {
  const server0 = d.cpuSeconds();
  const store0 = d.storeCpuSeconds();
  return (ops) => {
    const perOp = (seconds: number) => Math.round(((seconds * 1000) / Math.max(1, ops)) * 1000) / 1000;
    const server = d.cpuSeconds() - server0;
    const store = d.storeCpuSeconds() - store0;
    return {
      server_cpu_ms_per_op: perOp(server),
      ...(d.kind === 'scaled' ? { store_cpu_ms_per_op: perOp(store), total_cpu_ms_per_op: perOp(server + store) } : {}),
    };
  };
}
