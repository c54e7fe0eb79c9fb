// A scaled-out certgate on its own PostgreSQL cluster and redis-server, as separate processes (an API
// process, `serve --no-worker`, and a worker, `certgate worker`), under client load, through faults:
// PostgreSQL stopped (fast or immediate) and started again, Redis SIGKILLed (no persistence) and
// started again on its port, the worker SIGKILLed and a new one started, the API process SIGKILLed
// and a new one started on its port. Used by test/faults.test.ts (small load) and
// `npm run bench -- faults` (large load); each scenario's result is measured from the store.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { buildCsr } from '../../src/pki/csrBuilder.js';
import { freePort } from '../helpers/net.js';
import { createTestDatabase, startPostgres, type PostgresServer } from './postgres.js';
import { startRedis, type RunningRedis } from './redis.js';

const root = join(import.meta.dirname, '..', '..');
const entry = ['--import', 'tsx', join(root, 'main.ts')];

export type FaultName = 'postgres-fast' | 'postgres-immediate' | 'redis-kill' | 'worker-kill' | 'api-kill';
export const FAULTS: readonly FaultName[] = ['postgres-fast', 'postgres-immediate', 'redis-kill', 'worker-kill', 'api-kill'];

/** A certgate child process. */
export class Proc {
  private stderr = '';
  readonly exited: Promise<number | null>;
  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-8000);
    });
  }

  /** Spawns `certgate <args>` and resolves once it prints a JSON line that satisfies `ready`. */
  static async start(name: string, args: string[], env: Record<string, string>, ready: (line: Record<string, unknown>) => boolean): Promise<Proc> {
    const child = spawn(process.execPath, [...entry, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = new Proc(name, child);
    let buffer = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start within 60 s: ${proc.stderr}`)), 60_000);
      child.stdout?.on('data', (d: Buffer) => {
        buffer += d.toString();
        for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
          const text = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          try {
            if (ready(JSON.parse(text) as Record<string, unknown>)) {
              clearTimeout(timer);
              resolve();
            }
          } catch {
            // not a JSON line
          }
        }
      });
      void proc.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited ${code} while starting: ${proc.stderr}`));
      });
    });
    return proc;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get log(): string {
    return this.stderr;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.alive) this.child.kill(signal);
    await this.exited;
  }

  /** SIGTERM, then SIGKILL if it has not stopped within 15 s. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export interface Gateway {
  pg: PostgresServer;
  redis: RunningRedis;
  db: pg.Pool;
  url: string;
  adminKey: string;
  caId: string;
  api: Proc;
  worker: Proc;
  startApi(): Promise<Proc>;
  startWorker(): Promise<Proc>;
  /** Status of /readyz, or 0 when the API process does not answer. */
  readyz(): Promise<number>;
  close(): Promise<void>;
}

/** Settings of the gateway's processes, on top of what the rig sets (e.g. CERTGATE_ISSUE_WAIT_MS). */
export async function startGateway(settings: Record<string, string> = {}): Promise<Gateway | null> {
  // fsync off is fine (the operating system keeps what a killed server wrote); lost commits are not.
  const postgres = await startPostgres({ durableCommits: true });
  if (!postgres) return null;
  const redis = await startRedis().catch(async (e: unknown) => {
    await postgres.stop();
    throw e;
  });
  if (!redis) {
    await postgres.stop();
    return null;
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'certgate-faults-'));
  const port = await freePort();
  const databaseUrl = await createTestDatabase(postgres.url);
  const env: Record<string, string> = {
    CERTGATE_DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    REDIS_URL: redis.url,
    CERTGATE_MASTER_KEY: `faults-master-key-${randomUUID()}`,
    CERTGATE_HTTP_PORT: String(port),
    CERTGATE_HTTPS_PORT: '0',
    CERTGATE_QUEUE_PREFIX: `faults-${randomUUID()}`,
    CERTGATE_LOG_LEVEL: 'warn',
    CERTGATE_CRYPTO_THREADS: '1',
    ...settings,
  };
  const init = spawnSync(process.execPath, [...entry, 'init', '--json'], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env, CERTGATE_LOG_LEVEL: 'silent' } });
  if (init.status !== 0) throw new Error(`certgate init failed: ${init.stderr}`);
  const created = JSON.parse(init.stdout) as { admin_api_key: string; issuing_ca_id: string };
  const url = `http://127.0.0.1:${port}`;
  const startApi = () => Proc.start('api', ['serve', '--no-worker', '--json'], env, (l) => typeof l.url === 'string');
  const startWorker = () => Proc.start('worker', ['worker', '--json'], env, (l) => l.worker === true);
  const gateway: Gateway = {
    pg: postgres,
    redis,
    db: new pg.Pool({ connectionString: databaseUrl, max: 2 }),
    url,
    adminKey: created.admin_api_key,
    caId: created.issuing_ca_id,
    api: await startApi(),
    worker: await startWorker(),
    startApi,
    startWorker,
    async readyz() {
      try {
        return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) })).status;
      } catch {
        return 0;
      }
    },
    async close() {
      await Promise.all([gateway.api.stop(), gateway.worker.stop()]);
      gateway.db.on('error', () => undefined);
      await gateway.db.end().catch(() => undefined);
      await Promise.all([gateway.redis.stop(), postgres.stop()]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  gateway.db.on('error', () => undefined); // the test stops PostgreSQL under it
  return gateway;
}

/** n P-256 CSRs, each for its own key and host name. */
export function makeCsrs(n: number, tag: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    out.push(buildCsr(privateKey, `CN=h${i}.${tag}.faults.test`, { dns: [`h${i}.${tag}.faults.test`] }));
  }
  return out;
}

