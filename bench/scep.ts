// npm run bench -- scep [--count N] [--sides embedded,scaled,stepca] [--cipher des3|aes]
//                       [--messages …: the pkiMessage throughput of scepMessages.ts instead]
// SCEP PKCSReq as a device does it: strongSwan's `pki --scep` (RSA-2048 key, 3DES, SHA-256, a
// static challenge), one enrollment at a time, N of them after one warm-up, against certgate
// embedded, certgate scaled out (PostgreSQL, Redis, two HTTP processes, a separate worker) and
// step-ca 0.19 with its SCEP provisioner. The figure that does not depend on the client sharing
// the cores is each server's own CPU per enrollment (from /proc); the rate and latency include
// pki's start-up, the same for every side. strongSwan 5.9.8 cannot verify step-ca 0.19's CertRep
// (it signs with a digest encryption pki does not take), so step-ca's enrollments are counted from
// its log, where it names every certificate it issues.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cpuMeter, startDeployment, type CpuPerOp, type Deployment, type DeploymentKind } from './deployment.js';
import { cpuSeconds, emit, freePort, percentile, round } from './lib.js';

const run = promisify(execFile);
const PEERS = join(import.meta.dirname, 'peers');
/** The issue's target: a certgate enrollment costs at most twice step-ca's server CPU. */
const TARGET_RATIO = 2;

interface Side {
  name: string;
  url: string;
  challenge: string;
  /** The files `pki --scep` verifies and encrypts with, as --scepca wrote them. */
  caArgs: string[];
  /** Enrollments issued so far, as the server itself tells. */
  issued(): Promise<number>;
  cpu(): (ops: number) => CpuPerOp;
  stop(): Promise<void>;
}

interface Enrollment {
  ms: number;
  certificate: boolean;
}

async function pki(args: string[], cwd: string): Promise<{ stdout: string; stderr: string; ok: boolean }> {
  try {
    const { stdout, stderr } = await run('pki', args, { cwd, timeout: 60_000 });
    return { stdout, stderr, ok: true };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { stdout: err.stdout ?? '', stderr: err.stderr ?? '', ok: false };
  }
}

/** GetCACert into `dir`: ca.der (first), ca-1.der …, ra.der when the server has an RA apart from its CA. */
async function fetchCa(url: string, dir: string): Promise<string[]> {
  const r = await pki(['--scepca', '--url', url, '--caout', 'ca.der', '--raout', 'ra.der'], dir);
  const files = ['ca.der', 'ca-1.der', 'ca-2.der'].filter((f) => existsSync(join(dir, f)));
  if (files.length === 0) throw new Error(`pki --scepca ${url} wrote no CA certificate:\n${r.stderr}`);
  // Without an RA the CA signs and decrypts itself (step-ca); the issuing CA is the last one written.
  const ra = existsSync(join(dir, 'ra.der')) ? 'ra.der' : (files[files.length - 1] as string);
  return ['--cacert-enc', ra, '--cacert-sig', ra, ...files.flatMap((f) => ['--cacert', f])];
}

async function certgateSide(kind: DeploymentKind, dir: string): Promise<Side> {
  // No per-product issuance cap: the benchmark measures the path, not the limiter.
  const d: Deployment = await startDeployment({ kind, env: { CERTGATE_SCEP_ISSUE_PER_PRODUCT_PER_MINUTE: '0' } });
  try {
    const { challenge } = JSON.parse(d.cli(['credential', 'create', '--type', 'scep', '--product', '*', '--name', 'bench', '--json'])) as { challenge: string };
    const url = `${d.http}/scep`;
    return {
      name: d.label,
      url,
      challenge,
      caArgs: await fetchCa(url, dir),
      async issued() {
        const res = await fetch(`${d.http}/v1/certificates?pageSize=1`, { headers: { authorization: `Bearer ${d.adminToken}` } });
        return ((await res.json()) as { total: number }).total;
      },
      cpu: () => cpuMeter(d),
      stop: () => d.stop(),
    };
  } catch (e) {
    await d.stop();
    throw e;
  }
}

