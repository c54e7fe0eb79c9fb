// `certgate` as an operator runs it: a separate process on an embedded data directory, its output and exit code.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

/** `env`: settings of the deployment beyond its data directory (CERTGATE_*). */
export function certgate(dataDir: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'main.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, CERTGATE_DATA_DIR: dataDir, CERTGATE_LOG_LEVEL: 'silent', DATABASE_URL: '', REDIS_URL: '', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) as Record<string, unknown> };
}