/** One client request, retried with its Idempotency-Key until it is answered 201. */
export interface Sent {
  key: string;
  /** Answered 201 or 202 at least once: the gateway took it. */
  accepted: boolean;
  /** The certificate id of every 201 (one, unless the rig asks again). */
  certificateIds: string[];
  requestId?: string;
  /** When it was first sent, and when the 201 came (ms since the epoch). */
  sentAt: number;
  issuedAt?: number;
}

export interface LoadResult {
  sent: Sent[];
  /** Count per answer: HTTP status, or 'conn' for a refused/reset connection, 'timeout'. */
  codes: Record<string, number>;
  /** Answers per status while `duringFault()` held. */
  faultCodes: Record<string, number>;
}

export interface LoadOptions {
  url: string;
  token: string;
  caId: string;
  csrs: string[];
  clients: number;
  /** Requests to send at least; more (up to csrs.length) while `keepSending()` holds. */
  minRequests: number;
  keepSending: () => boolean;
  duringFault: () => boolean;
  /** Nobody waits past this (ms since the epoch): unanswered requests stay without a 201. */
  deadline: number;
  keyPrefix: string;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const result: LoadResult = { sent: [], codes: {}, faultCodes: {} };
  const count = (code: string): void => {
    result.codes[code] = (result.codes[code] ?? 0) + 1;
    if (o.duringFault()) result.faultCodes[code] = (result.faultCodes[code] ?? 0) + 1;
  };
  let next = 0;
  const client = async (): Promise<void> => {
    for (;;) {
      if (next >= o.csrs.length || (next >= o.minRequests && !o.keepSending()) || Date.now() > o.deadline) return;
      const i = next++;
      const sent: Sent = { key: `${o.keyPrefix}-${i}`, accepted: false, certificateIds: [], sentAt: Date.now() };
      result.sent.push(sent);
      while (Date.now() < o.deadline) {
        const answer = await post(o, o.csrs[i] as string, sent.key);
        count(String(answer.status));
        if (answer.status === 201) {
          sent.accepted = true;
          const certificate = answer.body.certificate as { id: string; request_id: string };
          sent.certificateIds.push(certificate.id);
          sent.requestId = certificate.request_id;
          sent.issuedAt = Date.now();
          break;
        }
        // 409: the first try with this key is still being worked on (the client timed out or the
        // store failed under it); like a 202, it was accepted and is asked again.
        if (answer.status === 202 || answer.status === 409) sent.accepted = true;
        else if (typeof answer.status === 'number' && answer.status >= 400 && answer.status < 500) break;
        await pause(answer.status === 202 ? 200 : 250);
      }
    }
  };
  await Promise.all(Array.from({ length: o.clients }, client));
  return result;
}

async function post(o: LoadOptions, csrPem: string, key: string): Promise<{ status: number | 'conn' | 'timeout'; body: Record<string, unknown> }> {
  try {
    const res = await fetch(`${o.url}/v1/certificates`, {
      method: 'POST',
      headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ caId: o.caId, csrPem }),
      signal: AbortSignal.timeout(Math.max(1_000, o.deadline - Date.now())),
    });
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    return { status: res.status, body };
  } catch (e) {
    return { status: (e as Error).name === 'TimeoutError' ? 'timeout' : 'conn', body: {} };
  }
}

