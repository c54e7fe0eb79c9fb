// npm run bench -- rest [--only issue|list] …
//
// issue [--seconds S=6] [--rounds R=3] [--warmup S=3] [--connections C=16] [--threads T=2]
//       [--csrs N=4000] [--scaled 1,2,4] [--cases csr,managed-ecdsa,managed-rsa]
// REST csr issuance over HTTP under wrk (T threads, C keep-alive connections, N P-256 CSRs made
// before the clock, sent round-robin), side by side in one run:
//   - `cfssl serve` (stores nothing) and `cfssl serve` with its SQLite certdb (a commit per
//     certificate; after the rounds the table must hold a row for every certificate answered);
//   - certgate embedded (`serve`: SQLite, the in-process queue and worker) and scaled out (durable
//     PostgreSQL, Redis, `serve --no-worker --processes N` for each N of --scaled, one `worker`;
//     `--scaled 0` leaves it out), its rate limits off.
// Every side gets W seconds unmeasured first (JIT, caches, the stores' first pages), then R rounds
// of S seconds, alternating the order of the sides each round. Each run prints certs/s, p50/p99
// and the server's own CPU per certificate from /proc: certgate's processes
// (server_cpu_ms_per_op), scaled out also its PostgreSQL and Redis (store_cpu_ms_per_op) and both
// (total_cpu_ms_per_op); a peer's store is in its process, so its total is its server figure.
// Then a summary line per side with the medians of its rounds, and for each certgate deployment its
// total CPU per certificate over cfssl + certdb's (target ≤ 2×: meets_target).
// Load time: sides × (W + R × S) seconds (6 × 21 s by default), plus starting three PostgreSQL
// clusters and the certgate processes; a loaded machine stretches the start-up most.
// --cases managed-ecdsa,managed-rsa add managed-key issuance (certgate embedded generates the key)
// against cfssl's /newcert, which generates it too.
//
// list: GET /v1/certificates with each filter on a store holding --certs (default 1,000,000)
// certificates, SQLite and PostgreSQL: p50/p99 (target p99 < 50 ms). See bench/inventorySeed.ts.
import { execFileSync, spawn } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuMeter, startDeployment, type CpuPerOp, type Deployment } from './deployment.js';
import { argValue, cpuSeconds, emit, freePort, makeP256Csrs, round, stopChild, waitForHttp } from './lib.js';
import { hasWrk, wrkLoad, type WrkRun } from './wrk.js';

export function argList(args: string[], name: string, def: string[]): string[] {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string).split(',').filter(Boolean) : def;
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

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

export { NO_RATE_LIMITS } from './deployment.js';

/** One server under load on one kind of request. */
interface Side {
  /** The work: "csr", "managed ECDSA-P256" or "managed RSA-2048". */
  case: string;
  /** Who does it, e.g. "cfssl serve + certdb" or "certgate scaled api×2 worker×1". */
  server: string;
  certgate: boolean;
  url: string;
  bodies: Buffer[];
  headers: Record<string, string>;
  /** What an answer must contain to count as an issued certificate (checked once, before timing). */
  expect: RegExp;
  /** Starts counting CPU; the function returned gives it per operation since then. */
  meter(): (ops: number) => CpuPerOp;
}

interface Peer {
  name: string;
  base: string;
  meter(): (ops: number) => CpuPerOp;
  /** Certificates its store holds (cfssl + certdb), else undefined. */
  storedCount(): number | undefined;
  stop(): Promise<void>;
}

/** CPU per operation of one process tree whose store, if any, lives inside it: its total is its own. */
function processMeter(pid: number): () => (ops: number) => CpuPerOp {
  return () => {
    const before = cpuSeconds(pid);
    return (ops) => {
      const ms = round(((cpuSeconds(pid) - before) * 1000) / Math.max(1, ops), 3);
      return { server_cpu_ms_per_op: ms, total_cpu_ms_per_op: ms };
    };
  };
}

