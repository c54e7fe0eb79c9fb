// A throwaway PostgreSQL cluster for the test run: initdb + pg_ctl in a temp dir, on a free port of
// 127.0.0.1, fsync off. PostgreSQL refuses to run as root, so as root the server runs as the
// `postgres` system user (which the Debian package creates).
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { findBinary, missingBinaryReason, requireAll } from './binaries.js';
import { freePort } from '../helpers/net.js';

const run = promisify(execFile);
const INSTALL_HINT = 'apt-get install postgresql (or your OS package providing initdb and pg_ctl)';

export interface PostgresServer {
  /** Superuser URL of the `postgres` database, e.g. postgresql://postgres@127.0.0.1:54321/postgres */
  url: string;
  /** The data folder (its postmaster.pid names the server process). */
  dataDir: string;
  stop(): Promise<void>;
  /** Stops the server but keeps its data (`pg_ctl stop -m <mode>`), as an operator's restart does. */
  halt(mode?: 'fast' | 'immediate' | 'smart'): Promise<void>;
  /** Starts a halted server again, on the same port and data. */
  resume(): Promise<void>;
}

/**
 * Folders that may hold initdb/pg_ctl besides PATH: `pg_config --bindir`, then Debian/Ubuntu's
 * /usr/lib/postgresql/<version>/bin (newest first), then Red Hat's /usr/pgsql-<version>/bin.
 */