async function stepCaSide(dir: string): Promise<Side> {
  const httpPort = await freePort();
  // SCEP needs no DNS; step-ca insists on a resolver address all the same.
  const { stdout } = await run(join(PEERS, 'stepca-start.sh'), [String(await freePort()), '127.0.0.1:9', '--scep'], { env: { ...process.env, STEPCA_SCEP_HTTP_PORT: String(httpPort) }, timeout: 600_000 });
  const vars = Object.fromEntries(stdout.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
  const pid = Number(vars.STEPCA_PID);
  const stop = () => run(join(PEERS, 'stepca-stop.sh'), [String(pid), vars.STEPCA_DIR as string]).then(() => undefined);
  try {
    const url = vars.STEPCA_SCEP_HTTP_URL as string;
    const log = vars.STEPCA_LOG as string;
    return {
      name: 'step-ca 0.19',
      url,
      challenge: vars.STEPCA_SCEP_CHALLENGE as string,
      caArgs: await fetchCa(url, dir),
      // One log line per request; a PKIOperation that issued names the certificate's serial.
      issued: async () => readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('operation=PKIOperation') && / serial=\d+/.test(l)).length,
      cpu() {
        const start = cpuSeconds(pid);
        return (ops) => ({ server_cpu_ms_per_op: round(((cpuSeconds(pid) - start) * 1000) / Math.max(1, ops), 3) });
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function enroll(side: Side, dir: string, key: string, cn: string, cipher: string): Promise<Enrollment> {
  const started = performance.now();
  const r = await pki(['--scep', '--url', side.url, '--in', key, '--dn', `CN=${cn}`, '--password', side.challenge, ...side.caArgs, '--cipher', cipher, '--digest', 'sha256', '--outform', 'pem'], dir);
  return { ms: performance.now() - started, certificate: r.ok && r.stdout.includes('-----BEGIN CERTIFICATE-----') };
}

/** One side: a warm-up enrollment, then `count` in sequence, metered. */
async function measure(side: Side, dir: string, keys: string[], cipher: string): Promise<CpuPerOp & { enrollments_per_s: number }> {
  const [warmKey, ...timedKeys] = keys;
  // The first enrollment after start, apart: what a server pays once (threads, caches, JIT).
  const first = await enroll(side, dir, warmKey as string, 'warm.bench.test', cipher);
  const before = await side.issued();
  const meter = side.cpu();
  const times: number[] = [];
  let certificates = 0;
  const started = performance.now();
  for (const [i, key] of timedKeys.entries()) {
    const e = await enroll(side, dir, key, `h${i}.bench.test`, cipher);
    times.push(e.ms);
    if (e.certificate) certificates++;
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = meter(timedKeys.length);
  const issued = (await side.issued()) - before;
  times.sort((a, b) => a - b);
  const line = {
    scenario: 'scep',
    operation: 'PKCSReq',
    side: side.name,
    client: 'strongSwan pki --scep',
    cipher,
    count: timedKeys.length,
    issued,
    // step-ca's CertRep is one strongSwan cannot verify, so there its certificates stay with the server.
    client_got_certificate: certificates,
    enrollments_per_s: round(timedKeys.length / seconds, 1),
    p50_ms: round(percentile(times, 50), 1),
    p99_ms: round(percentile(times, 99), 1),
    first_ms: round(first.ms, 1),
    ...cpu,
  };
  emit(line);
  if (issued !== timedKeys.length) throw new Error(`${side.name} issued ${issued} of ${timedKeys.length} enrollments`);
  return { ...cpu, enrollments_per_s: line.enrollments_per_s };
}

export async function benchScep(args: string[]): Promise<void> {
  if (args.includes('--messages')) return (await import('./scepMessages.js')).benchScepMessages(args);
  const at = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const count = Number(at('count') ?? 30);
  const cipher = at('cipher') ?? 'des3';
  const sides = (at('sides') ?? 'embedded,scaled,stepca').split(',');
  const dir = mkdtempSync(join(tmpdir(), 'certgate-bench-scep-pki-'));
  try {
    // The requesters' keys, made before anything is timed; each side enrolls the same ones.
    const keys = Array.from({ length: count + 1 }, (_, i) => {
      const file = `key-${i}.pem`;
      writeFileSync(join(dir, file), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs1' }));
      return join(dir, file);
    });
    const results: Record<string, CpuPerOp & { enrollments_per_s: number }> = {};
    for (const name of sides) {
      const sideDir = mkdtempSync(join(dir, `${name}-`));
      // A side that cannot start or enroll is reported, and the others are still measured.
      try {
        const side = name === 'stepca' ? await stepCaSide(sideDir) : await certgateSide(name === 'scaled' ? 'scaled' : 'embedded', sideDir);
        try {
          results[name] = await measure(side, sideDir, keys, cipher);
        } finally {
          await side.stop();
        }
      } catch (e) {
        emit({ scenario: 'scep', operation: 'PKCSReq', side: name, error: (e as Error).message });
      }
    }
    const peer = results.stepca?.server_cpu_ms_per_op;
    if (peer) {
      const ratio = (r: CpuPerOp | undefined) => (r ? round((r.total_cpu_ms_per_op ?? r.server_cpu_ms_per_op) / peer, 2) : null);
      emit({
        scenario: 'scep',
        operation: 'summary',
        stepca_cpu_ms_per_op: peer,
        embedded_cpu_ms_per_op: results.embedded?.server_cpu_ms_per_op ?? null,
        embedded_ratio: ratio(results.embedded),
        // Scaled out, certgate's processes and its PostgreSQL and Redis together: step-ca keeps its store in-process.
        scaled_total_cpu_ms_per_op: results.scaled?.total_cpu_ms_per_op ?? null,
        scaled_ratio: ratio(results.scaled),
        target_ratio: TARGET_RATIO,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
