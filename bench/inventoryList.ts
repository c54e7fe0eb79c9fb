// npm run bench -- rest --only list [--certs N] [--db sqlite,postgres] [--requests N] [--queries page-1,owner] [--baseline <checkout>]
// GET /v1/certificates with each filter the inventory offers, on a store holding --certs
// certificates (default 1,000,000; see inventorySeed.ts), embedded (SQLite) and on PostgreSQL
// (DATABASE_URL, or a throwaway cluster like the tests' when initdb/pg_ctl are installed). Each
// query is sent --requests times, one at a time after a warm-up, and its total is checked against
// a plain COUNT(*) of the same conditions (an estimated total, totalExact false: how far off it
// is). Target: p99 under 50 ms. Baseline: GET /v1/whoami, the cost of the HTTP, authentication
// and JSON around any query. Each query also reports the server's own CPU per request (from /proc:
// certgate's process, and PostgreSQL's when it is the store), which the machine's load does not
// inflate the way it does latency.
//
// --baseline <checkout>: a second certgate, from another checkout of certgate (e.g. a worktree of
// main), serves the same store at the same time; each round sends every query to both, so both
// are measured in the same moments. Queries the baseline does not know (paging by cursor) go to
// this checkout only.
//
// The seeded SQLite data directory is kept under the system's temp folder and reused while the
// schema (src/store/migrations.ts) and the seed stay the same; PostgreSQL is seeded on every run.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { PROTOCOLS } from '../protocols/index.js';
import { createCa } from '../src/ca/createCa.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { loadConfig } from '../src/config.js';
import { createProduct } from '../src/core/products.js';
import { credentialKindsOf } from '../src/core/protocol.js';
import { initialize } from '../src/init.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { openRuntime } from '../src/runtime.js';
import { createTestDatabase, startPostgres } from '../test/harness/postgres.js';
import { seedPostgres, seedSqlite, type SeedCa } from './inventorySeed.js';
import { cursorOf } from '../protocols/rest/pagination.js';
import { argValue, cpuSeconds, emit, freePort, percentile, round, stopChild, waitForPort } from './lib.js';
import { argList, machine, NO_RATE_LIMITS } from './rest.js';
import { spawnCertgate } from './deployment.js';

const MASTER_KEY = 'bench-master-key-0123456789';
/** Bump when inventorySeed.ts changes what it writes: the cached SQLite inventory is then made again. */
const SEED_VERSION = 1;
const TARGET_P99_MS = 50;
const DAY_MS = 86_400_000;

interface Seeded {
  adminToken: string;
  cas: SeedCa[];
}

interface Target {
  store: 'sqlite' | 'postgres';
  env: NodeJS.ProcessEnv;
  seeded: Seeded;
  /** COUNT(*) of certificates matching `where` (plain SQL, no index tricks): what each total must be. */
  count(where: string, params: unknown[]): Promise<number>;
  /** The certificate at `offset` of those matching `where`, newest first: where a cursor points. */
  at(where: string, params: unknown[], offset: number): Promise<{ createdAt: number; id: string }>;
  /** The store's server process, whose CPU counts too (none for SQLite: it runs inside certgate). */
  storePid?: number;
  close(): Promise<void>;
}

/** Root and issuing CA, admin key (init), and a second issuing CA with a product of its own. */
async function prepareCas(env: { dataDir: string; databaseUrl?: string }): Promise<Seeded> {
  const config = loadConfig({ env: {}, overrides: { ...env, masterKey: MASTER_KEY, logLevel: 'warn', httpPort: 0, httpsPort: 0 } });
  const rt = await openRuntime(config, { credentialKinds: credentialKindsOf(PROTOCOLS) });
  try {
    const { root, issuing, product: first, adminToken } = await initialize(rt);
    if (!root || !issuing || !first || !adminToken) throw new Error('the bench needs an empty store');
    const second = await createCa(rt.store, { name: 'certgate-issuing-2', subject: 'CN=certgate Issuing CA 2, O=certgate', keyAlgorithm: 'rsa-2048', validityDays: 3650, parentId: root.id }, rt.secrets, CLI_CONTEXT);
    const product = await createProduct(rt.store, { name: 'second', caId: second.id, template: parseProductTemplate({}) }, CLI_CONTEXT);
    return { adminToken, cas: [{ caId: issuing.id, productId: first.id }, { caId: second.id, productId: product.id }] };
  } finally {
    await rt.close();
  }
}

