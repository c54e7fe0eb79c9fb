// Starts a throwaway redis-server for the test run: loopback only, free port, no persistence,
// working directory in a temp dir that stop() removes.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary, missingBinaryReason } from './binaries.js';
import { freePort } from '../helpers/net.js';

export interface RunningRedis {
  url: string;
  port: number;
  /** The server's process id (benchmarks count its CPU). */
  pid: number;
  stop(): Promise<void>;
  /** SIGKILLs the server (no goodbye to its clients, as a crash) and removes its folder. */
  kill(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 20_000;

/** `port`: use this one (e.g. to restart a killed server where its clients look for it); no retries then. */
export async function startRedis(options: { port?: number } = {}): Promise<RunningRedis | null> {
  if (missingBinaryReason('redis-server', 'apt-get install redis-server')) return null;
  const bin = findBinary('redis-server') as string;
  let lastError: unknown;
  // The free port can be taken between probing and binding; try a few times.
  for (let i = 0; i < (options.port ? 1 : 3); i++) {
    try {
      return await startOnce(bin, options.port ?? (await freePort()));
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

async function startOnce(bin: string, port: number): Promise<RunningRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'certgate-redis-'));
  const child = spawn(
    bin,
    [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      '--dir', dir,
      '--logfile', 'redis.log',
      '--daemonize', 'no',
      // BullMQ needs this; it is the default, stated here so a changed default cannot surprise.
      '--maxmemory-policy', 'noeviction',
    ],
    { cwd: dir, stdio: 'ignore' },
  );
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });

  const stop = async (): Promise<void> => {
    await killAndWait(child, exited);
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    const result = await Promise.race([pingOnce(port).then((ok) => (ok ? 'up' : 'down')), exited.then(() => 'exited')]);
    if (result === 'up') break;
    if (result === 'exited' || Date.now() > deadline) {
      const log = await readFile(join(dir, 'redis.log'), 'utf8').catch(() => '');
      await stop();
      throw new Error(
        `redis-server did not start on port ${port} (${result}); log tail:\n${log.split('\n').slice(-15).join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  return { url: `redis://127.0.0.1:${port}/0`, port, pid: child.pid as number, stop, kill };
}

async function killAndWait(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** True when something on the port answers PING with PONG. */
function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let data = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 1_000);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (data.includes('\r\n')) done(data.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
  });
}