// cfssl's certdb/sqlite/migrations/001_CreateCertificates.sql, the schema `-db-config` expects.
const CFSSL_CERTDB_SCHEMA = `
CREATE TABLE certificates (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  ca_label                 blob,
  status                   blob NOT NULL,
  reason                   int,
  expiry                   timestamp,
  revoked_at               timestamp,
  pem                      blob NOT NULL,
  PRIMARY KEY(serial_number, authority_key_identifier)
);
CREATE TABLE ocsp_responses (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  body                     blob NOT NULL,
  expiry                   timestamp,
  PRIMARY KEY(serial_number, authority_key_identifier),
  FOREIGN KEY(serial_number, authority_key_identifier) REFERENCES certificates(serial_number, authority_key_identifier)
);`;

/** `cfssl serve` with a P-256 CA like certgate's issuing CA; with `certdb`, storing every certificate in SQLite. */
async function startCfssl(certdb: boolean): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), 'cfssl-bench-'));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(join(dir, 'ca-key.pem'), createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' })).export({ format: 'pem', type: 'sec1' }));
  execFileSync('openssl', ['req', '-x509', '-new', '-key', join(dir, 'ca-key.pem'), '-subj', '/CN=cfssl bench CA', '-days', '30', '-out', join(dir, 'ca.pem')]);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ signing: { default: { expiry: '2160h', usages: ['digital signature', 'server auth', 'client auth'] } } }));
  const db = join(dir, 'certs.db');
  const dbArgs: string[] = [];
  if (certdb) {
    execFileSync('sqlite3', [db, CFSSL_CERTDB_SCHEMA]);
    writeFileSync(join(dir, 'db.json'), JSON.stringify({ driver: 'sqlite3', data_source: db }));
    dbArgs.push('-db-config', join(dir, 'db.json'));
  }
  const port = await freePort();
  const child = spawn('cfssl', ['serve', '-address', '127.0.0.1', '-port', String(port), '-ca', join(dir, 'ca.pem'), '-ca-key', join(dir, 'ca-key.pem'), '-config', join(dir, 'config.json'), ...dbArgs, '-loglevel', '5'], { stdio: 'ignore' });
  await waitForHttp(`http://127.0.0.1:${port}/`, child);
  return {
    name: certdb ? 'cfssl serve + certdb' : 'cfssl serve',
    base: `http://127.0.0.1:${port}`,
    meter: processMeter(child.pid as number),
    storedCount: () => (certdb ? Number(execFileSync('sqlite3', [db, 'SELECT COUNT(*) FROM certificates'], { encoding: 'utf8' }).trim()) : undefined),
    stop: () => stopChild(child).then(() => rmSync(dir, { recursive: true, force: true })),
  };
}

/** One request of the side, answered as it should be: a load test of error answers would measure nothing. */
async function probe(s: Side): Promise<void> {
  const res = await fetch(s.url, { method: 'POST', headers: s.headers, body: s.bodies[0] as Buffer });
  const text = await res.text();
  if (!res.ok || !s.expect.test(text)) throw new Error(`${s.server} (${s.case}): the probe answered ${res.status}: ${text.slice(0, 300)}`);
}

export interface Measured extends WrkRun {
  cpu: CpuPerOp;
}

/** CPU per operation to set beside a peer's: scaled out, certgate's and its stores' together. */
export const totalCpu = (c: CpuPerOp): number => c.total_cpu_ms_per_op ?? c.server_cpu_ms_per_op;

const CASES: Record<string, string> = { csr: 'csr', 'managed-ecdsa': 'managed ECDSA-P256', 'managed-rsa': 'managed RSA-2048' };
const TARGET_CPU_RATIO = 2;
const BASELINE = 'cfssl serve + certdb';

