// npm run bench -- rest [--only issue|list] [--seconds S] [--rounds R] [--connections C] [--certs N] [--db sqlite,postgres]
//
// issue: REST issuance over HTTP under wrk — csr mode, managed ECDSA-P256 and managed RSA-2048 —
// against `cfssl serve` under the same load in the same run: POST /api/v1/cfssl/sign with the same
// CSRs (the baseline of csr mode, target ≥ 0.5×) and POST /api/v1/cfssl/newcert, which generates
// the key pair too (the baseline of managed mode). certgate runs embedded (`serve`: SQLite, the
// in-process queue and worker) with its rate limits off. Rounds alternate between the servers;
// the median round of each is compared.
//
// list: GET /v1/certificates with each filter on a store holding --certs (default 1,000,000)
// certificates, SQLite and PostgreSQL: p50/p99 (target p99 < 50 ms). See bench/inventorySeed.ts.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { argValue, cpuSeconds, emit, freePort, killTree, load, makeP256Csrs, round, waitForHttp, waitForPort } from './lib.js';
import { hasWrk, wrkLoad, type WrkResult } from './wrk.js';

const root = join(import.meta.dirname, '..');
const MASTER_KEY = 'bench-master-key-0123456789';
const TARGET_CSR_RATIO = 0.5;

export function argList(args: string[], name: string, def: string[]): string[] {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string).split(',').filter(Boolean) : def;
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** `serve` in a child process: tsx as a loader, so CERTGATE_BENCH_PROF (a folder) profiles certgate itself. */
export function spawnCertgate(env: NodeJS.ProcessEnv): ChildProcess {
  const prof = process.env.CERTGATE_BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CERTGATE_BENCH_PROF}`] : [];
  return spawn(process.execPath, [...prof, '--import', 'tsx', join(root, 'main.ts'), 'serve', '--json'], { cwd: root, env, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** SIGTERM, then wait for the exit (a profile is written on the way out). */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    killTree(child.pid as number);
  });
}

/**
 * What else the machine is doing (a shared one skews every figure): the 1-minute load average and,
 * where the kernel reports it, the share of the last minute some task waited for a CPU.
 */
export function machine(): { load_1m: number; cpu_pressure_60s_pct?: number } {
  let pressure: number | undefined;
  try {
    const m = /some avg10=[\d.]+ avg60=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    if (m) pressure = Number(m[1]);
  } catch {
    // not Linux, or no PSI
  }
  return { load_1m: round(loadavg()[0] ?? 0), ...(pressure !== undefined ? { cpu_pressure_60s_pct: pressure } : {}) };
}

/** The rate limits are per credential and would cap any load test; the bench measures the path, not the limiter. */
export const NO_RATE_LIMITS = { CERTGATE_RATE_LIMIT_PER_MINUTE: '0', CERTGATE_ISSUE_RATE_LIMIT_PER_MINUTE: '0' };

interface Server {
  name: string;
  pid: number;
  stop(): Promise<void>;
}

async function startCertgate(): Promise<Server & { base: string; caId: string; token: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'certgate-bench-rest-'));
  const port = await freePort();
  const env = {
    ...process.env,
    ...NO_RATE_LIMITS,
    CERTGATE_DATA_DIR: dataDir,
    CERTGATE_MASTER_KEY: MASTER_KEY,
    CERTGATE_HTTP_PORT: String(port),
    CERTGATE_HTTPS_PORT: '0',
    CERTGATE_LOG_LEVEL: 'warn',
    REDIS_URL: '',
    DATABASE_URL: '',
  };
  const cli = [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'main.ts')];
  const init = JSON.parse(execFileSync(process.execPath, [...cli, 'init', '--json'], { env, encoding: 'utf8' })) as { issuing_ca_id: string; admin_api_key: string };
  const child = spawnCertgate(env);
  await waitForPort(port, child, 60_000);
  return { name: 'certgate', pid: child.pid as number, base: `http://127.0.0.1:${port}`, caId: init.issuing_ca_id, token: init.admin_api_key, stop: () => stopChild(child).then(() => rmSync(dataDir, { recursive: true, force: true })) };
}

