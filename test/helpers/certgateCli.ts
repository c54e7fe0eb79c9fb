// `certgate` as an operator runs it: a separate process on an embedded data directory, its output and exit code.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

/** How the command is started: `env` adds settings of the deployment beyond its data directory (CERTGATE_*). */
function invocation(dataDir: string, args: string[], env: Record<string, string>) {
  return {
    argv: ['--import', 'tsx', join(root, 'main.ts'), ...args],
    options: { cwd: root, env: { ...process.env, CERTGATE_DATA_DIR: dataDir, CERTGATE_LOG_LEVEL: 'silent', DATABASE_URL: '', REDIS_URL: '', ...env } },
  };
}

const result = (code: number | null, stdout: string, stderr: string) => ({ code, stdout, stderr, json: () => JSON.parse(stdout) as Record<string, unknown> });

export function certgate(dataDir: string, args: string[], env: Record<string, string> = {}) {
  const { argv, options } = invocation(dataDir, args, env);
  const r = spawnSync(process.execPath, argv, { ...options, encoding: 'utf8' });
  return result(r.status, r.stdout, r.stderr);
}

/** The same, without blocking this process: for a command that talks to servers the test runs (a stub DNS server, an http-01 answerer). */
export function certgateAsync(dataDir: string, args: string[], env: Record<string, string> = {}): Promise<ReturnType<typeof result>> {
  const { argv, options } = invocation(dataDir, args, env);
  const child = spawn(process.execPath, argv, options);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(result(code, stdout, stderr)));
  });
}