export async function benchRestIssue(args: string[]): Promise<void> {
  const seconds = argValue(args, 'seconds', 6);
  const rounds = argValue(args, 'rounds', 3);
  const warmup = argValue(args, 'warmup', 3);
  const connections = argValue(args, 'connections', 16);
  const threads = argValue(args, 'threads', 2);
  const scaled = argList(args, 'scaled', ['1', '2', '4']).map(Number).filter((n) => n > 0);
  const cases = argList(args, 'cases', ['csr']).map((c) => {
    const name = CASES[c];
    if (!name) throw new Error(`unknown case "${c}"; known: ${Object.keys(CASES).join(', ')}`);
    return name;
  });
  if (!(await hasWrk())) throw new Error('the rest benchmark drives its load with wrk: apt-get install wrk');
  const csrs = makeP256Csrs(argValue(args, 'csrs', 4000));

  const peers: Peer[] = [];
  const deployments: Deployment[] = [];
  try {
    peers.push(await startCfssl(false), await startCfssl(true));
    deployments.push(await startDeployment({ kind: 'embedded' }));
    for (const apiProcesses of scaled) deployments.push(await startDeployment({ kind: 'scaled', apiProcesses, workers: 1 }));
    const [cfssl, certdb] = peers as [Peer, Peer];
    const embedded = deployments[0] as Deployment;

    const json = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
    const plain = { 'content-type': 'application/json' };
    const ofCertgate = (d: Deployment, name: string, bodies: Buffer[], expect: RegExp): Side => ({
      case: name,
      server: `certgate ${d.label}`,
      certgate: true,
      url: `${d.http}/v1/certificates`,
      bodies,
      headers: { ...plain, authorization: `Bearer ${d.adminToken}` },
      expect,
      meter: () => cpuMeter(d),
    });
    const ofPeer = (p: Peer, name: string, path: string, bodies: Buffer[], expect: RegExp): Side => ({ case: name, server: p.name, certgate: false, url: `${p.base}${path}`, bodies, headers: plain, expect, meter: p.meter });
    const names = Array.from({ length: 2000 }, (_, i) => `m${i}.bench.test`);
    const sides: Side[] = cases.flatMap((name): Side[] => {
      if (name === 'csr') {
        const signBodies = csrs.map((c) => json({ certificate_request: c }));
        return [
          ofPeer(cfssl, name, '/api/v1/cfssl/sign', signBodies, /"success":true/),
          ofPeer(certdb, name, '/api/v1/cfssl/sign', signBodies, /"success":true/),
          ...deployments.map((d) => ofCertgate(d, name, csrs.map((csrPem) => json({ caId: d.caId, mode: 'csr', csrPem })), /"certificate_pem"/)),
        ];
      }
      const rsa = name === 'managed RSA-2048';
      return [
        ofPeer(cfssl, name, '/api/v1/cfssl/newcert', names.map((cn) => json({ request: { CN: cn, hosts: [cn], key: rsa ? { algo: 'rsa', size: 2048 } : { algo: 'ecdsa', size: 256 } } })), /"private_key"/),
        ofCertgate(embedded, name, names.map((commonName) => json({ caId: embedded.caId, commonName, keyAlgorithm: rsa ? 'RSA-2048' : 'ECDSA-P256' })), /"privateKey"/),
      ];
    });

    // Certificates certdb answered with, to be found in its table afterwards.
    let certdbAnswered = 0;
    const measure = async (s: Side, secs: number): Promise<Measured> => {
      const meter = s.meter();
      const r = await wrkLoad(s.url, s.bodies, s.headers, { seconds: secs, connections, threads });
      if (s.server === certdb.name) certdbAnswered += r.requests - r.non2xx;
      return { ...r, cpu: meter(r.requests - r.non2xx) };
    };
    for (const s of sides) {
      await probe(s);
      if (s.server === certdb.name) certdbAnswered++;
      if (warmup > 0) await measure(s, warmup);
    }
    const results = await alternatingRounds(sides, rounds, (s) => measure(s, seconds), (s, m, r) =>
      emit({
        scenario: 'rest',
        part: 'issue',
        round: r,
        ...machine(),
        case: s.case,
        server: s.server,
        load: `wrk -t${threads} -c${connections}`,
        seconds,
        ...runFigures(m),
      }),
    );

    const stored = certdb.storedCount() ?? 0;
    const certdbHoldsAll = stored >= certdbAnswered;
    emit({ scenario: 'rest', part: 'issue', check: 'cfssl certdb holds a row per certificate it answered with', rows: stored, answered: certdbAnswered, ok: certdbHoldsAll });

    const summaries = new Map<Side, RunSummary>();
    for (const [s, list] of results) summaries.set(s, summarize(list));
    for (const s of sides) {
      const a = summaries.get(s);
      if (!a) continue;
      const baseline = sides.find((b) => b.case === s.case && b.server === (s.case === 'csr' ? BASELINE : cfssl.name));
      const b = baseline && summaries.get(baseline);
      emit({
        scenario: 'rest',
        part: 'issue',
        summary: `median of ${rounds} rounds`,
        ...machine(),
        case: s.case,
        server: s.server,
        certs_per_s: a.rate,
        p50_ms: a.p50,
        p99_ms: a.p99,
        ...a.cpu,
        ...(s.certgate && b
          ? {
              baseline: baseline.server,
              baseline_per_s: b.rate,
              baseline_cpu_ms_per_op: totalCpu(b.cpu),
              cpu_ratio_to_baseline: round(totalCpu(a.cpu) / totalCpu(b.cpu), 3),
              rate_ratio_to_baseline: round(a.rate / b.rate, 3),
              ...(s.case === 'csr' ? { target_cpu_ratio: TARGET_CPU_RATIO, meets_target: totalCpu(a.cpu) <= TARGET_CPU_RATIO * totalCpu(b.cpu) } : {}),
            }
          : {}),
        failures: a.failures,
      });
    }
    if (!certdbHoldsAll) throw new Error(`cfssl's certdb holds ${stored} certificates but answered with ${certdbAnswered}: its figures are not those of a durable store`);
  } finally {
    for (const d of deployments) await d.stop();
    for (const p of peers) await p.stop();
  }
}