/** `cfssl serve` with a P-256 CA like certgate's issuing CA; it stores nothing (no db-config). */
async function startCfssl(): Promise<Server & { base: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'cfssl-bench-'));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(join(dir, 'ca-key.pem'), createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' })).export({ format: 'pem', type: 'sec1' }));
  execFileSync('openssl', ['req', '-x509', '-new', '-key', join(dir, 'ca-key.pem'), '-subj', '/CN=cfssl bench CA', '-days', '30', '-out', join(dir, 'ca.pem')]);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ signing: { default: { expiry: '2160h', usages: ['digital signature', 'server auth', 'client auth'] } } }));
  const port = await freePort();
  const child = spawn('cfssl', ['serve', '-address', '127.0.0.1', '-port', String(port), '-ca', join(dir, 'ca.pem'), '-ca-key', join(dir, 'ca-key.pem'), '-config', join(dir, 'config.json'), '-loglevel', '5'], { stdio: 'ignore' });
  await waitForHttp(`http://127.0.0.1:${port}/`, child);
  return { name: 'cfssl serve', pid: child.pid as number, base: `http://127.0.0.1:${port}`, stop: () => stopChild(child).then(() => rmSync(dir, { recursive: true, force: true })) };
}

interface Case {
  name: string;
  server: Server;
  url: string;
  bodies: Buffer[];
  headers: Record<string, string>;
  /** What an answer must contain to count as an issued certificate (checked once, before timing). */
  expect: RegExp;
}

interface Measured extends WrkResult {
  cpuMsPerRequest: number;
}

async function measure(c: Case, seconds: number, connections: number, useWrk: boolean): Promise<Measured> {
  const cpuBefore = cpuSeconds(c.server.pid);
  const r = useWrk
    ? await wrkLoad(c.url, c.bodies, c.headers, { seconds, connections })
    : await load(c.url, c.bodies, c.headers, connections);
  return { ...r, cpuMsPerRequest: ((cpuSeconds(c.server.pid) - cpuBefore) * 1000) / Math.max(1, r.requests) };
}

/** One request of the case, answered as it should be: a load test of error answers would measure nothing. */
async function probe(c: Case): Promise<void> {
  const res = await fetch(c.url, { method: 'POST', headers: c.headers, body: c.bodies[0] as Buffer });
  const text = await res.text();
  if (!res.ok || !c.expect.test(text)) throw new Error(`${c.name}: the probe answered ${res.status}: ${text.slice(0, 300)}`);
}

