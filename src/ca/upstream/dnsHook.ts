// dns-01 records for an upstream ACME order published by the operator's own executable, for DNS
// providers certgate does not speak to: `<path> add|remove <fqdn> <value>`, exit code 0 = done
// (the record is served), 75 (EX_TEMPFAIL) = try again later, anything else = failed. Run without a shell, so no name or value is ever parsed as shell syntax,
// in a process group of its own, so a timeout ends whatever the hook started too. The hook does not
// inherit certgate's environment (it holds the master key and database credentials): it gets PATH
// and a locale only, and reads its own credentials from its own files.
import { spawn } from 'node:child_process';
import { DnsPublishError, type DnsChallengePublisher } from './dnsChallenge.js';

export interface HookOptions {
  /** Bound on one run; the hook's whole process group is killed after it. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;
/** What of the hook's stderr goes into an error: its end says why it failed. */
const STDERR_LINES = 5;
const STDERR_KEEP_BYTES = 8192;
/** sysexits.h EX_TEMPFAIL: the hook's way to say "try again later" (its DNS API is down). */
const EX_TEMPFAIL = 75;

function hookEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };
  for (const name of ['LANG', 'LC_ALL', 'TZ']) if (process.env[name] !== undefined) env[name] = process.env[name];
  return env;
}

function tail(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
  return lines.length ? `; its stderr ends: ${lines.slice(-STDERR_LINES).join(' | ')}` : '';
}

export function hookPublisher(path: string, options: HookOptions = {}): DnsChallengePublisher {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  function run(action: 'add' | 'remove', fqdn: string, value: string): Promise<void> {
    const name = fqdn.replace(/\.$/, '');
    const what = `the dns hook ${path} ${action} ${name}`;
    return new Promise((resolve, reject) => {
      let stderr = '';
      let timedOut = false;
      const child = spawn(path, [action, name, value], { stdio: ['ignore', 'ignore', 'pipe'], env: hookEnvironment(), detached: true });
      const killGroup = (): void => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, timeoutMs);
      child.stderr.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP_BYTES);
      });
      child.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new DnsPublishError(`${what} could not be run: ${err.code ?? err.message}`, false, { cause: err }));
      });
      child.once('exit', () => {
        clearTimeout(timer);
        // Leave nothing of this run behind, whether it succeeded or not; that also closes the
        // stderr a background process of the hook may still hold, so 'close' comes.
        killGroup();
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (timedOut) reject(new DnsPublishError(`${what} did not finish within ${Math.round(timeoutMs / 1000)} s and was killed${tail(stderr)}`, true));
        else if (code === 0) resolve();
        else {
          const how = signal ? `killed by ${signal}` : `exit code ${code}`;
          reject(new DnsPublishError(`${what} failed (${how})${tail(stderr)}`, code === EX_TEMPFAIL));
        }
      });
    });
  }

  return {
    add: (fqdn, value) => run('add', fqdn, value),
    remove: (fqdn, value) => run('remove', fqdn, value),
  };
}
