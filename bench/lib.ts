import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { freePort } from '../test/helpers/net.js';
export { freePort };
import { connect } from 'node:net';
import autocannon from 'autocannon';
import { buildCsr } from '../src/pki/csrBuilder.js';

export interface Line {
  scenario: string;
  [k: string]: unknown;
}

export function emit(line: Line): void {
  console.log(JSON.stringify(line));
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** n P-256 CSRs, each for its own key and host name, made before any timing starts. */
export function makeP256Csrs(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    out.push(buildCsr(privateKey, `CN=host${i}.bench.test`, { dns: [`host${i}.bench.test`] }));
  }
  return out;
}

export function argValue(args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : def;
}

export async function waitForHttp(url: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not come up`);
}

export async function load(url: string, bodies: (string | Buffer)[], headers: Record<string, string>, connections = 32): Promise<{ rate: number; p50: number; p99: number; requests: number; non2xx: number; errors: number }> {
  let i = 0;
  const result = await autocannon({
    url,
    connections,
    amount: bodies.length,
    timeout: 60,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length] as string | Buffer }),
      },
    ],
  });
  const total = result.requests.total;
  return { rate: total / result.duration, p50: result.latency.p50, p99: result.latency.p99, requests: total, non2xx: result.non2xx, errors: result.errors };
}


/** Resolves once something accepts TCP connections on the port (no request sent). */
export async function waitForPort(port: number, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} never opened`);
}

function childPids(p: number): number[] {
  try {
    return readdirSync(`/proc/${p}/task`).flatMap((t) =>
      readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** Signals a process and all its descendants (Linux), children first. */
export function killTree(pid: number, signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const child of childPids(pid)) killTree(child, signal);
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM to the process and its descendants, then wait for the exit (a profile is written on the way out). */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    killTree(child.pid as number);
  });
}

/**
 * CPU seconds (user + system) used so far by a process, its threads and its children, live or
 * exited and reaped (Linux). Without the reaped ones a tree whose children come and go (PostgreSQL's
 * backends, autovacuum workers) would seem to use less CPU the longer it runs.
 */
export function cpuSeconds(pid: number): number {
  const ticks = (p: number): number => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime, stime, then cutime, cstime: what its children that it has waited for used.
      return Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    } catch {
      return 0;
    }
  };
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop() as number;
    total += ticks(p);
    stack.push(...childPids(p));
  }
  return total / 100; // USER_HZ
}