const progress = (label: string, count: number) => {
  const t0 = performance.now();
  let last = 0;
  return (done: number): void => {
    if (done - last < count / 10 && done < count) return;
    last = done;
    console.error(`${label}: ${done} of ${count} certificates, ${round((performance.now() - t0) / 1000, 1)} s`);
  };
};

async function sqliteTarget(count: number): Promise<Target> {
  const schema = readFileSync(join(import.meta.dirname, '../src/store/migrations.ts'));
  const key = createHash('sha256').update(schema).update(`${SEED_VERSION}:${count}`).digest('hex').slice(0, 12);
  const dataDir = join(tmpdir(), 'certgate-bench-cache', `inventory-${count}-${key}`);
  const seedFile = join(dataDir, 'seed.json');
  let seeded: Seeded;
  if (existsSync(seedFile)) {
    seeded = JSON.parse(readFileSync(seedFile, 'utf8')) as Seeded;
    emit({ scenario: 'rest', part: 'list', store: 'sqlite', seeded: 'reused', certs: count, data_dir_key: key });
  } else {
    // An inventory seeded for another schema or seed is of no more use: 2 GB each.
    const cache = dirname(dataDir);
    if (existsSync(cache)) for (const old of readdirSync(cache).filter((d) => d.startsWith(`inventory-${count}-`))) rmSync(join(cache, old), { recursive: true, force: true });
    mkdirSync(dataDir, { recursive: true });
    seeded = await prepareCas({ dataDir });
    const t0 = performance.now();
    const db = new BetterSqlite3(join(dataDir, 'certgate.db'));
    try {
      seedSqlite(db, seeded.cas, count, Date.now(), progress('sqlite seed', count));
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
    writeFileSync(seedFile, JSON.stringify(seeded));
    emit({ scenario: 'rest', part: 'list', store: 'sqlite', seeded: 'now', certs: count, seed_s: round((performance.now() - t0) / 1000, 1) });
  }
  const reader = new BetterSqlite3(join(dataDir, 'certgate.db'), { readonly: true });
  return {
    store: 'sqlite',
    env: { CERTGATE_DATA_DIR: dataDir, DATABASE_URL: '' },
    seeded,
    count: async (where, params) => Number((reader.prepare(`select count(*) as n from certificates where ${where}`).get(...params) as { n: number }).n),
    at: async (where, params, offset) => {
      const row = reader.prepare(`select created_at, id from certificates where ${where} order by created_at desc, id desc limit 1 offset ?`).get(...params, offset) as { created_at: number; id: string };
      return { createdAt: Number(row.created_at), id: row.id };
    },
    close: async () => void reader.close(),
  };
}

async function postgresTarget(count: number): Promise<Target | null> {
  const server = process.env.DATABASE_URL ? null : await startPostgres();
  const baseUrl = process.env.DATABASE_URL || server?.url;
  if (!baseUrl) return null;
  const databaseUrl = await createTestDatabase(baseUrl);
  const dataDir = join(tmpdir(), `certgate-bench-list-pg-${Date.now()}`);
  const seeded = await prepareCas({ dataDir, databaseUrl });
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  const t0 = performance.now();
  await seedPostgres(pool, seeded.cas, count, Date.now(), progress('postgres seed', count));
  emit({ scenario: 'rest', part: 'list', store: 'postgres', seeded: 'now', certs: count, seed_s: round((performance.now() - t0) / 1000, 1) });
  return {
    store: 'postgres',
    env: { CERTGATE_DATA_DIR: dataDir, DATABASE_URL: databaseUrl },
    seeded,
    count: async (where, params) => Number((await pool.query<{ n: string }>(`select count(*) as n from certificates where ${numbered(where)}`, params)).rows[0]?.n),
    at: async (where, params, offset) => {
      const text = `select created_at, id from certificates where ${numbered(where)} order by created_at desc, id desc limit 1 offset ${Number(offset)}`;
      const row = (await pool.query<{ created_at: string; id: string }>(text, params)).rows[0] as { created_at: string; id: string };
      return { createdAt: Number(row.created_at), id: row.id };
    },
    ...(postmasterPid(server?.dataDir) ? { storePid: postmasterPid(server?.dataDir) as number } : {}),
    close: async () => {
      await pool.end();
      await server?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The same ? placeholders as SQLite's, numbered for pg. */
function numbered(where: string): string {
  let n = 0;
  return where.replace(/\?/g, () => `$${++n}`);
}

/** PostgreSQL's server process (its backends are its children), from the data folder's postmaster.pid. */
function postmasterPid(dataDir: string | undefined): number | undefined {
  if (!dataDir) return undefined;
  const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * PostgreSQL's CPU so far: its processes' (cpuSeconds), and the children it has reaped (cutime,
 * cstime), so that the sum does not fall when an autovacuum or parallel worker exits.
 */
function storeCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return cpuSeconds(pid) + (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return cpuSeconds(pid);
  }
}

interface Query {
  name: string;
  /** The query string; `after=` paging by cursor, which only this checkout's certgate knows, sets `cursor`. */
  path: string;
  cursor?: boolean;
  /** The conditions the answer's total must match, in plain SQL (`?` placeholders), at `now`. */
  where: string;
  params: (now: number) => unknown[];
}

function queries(t: Target): Query[] {
  const [, second] = t.seeded.cas as [SeedCa, SeedCa];
  const live = 'deleted_at is null';
  const none = () => [];
  return [
    { name: 'page-1', path: '?pageSize=100', where: live, params: none },
    { name: 'deep-page', path: '?page=9000&pageSize=100', where: live, params: none },
    { name: 'search-host', path: '?search=api-17.payments&pageSize=100', where: `${live} and lower(common_name) like ?`, params: () => ['%api-17.payments%'] },
    { name: 'search-team', path: '?search=payments.prod&pageSize=100', where: `${live} and lower(common_name) like ?`, params: () => ['%payments.prod%'] },
    { name: 'status=active', path: '?status=active&pageSize=100', where: `${live} and revoked_at is null and valid_to > ?`, params: (now) => [now] },
    { name: 'status=revoked', path: '?status=revoked&pageSize=100', where: `${live} and revoked_at is not null`, params: none },
    { name: 'expiringInDays=30', path: '?expiringInDays=30&pageSize=100', where: `${live} and revoked_at is null and valid_to > ? and valid_to <= ?`, params: (now) => [now, now + 30 * DAY_MS] },
    { name: 'caId', path: `?caId=${second.caId}&pageSize=100`, where: `${live} and ca_id = ?`, params: () => [second.caId] },
    { name: 'caId-deep-page', path: `?caId=${second.caId}&page=2500&pageSize=100`, where: `${live} and ca_id = ?`, params: () => [second.caId] },
    { name: 'caId+status=active', path: `?caId=${second.caId}&status=active&pageSize=100`, where: `${live} and ca_id = ? and revoked_at is null and valid_to > ?`, params: (now) => [second.caId, now] },
    { name: 'owner', path: '?owner=team-payments&pageSize=100', where: `${live} and owner = ?`, params: () => ['team-payments'] },
    { name: 'sort=oldest', path: '?sort=oldest&pageSize=100', where: live, params: none, cursor: true },
  ];
}

/**
 * The deep pages again, by cursor: `after` the certificate just before the same page (as a walk
 * by nextCursor would reach it), and a search's page 100.
 */
async function cursorQueries(t: Target, only: string[] | undefined): Promise<Query[]> {
  const [, second] = t.seeded.cas as [SeedCa, SeedCa];
  const live = 'deleted_at is null';
  const after = async (where: string, params: unknown[], offset: number) => cursorOf({ order: 'newest', position: await t.at(where, params, offset) });
  const caWhere = `${live} and ca_id = ?`;
  const teamWhere = `${live} and lower(common_name) like ?`;
  const made: [string, () => Promise<Query>][] = [
    ['deep-page-cursor', async () => ({ name: 'deep-page-cursor', path: `?pageSize=100&after=${await after(live, [], 8999 * 100 - 1)}`, where: live, params: () => [], cursor: true })],
    ['caId-deep-page-cursor', async () => ({ name: 'caId-deep-page-cursor', path: `?caId=${second.caId}&pageSize=100&after=${await after(caWhere, [second.caId], 2499 * 100 - 1)}`, where: caWhere, params: () => [second.caId], cursor: true })],
    ['search-team-page-100-cursor', async () => ({ name: 'search-team-page-100-cursor', path: `?search=payments.prod&pageSize=100&after=${await after(teamWhere, ['%payments.prod%'], 99 * 100 - 1)}`, where: teamWhere, params: () => ['%payments.prod%'], cursor: true })],
  ];
  const chosen: Query[] = [];
  for (const [name, make] of made) if (!only || only.includes(name)) chosen.push(await make());
  return chosen;
}

async function timed(url: string, token: string): Promise<{ ms: number; status: number; body: string }> {
  const t0 = performance.now();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const body = await res.text();
  return { ms: performance.now() - t0, status: res.status, body };
}

/** A certgate serving the store: this checkout's, or the baseline's. */
interface Side {
  name: 'this' | 'baseline';
  checkout: string;
  child: ChildProcess;
  base: string;
}

async function startSide(name: Side['name'], checkout: string, t: Target): Promise<Side> {
  const port = await freePort();
  const env = { ...process.env, ...NO_RATE_LIMITS, ...t.env, CERTGATE_MASTER_KEY: MASTER_KEY, CERTGATE_HTTP_PORT: String(port), CERTGATE_HTTPS_PORT: '0', CERTGATE_LOG_LEVEL: 'warn', REDIS_URL: '' };
  const child = name === 'this' ? spawnCertgate(['serve', '--json'], env) : spawn(process.execPath, ['--import', 'tsx', join(checkout, 'main.ts'), 'serve', '--json'], { cwd: checkout, env, stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, child, 120_000);
  return { name, checkout, child, base: `http://127.0.0.1:${port}/v1` };
}

interface Measured {
  times: number[];
  cpu: number;
  storeCpu: number;
  last?: { body: string; before: number; after: number };
}

async function run(t: Target, requests: number, only: string[] | undefined, baseline: string | undefined): Promise<void> {
  const sides: Side[] = [];
  try {
    sides.push(await startSide('this', resolve(import.meta.dirname, '..'), t));
    if (baseline) sides.push(await startSide('baseline', resolve(baseline), t));
    const floor: Query = { name: 'baseline GET /v1/whoami', path: '', where: '', params: () => [] };
    const chosen = [floor, ...[...queries(t), ...(await cursorQueries(t, only))].filter((q) => !only || only.includes(q.name))];
    const url = (side: Side, q: Query) => (q === floor ? `${side.base}/whoami` : `${side.base}/certificates${q.path}`);
    const pairs = chosen.flatMap((q) => sides.filter((side) => side.name === 'this' || !q.cursor).map((side) => ({ q, side })));
    const measured = new Map(pairs.map((p) => [p, { times: [], cpu: 0, storeCpu: 0 } as Measured]));
    // Round-robin over the queries and both sides, so that whatever else the machine does at a
    // moment falls on all of them alike; the first rounds warm up. One request at a time: the CPU
    // either process spends between its start and its answer is that request's.
    for (let round = -10; round < requests; round++) {
      for (const p of pairs) {
        const before = Date.now();
        const cpu0 = cpuSeconds(p.side.child.pid as number);
        const store0 = t.storePid ? storeCpuSeconds(t.storePid) : 0;
        const r = await timed(url(p.side, p.q), t.seeded.adminToken);
        const cpu1 = cpuSeconds(p.side.child.pid as number);
        const store1 = t.storePid ? storeCpuSeconds(t.storePid) : 0;
        if (r.status !== 200) throw new Error(`GET ${url(p.side, p.q)} (${p.side.name}) answered ${r.status}: ${r.body.slice(0, 300)}`);
        if (round < 0) continue;
        const m = measured.get(p) as Measured;
        m.times.push(r.ms);
        m.cpu += cpu1 - cpu0;
        m.storeCpu += store1 - store0;
        m.last = { body: r.body, before, after: Date.now() };
      }
    }
    const stats = (m: Measured) => {
      const sorted = [...m.times].sort((x, y) => x - y);
      return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), busy: sorted.reduce((n, x) => n + x, 0) / 1000 };
    };
    for (const p of pairs) {
      const m = measured.get(p) as Measured;
      const st = stats(m);
      const cpu = {
        cpu_ms_per_req: round((m.cpu * 1000) / requests),
        ...(t.storePid ? { store_cpu_ms_per_req: round((m.storeCpu * 1000) / requests) } : {}),
      };
      const head = { scenario: 'rest', part: 'list', store: t.store, side: p.side.name, ...(p.side.name === 'baseline' ? { checkout: p.side.checkout } : {}), query: p.q.name };
      if (p.q === floor) {
        emit({ ...head, ...machine(), requests, per_s: round(requests / st.busy, 1), p50_ms: round(st.p50), p99_ms: round(st.p99), ...cpu });
        continue;
      }
      const { body, before, after } = m.last as NonNullable<Measured['last']>;
      const answer = JSON.parse(body) as { total: number; totalExact?: boolean; certificates: unknown[] };
      // The server counted at a moment between these two: certificates expire as time passes.
      const [atBefore, atAfter] = [await t.count(p.q.where, p.q.params(before)), await t.count(p.q.where, p.q.params(after))];
      const exact = answer.totalExact !== false;
      emit({
        ...head,
        path: `GET /v1/certificates${p.q.path.replace(/caId=[^&]+/, 'caId=<second CA>').replace(/after=[^&]+/, 'after=<cursor>')}`,
        requests,
        // One request at a time: the rate is the inverse of the mean latency.
        per_s: round(requests / st.busy, 1),
        p50_ms: round(st.p50),
        p99_ms: round(st.p99),
        ...cpu,
        target_p99_ms: TARGET_P99_MS,
        meets_target: st.p99 < TARGET_P99_MS,
        total: answer.total,
        total_exact: exact,
        ...(exact
          ? { total_ok: answer.total >= Math.min(atBefore, atAfter) && answer.total <= Math.max(atBefore, atAfter) }
          : { counted: atAfter, estimate_off_pct: round((100 * (answer.total - atAfter)) / Math.max(1, atAfter), 1) }),
        rows: answer.certificates.length,
      });
    }
  } finally {
    for (const side of sides) await stopChild(side.child);
  }
}

export async function benchRestList(args: string[]): Promise<void> {
  const count = argValue(args, 'certs', 1_000_000);
  const requests = argValue(args, 'requests', 200);
  for (const store of argList(args, 'db', ['sqlite', 'postgres'])) {
    const target = store === 'sqlite' ? await sqliteTarget(count) : await postgresTarget(count);
    if (!target) {
      emit({ scenario: 'rest', part: 'list', store, skipped: 'no PostgreSQL: set DATABASE_URL, or install initdb and pg_ctl (apt-get install postgresql)' });
      continue;
    }
    try {
      const baseline = args.includes('--baseline') ? argList(args, 'baseline', [])[0] : undefined;
      await run(target, requests, args.includes('--queries') ? argList(args, 'queries', []) : undefined, baseline);
    } finally {
      await target.close();
    }
  }
}
