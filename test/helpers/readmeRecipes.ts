// What test/readme.recipes.test.ts needs to run the README's try-it recipes as a user would: a
// checkout to run them in, and the shells (some of them servers) it starts.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { lstatSync, readdirSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './openssl.js';

/**
 * A folder that is the repository as a user's checkout is, without its `data/` and `try/`: every
 * top-level entry linked, so `npm start` and `npx certgate` run there and write `./data` and
 * `try/` into it, never into the repository the tests run from.
 */
export function checkoutCopy(root: string): string {
  const dir = tempDir('certgate-readme-');
  for (const entry of readdirSync(root)) {
    if (['data', 'try', '.git', 'dist', 'coverage'].includes(entry)) continue;
    symlinkSync(join(root, entry), join(dir, entry));
  }
  return dir;
}

/** Removes a checkoutCopy: its links first, one by one (never what they point at), then what the recipes wrote. */
export function removeCheckoutCopy(dir: string): void {
  for (const entry of readdirSync(dir)) {
    if (lstatSync(join(dir, entry)).isSymbolicLink()) unlinkSync(join(dir, entry));
  }
  rmSync(dir, { recursive: true, force: true });
}

/** A UDP port of 127.0.0.1 that was free a moment ago (the recipe's DNS server listens there). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

export interface Shell {
  /** Everything it printed so far. */
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the exit code once the shell has ended. */
  readonly exited: Promise<number | null>;
  /** SIGTERM to the shell and everything it started (its own process group); resolves once the shell is gone. */
  stop(): Promise<void>;
}

/** `bash -euo pipefail -c script` in `cwd`, in a process group of its own so that stop() ends what it started. */
export function startShell(script: string, cwd: string, env: NodeJS.ProcessEnv): Shell {
  const child: ChildProcess = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-(child.pid as number), 'SIGTERM');
        } catch {
          // already gone
        }
      }
      await exited;
    },
  };
}

/** Runs a script to its end; its output, or an error carrying all of it. */
export async function runShell(script: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  const shell = startShell(script, cwd, env);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const code = await Promise.race([shell.exited, timedOut]);
  clearTimeout(timer);
  if (code === 'timeout') await shell.stop();
  if (code !== 0) throw new Error(`the recipe ${code === 'timeout' ? `took over ${timeoutMs} ms` : `exited ${code}`}:\n${script}\n--- stdout ---\n${shell.stdout()}\n--- stderr ---\n${shell.stderr()}`);
  return { stdout: shell.stdout(), stderr: shell.stderr() };
}