export function postgresBinDirs(): string[] {
  const dirs: string[] = [];
  const pgConfig = findBinary('pg_config');
  if (pgConfig) {
    try {
      const dir = execFileSync(pgConfig, ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      if (dir) dirs.push(dir);
    } catch {
      // pg_config from libpq-dev without a server: fall through to the globs below.
    }
  }
  const versioned = (parent: string, prefix: string, suffix: string): string[] => {
    if (!existsSync(parent)) return [];
    return readdirSync(parent)
      .filter((name) => name.startsWith(prefix) && /^\d+(\.\d+)?$/.test(name.slice(prefix.length)))
      .sort((a, b) => Number(b.slice(prefix.length)) - Number(a.slice(prefix.length)))
      .map((name) => join(parent, name, suffix));
  };
  dirs.push(...versioned('/usr/lib/postgresql', '', 'bin'), ...versioned('/usr', 'pgsql-', 'bin'));
  return [...new Set(dirs)];
}

/** initdb's folder, or null. Prefers a folder that also has pg_ctl (they must match versions). */
function findServerBinDir(): string | null {
  for (const dir of postgresBinDirs()) {
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  const initdb = findBinary('initdb');
  if (initdb && findBinary('pg_ctl')) return join(initdb, '..');
  return null;
}

function shellQuote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** How to run a server binary: directly, or as the postgres user when we are root. */
function commandFor(asPostgresUser: boolean, binary: string, args: string[]): [string, string[]] {
  if (!asPostgresUser) return [binary, args];
  const runuser = findBinary('runuser', ['/usr/sbin', '/sbin']);
  if (runuser) return [runuser, ['-u', 'postgres', '--', binary, ...args]];
  const su = findBinary('su', ['/usr/bin', '/bin']);
  if (!su) throw new Error('running as root, but neither runuser nor su is available to drop to the postgres user');
  return [su, ['postgres', '-s', '/bin/sh', '-c', [binary, ...args].map(shellQuote).join(' ')]];
}

function postgresUserIds(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const fields = line?.split(':');
  if (!fields || fields.length < 4) {
    throw new Error('running as root but there is no `postgres` system user to run PostgreSQL as');
  }
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/**
 * `durableCommits`: keep synchronous_commit on. Off (the default, for speed), a crash or an
 * immediate stop may lose the last commits the clients were told about, which a suite that stops
 * the server under load (test/faults.test.ts) must not confuse with the gateway losing them.
 */
/**
 * `durableCommits`: keep synchronous_commit on (a commit waits for its WAL write). `durable`: also
 * fsync and full-page writes on, as a production server runs; benchmarks compare with peers that
 * fsync their commits. Tests leave both off: they are about behaviour, not crashes of the machine.
 */
export async function startPostgres(options: { durableCommits?: boolean; durable?: boolean } = {}): Promise<PostgresServer | null> {
  const binDir = findServerBinDir();
  if (!binDir) {
    // Report whichever of the pair is missing (throws under CERTGATE_REQUIRE_ALL=1).
    const dirs = postgresBinDirs();
    const reason = missingBinaryReason('initdb', INSTALL_HINT, dirs) ?? missingBinaryReason('pg_ctl', INSTALL_HINT, dirs);
    if (!reason && requireAll) throw new Error('CERTGATE_REQUIRE_ALL=1 but initdb and pg_ctl are not in one folder');
    return null;
  }
  const initdb = join(binDir, 'initdb');
  const pgCtl = join(binDir, 'pg_ctl');

  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  // As root, the postgres user must be able to reach the folder: use /tmp, not a private TMPDIR.
  const dir = mkdtempSync(join(asRoot ? '/tmp' : tmpdir(), 'certgate-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  if (asRoot) {
    const { uid, gid } = postgresUserIds();
    chownSync(dir, uid, gid);
  }
  const exec = (binary: string, args: string[], timeout = 120_000) => {
    const [file, argv] = commandFor(asRoot, binary, args);
    return run(file, argv, { cwd: dir, timeout, env: { ...process.env, LC_ALL: 'C', LANG: 'C' } });
  };

  let port = 0;
  let started = false;
  let serverOptions = '';
  const cleanup = () => {
    if (started) {
      try {
        const [file, argv] = commandFor(asRoot, pgCtl, ['stop', '-D', dataDir, '-m', 'immediate', '-w']);
        execFileSync(file, argv, { cwd: dir, stdio: 'ignore', timeout: 30_000 });
      } catch {
        // Already gone.
      }
      started = false;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Should the teardown never run (crash, Ctrl-C), do not leave a postmaster behind.
  process.once('exit', cleanup);

  try {
    await exec(initdb, ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync']);
    let lastError: unknown;
    for (let attempt = 0; attempt < 3 && !started; attempt++) {
      port = await freePort();
      serverOptions = [
        `-p ${port}`,
        `-k ${shellQuote(dir)}`,
        "-c listen_addresses='127.0.0.1'",
        ...(options.durable ? [] : ['-c fsync=off', '-c full_page_writes=off']),
        ...(options.durableCommits || options.durable ? [] : ['-c synchronous_commit=off']),
        '-c max_connections=200',
      ].join(' ');
      try {
        await exec(pgCtl, ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions]);
        started = true;
      } catch (error) {
        lastError = error; // Most likely the port was taken in between: try another.
      }
    }
    if (!started) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
      throw new Error(`PostgreSQL did not start: ${String(lastError)}\n${log}`);
    }
  } catch (error) {
    process.removeListener('exit', cleanup);
    cleanup();
    throw error;
  }

  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    dataDir,
    async stop() {
      process.removeListener('exit', cleanup);
      if (started) {
        await exec(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate', '-w'], 30_000).catch(() => undefined);
        started = false;
      }
      rmSync(dir, { recursive: true, force: true });
    },
    async halt(mode = 'fast') {
      await exec(pgCtl, ['stop', '-D', dataDir, '-m', mode, '-w'], 60_000);
    },
    async resume() {
      await exec(pgCtl, ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions]);
    },
  };
}

/**
 * Creates a fresh, uniquely named database on the server behind `baseUrl` (which must allow
 * CREATE DATABASE) and returns its URL, so that parallel suites never see each other's rows.
 */
export async function createTestDatabase(baseUrl: string): Promise<string> {
  const name = `certgate_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