export async function benchRestIssue(args: string[]): Promise<void> {
  const seconds = argValue(args, 'seconds', 10);
  const rounds = argValue(args, 'rounds', 3);
  const connections = argValue(args, 'connections', 32);
  const useWrk = !args.includes('--autocannon') && (await hasWrk());
  if (!useWrk) emit({ scenario: 'rest', part: 'issue', note: 'wrk is not installed (apt-get install wrk): autocannon drives the load, and on a small machine it may be the ceiling' });
  const csrs = makeP256Csrs(argValue(args, 'csrs', 4000));
  const ours = await startCertgate();
  const theirs = await startCfssl();
  try {
    const json = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
    const auth = { 'content-type': 'application/json', authorization: `Bearer ${ours.token}` };
    const plain = { 'content-type': 'application/json' };
    const names = Array.from({ length: 2000 }, (_, i) => `m${i}.bench.test`);
    const cases: Case[] = [
      { name: 'csr', server: ours, url: `${ours.base}/v1/certificates`, bodies: csrs.map((csrPem) => json({ caId: ours.caId, mode: 'csr', csrPem })), headers: auth, expect: /"certificate_pem"/ },
      { name: 'cfssl sign', server: theirs, url: `${theirs.base}/api/v1/cfssl/sign`, bodies: csrs.map((c) => json({ certificate_request: c })), headers: plain, expect: /"success":true/ },
      ...(['ECDSA-P256', 'RSA-2048'] as const).flatMap((keyAlgorithm): Case[] => [
        { name: `managed ${keyAlgorithm}`, server: ours, url: `${ours.base}/v1/certificates`, bodies: names.map((commonName) => json({ caId: ours.caId, commonName, keyAlgorithm })), headers: auth, expect: /"privateKey"/ },
        {
          name: `cfssl newcert ${keyAlgorithm}`,
          server: theirs,
          url: `${theirs.base}/api/v1/cfssl/newcert`,
          bodies: names.map((cn) => json({ request: { CN: cn, hosts: [cn], key: keyAlgorithm === 'RSA-2048' ? { algo: 'rsa', size: 2048 } : { algo: 'ecdsa', size: 256 } } })),
          headers: plain,
          expect: /"private_key"/,
        },
      ]),
    ];
    const only = argList(args, 'cases', cases.map((c) => c.name));
    cases.splice(0, cases.length, ...cases.filter((c) => only.includes(c.name)));
    // Unmeasured: JIT, the SQLite file's first pages, cfssl's first allocations.
    for (const c of cases) {
      await probe(c);
      await measure(c, Math.min(3, seconds), connections, useWrk);
    }
    const results = new Map<string, Measured[]>();
    for (let r = 0; r < rounds; r++) {
      for (const c of r % 2 ? [...cases].reverse() : cases) {
        const m = await measure(c, seconds, connections, useWrk);
        results.set(c.name, [...(results.get(c.name) ?? []), m]);
        emit({
          scenario: 'rest',
          part: 'issue',
          round: r + 1,
          ...machine(),
          case: c.name,
          server: c.server.name,
          load: useWrk ? 'wrk' : 'autocannon',
          connections,
          seconds,
          certs_per_s: round(m.rate, 1),
          p50_ms: round(m.p50),
          p99_ms: round(m.p99),
          server_cpu_ms_per_cert: round(m.cpuMsPerRequest, 3),
          requests: m.requests,
          non2xx: m.non2xx,
          errors: m.errors,
        });
      }
    }
    const summary = (name: string) => {
      const list = results.get(name) ?? [];
      return { rate: median(list.map((m) => m.rate)), p50: median(list.map((m) => m.p50)), p99: median(list.map((m) => m.p99)), cpu: median(list.map((m) => m.cpuMsPerRequest)), failures: list.reduce((n, m) => n + m.non2xx + m.errors, 0) };
    };
    for (const [ourCase, baseline, target] of [
      ['csr', 'cfssl sign', TARGET_CSR_RATIO],
      ['managed ECDSA-P256', 'cfssl newcert ECDSA-P256', undefined],
      ['managed RSA-2048', 'cfssl newcert RSA-2048', undefined],
    ] as const) {
      if (!results.has(ourCase) || !results.has(baseline)) continue;
      const a = summary(ourCase);
      const b = summary(baseline);
      emit({
        scenario: 'rest',
        part: 'issue',
        summary: 'median of rounds',
        case: ourCase,
        certs_per_s: round(a.rate, 1),
        p50_ms: round(a.p50),
        p99_ms: round(a.p99),
        server_cpu_ms_per_cert: round(a.cpu, 3),
        baseline,
        baseline_per_s: round(b.rate, 1),
        baseline_p50_ms: round(b.p50),
        baseline_p99_ms: round(b.p99),
        baseline_cpu_ms_per_cert: round(b.cpu, 3),
        ratio_to_baseline: round(a.rate / b.rate, 3),
        ...(target !== undefined ? { target_ratio: target, meets_target: a.rate >= target * b.rate } : {}),
        failures: a.failures + b.failures,
      });
    }
  } finally {
    await ours.stop();
    await theirs.stop();
  }
}

export async function benchRest(args: string[]): Promise<void> {
  const only = argList(args, 'only', ['issue', 'list']);
  if (only.includes('issue')) await benchRestIssue(args);
  if (only.includes('list')) await (await import('./inventoryList.js')).benchRestList(args);
}
