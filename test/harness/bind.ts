// Starts a throwaway BIND 9 (`named`, Debian bind9) for the dns-01 tests: loopback only, a free
// port (UDP and TCP), foreground as the current user, everything in a temp dir that stop() removes.
// It is primary for `test.certgate` (every name under it has A 127.0.0.1, so Pebble's http-01 and
// address lookups find the gateway) and for `locked.certgate`, and knows two TSIG keys with secrets
// made here: `certgate-test` (and `certgate-test-512`) may update test.certgate, only `other-key`
// may update locked.certgate.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary, missingBinaryReason } from './binaries.js';
import { freePort } from '../helpers/net.js';

export const BIND_ZONE = 'test.certgate';
export const BIND_LOCKED_ZONE = 'locked.certgate';

export interface BindKey {
  name: string;
  algorithm: 'hmac-sha256' | 'hmac-sha512';
  secret: Buffer;
}

export interface RunningBind {
  host: '127.0.0.1';
  port: number;
  /** "127.0.0.1:<port>", as Pebble's -dnsserver and DcvSettings.dnsServer take it. */
  address: string;
  /** May update BIND_ZONE. */
  key: BindKey;
  /** May update BIND_ZONE too, with HMAC-SHA512. */
  key512: BindKey;
  /** Known to the server, may update BIND_LOCKED_ZONE only. */
  otherKey: BindKey;
  /** The folder holding named.conf, the zones and their journals. */
  dir: string;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 30_000;

export function bindMissingReason(): string | null {
  return missingBinaryReason('named', 'apt-get install -y bind9', ['/usr/sbin']);
}

export async function startBind(): Promise<RunningBind | null> {
  if (bindMissingReason()) return null;
  const bin = findBinary('named', ['/usr/sbin']) as string;
  let lastError: unknown;
  // The free port can be taken between probing and binding; try a few times.
  for (let i = 0; i < 3; i++) {
    try {
      return await startOnce(bin, await freePort());
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

function zoneFile(zone: string): string {
  return [
    '$TTL 60',
    `@ IN SOA ns.${zone}. hostmaster.${zone}. 1 3600 600 86400 1`,
    `@ IN NS ns.${zone}.`,
    `@ IN A 127.0.0.1`,
    `* IN A 127.0.0.1`,
    '',
  ].join('\n');
}

async function startOnce(bin: string, port: number): Promise<RunningBind> {
  const dir = await mkdtemp(join(tmpdir(), 'certgate-bind-'));
  const key: BindKey = { name: 'certgate-test', algorithm: 'hmac-sha256', secret: randomBytes(32) };
  const key512: BindKey = { name: 'certgate-test-512', algorithm: 'hmac-sha512', secret: randomBytes(64) };
  const otherKey: BindKey = { name: 'other-key', algorithm: 'hmac-sha256', secret: randomBytes(32) };
  const keyClause = (k: BindKey) => `key "${k.name}" { algorithm ${k.algorithm}; secret "${k.secret.toString('base64')}"; };`;
  const conf = `
options {
  directory "${dir}";
  pid-file none;
  session-keyfile none;
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  notify no;
  dnssec-validation no;
  allow-query { 127.0.0.1; };
};
controls { };
${keyClause(key)}
${keyClause(key512)}
${keyClause(otherKey)}
zone "${BIND_ZONE}" { type primary; file "${BIND_ZONE}.zone"; allow-update { key "${key.name}"; key "${key512.name}"; }; };
zone "${BIND_LOCKED_ZONE}" { type primary; file "${BIND_LOCKED_ZONE}.zone"; allow-update { key "${otherKey.name}"; }; };
`;
  await writeFile(join(dir, 'named.conf'), conf, { mode: 0o600 });
  await writeFile(join(dir, `${BIND_ZONE}.zone`), zoneFile(BIND_ZONE));
  await writeFile(join(dir, `${BIND_LOCKED_ZONE}.zone`), zoneFile(BIND_LOCKED_ZONE));

  // -g: foreground, log to stderr (and no -u: stay the current user); -4: IPv4 only; -n 1: one
  // worker thread, the machine is shared.
  const child = spawn(bin, ['-g', '-4', '-n', '1', '-c', join(dir, 'named.conf')], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const running = new Promise<boolean>((resolve) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      log += chunk.toString('utf8');
      // Once every zone is loaded and it listens, named logs a line that ends in "running" (an
      // earlier one says "running on Linux …").
      if (/ running$/m.test(log)) resolve(true);
    });
    child.once('exit', () => resolve(false));
    child.once('error', () => resolve(false));
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null) resolve();
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const stop = async (): Promise<void> => {
    await killAndWait(child, exited);
    await rm(dir, { recursive: true, force: true });
  };

  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), STARTUP_TIMEOUT_MS).unref());
  const result = await Promise.race([running, timeout]);
  if (result !== true) {
    await stop();
    throw new Error(`named did not start on port ${port} (${result === 'timeout' ? 'timeout' : 'exited'}); log tail:\n${log.split('\n').slice(-15).join('\n')}`);
  }
  return { host: '127.0.0.1', port, address: `127.0.0.1:${port}`, key, key512, otherKey, dir, stop };
}

async function killAndWait(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