/** Asks again for every request answered 201, with its Idempotency-Key; the certificate must be the same. */
export async function askAgain(o: Pick<LoadOptions, 'url' | 'token' | 'caId'>, csrs: string[], sent: Sent[], clients: number): Promise<void> {
  const issued = sent.filter((s) => s.issuedAt !== undefined);
  let next = 0;
  const client = async (): Promise<void> => {
    while (next < issued.length) {
      const s = issued[next++] as Sent;
      const index = Number(s.key.slice(s.key.lastIndexOf('-') + 1));
      const answer = await post({ ...o, deadline: Date.now() + 30_000 } as LoadOptions, csrs[index] as string, s.key);
      if (answer.status === 201) s.certificateIds.push((answer.body.certificate as { id: string }).id);
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
}

export interface StoreView {
  /** Requests of this scenario by status. */
  byStatus: Record<string, number>;
  /** Request ids with more than one certificate. */
  twiceIssued: number;
  /** Idempotency keys with more than one request, or more than one certificate. */
  keysTwice: number;
  /** Keys the clients sent that the store has no request for, though they were accepted. */
  missing: number;
}

export async function storeView(db: pg.Pool, keyPrefix: string, accepted: string[]): Promise<StoreView> {
  const like = `${keyPrefix}-%`;
  const statuses = await db.query<{ status: string; n: string }>('SELECT status, count(*) AS n FROM enrollment_requests WHERE idempotency_key LIKE $1 GROUP BY status', [like]);
  const twice = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM (SELECT c.request_id FROM certificates c JOIN enrollment_requests r ON r.id = c.request_id WHERE r.idempotency_key LIKE $1 GROUP BY c.request_id HAVING count(*) > 1) t',
    [like],
  );
  const keys = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM (SELECT r.idempotency_key FROM enrollment_requests r LEFT JOIN certificates c ON c.request_id = r.id
       WHERE r.idempotency_key LIKE $1 GROUP BY r.idempotency_key HAVING count(DISTINCT r.id) > 1 OR count(c.id) > 1) t`,
    [like],
  );
  const present = await db.query<{ idempotency_key: string }>('SELECT idempotency_key FROM enrollment_requests WHERE idempotency_key = ANY($1)', [accepted]);
  const found = new Set(present.rows.map((r) => r.idempotency_key));
  return {
    byStatus: Object.fromEntries(statuses.rows.map((r) => [r.status, Number(r.n)])),
    twiceIssued: Number(twice.rows[0]?.n ?? 0),
    keysTwice: Number(keys.rows[0]?.n ?? 0),
    missing: accepted.filter((k) => !found.has(k)).length,
  };
}

export interface ScenarioOptions {
  /** Requests sent at least (more while the fault lasts, up to twice this). */
  requests: number;
  clients: number;
  /** The whole scenario must be over by then (ms from its start). */
  budgetMs: number;
}

export interface ScenarioResult {
  fault: FaultName;
  sent: number;
  accepted: number;
  issued: number;
  /** Accepted, yet not issued in the store at the end. */
  lost: number;
  /** Requests with a second certificate, keys with a second request or certificate, keys answered with another certificate. */
  duplicated: number;
  /** The parts of `duplicated`. */
  duplicates: { requestsTwice: number; keysTwice: number; answeredOther: number };
  /** Left queued or signing at the end. */
  stuck: number;
  byStatus: Record<string, number>;
  codes: Record<string, number>;
  faultCodes: Record<string, number>;
  /** Seconds from the fault to /readyz answering 200 again. */
  readySeconds: number;
  /** Seconds from the fault to the last 201 of a request sent before it was repaired. */
  strandedSeconds: number;
  /** Processes that should be alive (not the killed one, whose replacement is checked) and are not. */
  deadProcesses: string[];
  /** Whether /readyz reported the outage (dependency faults only). */
  readyzSawOutage: boolean;
}

/**
 * Runs the load, injects `fault` once a third of the requests are answered, repairs it, lets the
 * load finish and the gateway settle, and measures from the store.
 */
export async function runScenario(g: Gateway, fault: FaultName, csrs: string[], o: ScenarioOptions): Promise<ScenarioResult> {
  const start = Date.now();
  const deadline = start + o.budgetMs;
  const keyPrefix = `${fault}-${randomUUID().slice(0, 8)}`;
  let phase: 'before' | 'fault' | 'after' = 'before';
  let faultAt = 0;
  let repairedAt = 0;
  const survivors = fault === 'api-kill' ? [g.worker] : fault === 'worker-kill' ? [g.api] : [g.api, g.worker];
  const load = runLoad({
    url: g.url,
    token: g.adminKey,
    caId: g.caId,
    csrs: csrs.slice(0, o.requests * 2),
    clients: o.clients,
    minRequests: o.requests,
    keepSending: () => phase !== 'after',
    duringFault: () => phase === 'fault',
    deadline,
    keyPrefix,
  });
  // Inject once a third of the requests have been answered 201 (checked in the store).
  const third = Math.max(1, Math.floor(o.requests / 3));
  for (;;) {
    const r = await g.db.query<{ n: string }>("SELECT count(*) AS n FROM enrollment_requests WHERE idempotency_key LIKE $1 AND status = 'issued'", [`${keyPrefix}-%`]);
    if (Number(r.rows[0]?.n) >= third || Date.now() > deadline) break;
    await pause(100);
  }
  faultAt = Date.now();
  phase = 'fault';
  let readyzSawOutage = false;
  const waitForOutage = async (): Promise<void> => {
    // The outage lasts until /readyz has said so (bounded), and a little longer.
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      if ((await g.readyz()) === 503) {
        readyzSawOutage = true;
        break;
      }
      await pause(100);
    }
    await pause(1_000);
  };
  switch (fault) {
    case 'postgres-fast':
    case 'postgres-immediate':
      await g.pg.halt(fault === 'postgres-fast' ? 'fast' : 'immediate');
      await waitForOutage();
      await g.pg.resume();
      break;
    case 'redis-kill': {
      const port = g.redis.port;
      await g.redis.kill();
      await waitForOutage();
      const again = await startRedis({ port });
      if (!again) throw new Error('redis-server vanished');
      g.redis = again;
      break;
    }
    case 'worker-kill':
      await g.worker.kill('SIGKILL');
      await pause(1_000);
      g.worker = await g.startWorker();
      break;
    case 'api-kill':
      await g.api.kill('SIGKILL');
      await pause(1_000);
      g.api = await g.startApi();
      break;
  }
  repairedAt = Date.now();
  let readyAt = 0;
  while (Date.now() < deadline) {
    if ((await g.readyz()) === 200) {
      readyAt = Date.now();
      break;
    }
    await pause(100);
  }
  phase = 'after';
  const { sent, codes, faultCodes } = await load;
  await askAgain({ url: g.url, token: g.adminKey, caId: g.caId }, csrs, sent, o.clients);
  const accepted = sent.filter((s) => s.accepted || s.issuedAt !== undefined);
  const view = await storeView(g.db, keyPrefix, accepted.map((s) => s.key));
  const issuedKeys = await g.db.query<{ idempotency_key: string }>("SELECT idempotency_key FROM enrollment_requests WHERE idempotency_key LIKE $1 AND status = 'issued'", [`${keyPrefix}-%`]);
  const issued = new Set(issuedKeys.rows.map((r) => r.idempotency_key));
  const answeredOther = sent.filter((s) => new Set(s.certificateIds).size > 1).length;
  const stranded = sent.filter((s) => s.sentAt < repairedAt && s.issuedAt !== undefined && s.issuedAt >= faultAt).map((s) => s.issuedAt as number);
  return {
    fault,
    sent: sent.length,
    accepted: accepted.length,
    issued: issued.size,
    lost: accepted.filter((s) => !issued.has(s.key)).length,
    duplicated: view.twiceIssued + view.keysTwice + answeredOther,
    duplicates: { requestsTwice: view.twiceIssued, keysTwice: view.keysTwice, answeredOther },
    stuck: (view.byStatus.queued ?? 0) + (view.byStatus.signing ?? 0),
    byStatus: view.byStatus,
    codes,
    faultCodes,
    readySeconds: readyAt ? (readyAt - faultAt) / 1000 : NaN,
    strandedSeconds: stranded.length ? (Math.max(...stranded) - faultAt) / 1000 : 0,
    deadProcesses: [...survivors, g.api, g.worker].filter((p) => !p.alive).map((p) => `${p.name} ${p.pid}: ${p.log.slice(-1000)}`),
    readyzSawOutage,
  };
}

/** 5xx answers other than 503, by code. */
export function otherServerErrors(codes: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(codes).filter(([code]) => /^5\d\d$/.test(code) && code !== '503'));
}