/**
 * Each side measured once per round, the order alternating each round so that neither side always
 * runs first (warm caches, a neighbour's load). `each` hears of every run (its round counts from 1).
 */
export async function alternatingRounds<S>(sides: S[], rounds: number, measure: (s: S) => Promise<Measured>, each: (s: S, m: Measured, round: number) => void): Promise<Map<S, Measured[]>> {
  const results = new Map<S, Measured[]>();
  for (let r = 0; r < rounds; r++) {
    for (const s of r % 2 ? [...sides].reverse() : sides) {
      const m = await measure(s);
      results.set(s, [...(results.get(s) ?? []), m]);
      each(s, m, r + 1);
    }
  }
  return results;
}

/** What a JSON line says of one timed run. */
export function runFigures(m: Measured) {
  return { certs_per_s: round(m.okRate, 1), p50_ms: round(m.p50), p99_ms: round(m.p99), ...m.cpu, requests: m.requests, non2xx: m.non2xx, errors: m.errors };
}

export interface RunSummary {
  rate: number;
  p50: number;
  p99: number;
  cpu: CpuPerOp;
  failures: number;
  /** Some run sent a body twice (see WrkRun). */
  reused: boolean;
}

/** Medians of a side's rounds, each figure on its own. */
export function summarize(list: Measured[]): RunSummary {
  const med = (f: (m: Measured) => number, digits = 2) => round(median(list.map(f)), digits);
  const cpu: CpuPerOp = { server_cpu_ms_per_op: med((m) => m.cpu.server_cpu_ms_per_op, 3) };
  if (list.every((m) => m.cpu.store_cpu_ms_per_op !== undefined)) cpu.store_cpu_ms_per_op = med((m) => m.cpu.store_cpu_ms_per_op ?? 0, 3);
  if (list.every((m) => m.cpu.total_cpu_ms_per_op !== undefined)) cpu.total_cpu_ms_per_op = med((m) => m.cpu.total_cpu_ms_per_op ?? 0, 3);
  return { rate: med((m) => m.okRate, 1), p50: med((m) => m.p50), p99: med((m) => m.p99), cpu, failures: list.reduce((n, m) => n + m.non2xx + m.errors, 0), reused: list.some((m) => m.reused) };
}

export async function benchRest(args: string[]): Promise<void> {
  const only = argList(args, 'only', ['issue', 'list']);
  if (only.includes('issue')) await benchRestIssue(args);
  if (only.includes('list')) await (await import('./inventoryList.js')).benchRestList(args);
}
