// Issue 21, item 7, as deployed: the real CLI on the harness's PostgreSQL and Redis (`certgate init`,
// `certgate serve --no-worker`, two `certgate worker` processes, each in a process group of its
// own). A subscriber whose endpoint is down for a while gets every event once it is back, each
// signature verified with the standardwebhooks library; both workers scan for expiring
// certificates every second, yet each certificate is told once for its threshold; a worker killed
// hard while deliveries wait (one of them in its hands) loses none of them: the other one
// delivers them all.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from './harness/postgres.js';
import { deploymentMissing, TEST_MASTER_KEY } from './helpers/gateway.js';
import { httpRequest, restCall } from './helpers/http.js';
import { freePort } from './helpers/net.js';
import { tempDir } from './helpers/openssl.js';
import { processesIn, socketOwner } from './helpers/processes.js';
import { until } from './helpers/until.js';
import { startWebhookReceiver, type ReceivedDelivery, type WebhookReceiver } from './helpers/webhookReceiver.js';

const redisUrl = inject('redisUrl');
const postgresUrl = inject('postgresUrl');
const root = join(import.meta.dirname, '..');

/** A certgate process the test started, in its own process group (its pid is the group's id). */
interface Started {
  name: string;
  child: ChildProcess;
  output: string;
}

/** The default thresholds (30, 14, 7, 1 days): the nearest one a certificate of this validity has crossed at issuance. */
const thresholdFor = (validityDays: number): number | undefined => [1, 7, 14, 30].find((d) => validityDays < d);

const certOf = (d: ReceivedDelivery): string => (d.payload.data.certificate as { id: string }).id;

describe.skipIf(deploymentMissing({ backend: 'postgres', queue: 'bullmq' }))('webhooks from two `certgate worker` processes (serve --no-worker, PostgreSQL, Redis)', () => {
  const dir = tempDir('certgate-webhook-procs-');
  const started: Started[] = [];
  let env: Record<string, string>;
  let base: string;
  let init: { admin_api_key: string; issuing_ca_id: string };

  /** Starts a certgate command as an operator would, detached into a group of its own. */
  function startCertgate(name: string, args: string[]): Started {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'main.ts'), ...args], { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const s: Started = { name, child, output: '' };
    child.stdout?.on('data', (d: Buffer) => (s.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (s.output += d.toString()));
    started.push(s);
    return s;
  }

  const running = (s: Started): boolean => s.child.exitCode === null && s.child.signalCode === null;
  const exited = (s: Started): Promise<void> => (running(s) ? new Promise((resolve) => s.child.once('exit', () => resolve())) : Promise.resolve());
  /** What the processes printed, for a failure's message. */
  const outputs = (): string => started.map((s) => `--- ${s.name}\n${s.output.slice(-3000)}`).join('\n');

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // A developer's own certgate settings must not reach the processes under test.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !/^(CERTGATE_|DATABASE_URL$|REDIS_URL$)/.test(k))) as Record<string, string>;
    env = {
      ...inherited,
      DATABASE_URL: await createTestDatabase(postgresUrl as string),
      REDIS_URL: redisUrl as string,
      CERTGATE_QUEUE_PREFIX: `test-${randomUUID()}`,
      CERTGATE_MASTER_KEY: TEST_MASTER_KEY,
      CERTGATE_DATA_DIR: join(dir, 'data'),
      CERTGATE_HOST: '127.0.0.1',
      CERTGATE_HTTP_PORT: String(port),
      CERTGATE_HTTPS_PORT: '0',
      CERTGATE_LOG_LEVEL: 'silent',
      // The receiver listens on loopback.
      CERTGATE_WEBHOOK_ALLOW_PRIVATE: 'true',
      // Retries close together, and enough of them to outlast the receiver's downtime.
      CERTGATE_WEBHOOK_BACKOFF_MS: '100',
      CERTGATE_WEBHOOK_ATTEMPTS: '20',
      CERTGATE_WEBHOOK_POLL_MS: '100',
      CERTGATE_WEBHOOK_TIMEOUT_MS: '2000',
      // Both workers scan every second, so they race for the same certificates again and again.
      CERTGATE_EXPIRY_SCAN_INTERVAL_SECONDS: '1',
      // A dead worker's running jobs are handed to the other one within seconds.
      CERTGATE_QUEUE_LOCK_MS: '3000',
      CERTGATE_QUEUE_STALLED_CHECK_MS: '1000',
    };
    const made = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'main.ts'), 'init', '--json'], { cwd: root, encoding: 'utf8', env });
    expect(made.status, made.stderr).toBe(0);
    init = JSON.parse(made.stdout) as typeof init;

    const api = startCertgate('api', ['serve', '--no-worker', '--json']);
    const workers = [startCertgate('worker-1', ['worker', '--json']), startCertgate('worker-2', ['worker', '--json'])];
    await until(async () => {
      if (!running(api)) throw new Error(`serve exited ${api.child.exitCode}\n${outputs()}`);
      return (await httpRequest(`${base}/readyz`, { headers: { connection: 'close' } }).catch(() => ({ status: 0 }))).status === 200;
    }, 60_000, 'the API answers /readyz');
    // A worker prints its JSON start line once its queues are worked.
    await until(() => {
      for (const w of workers) if (!running(w)) throw new Error(`${w.name} exited ${w.child.exitCode}\n${outputs()}`);
      return workers.every((w) => w.output.includes('{'));
    }, 60_000, 'both workers started');
  }, 120_000);

  afterAll(() => {
    // Only if the test failed before its own stop: the groups it started, and nothing else.
    for (const s of started) {
      if (!running(s) || s.child.pid === undefined) continue;
      try {
        process.kill(-s.child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });

  it('delivers every event once the receiver is back, tells each certificate once per threshold, and loses nothing when a worker is killed', async () => {
    // Which worker sent each request: the process (of a worker's group) holding its connection.
    const sender = (remotePort: number, localPort: number): string | undefined =>
      started.filter((s) => s.name.startsWith('worker')).find((s) => socketOwner(remotePort, localPort, processesIn([s.child.pid as number]).map((p) => p.pid)) !== undefined)?.name;
    const receiver: WebhookReceiver = await startWebhookReceiver('/hook', sender);
    try {
      // Down from the start: every delivery is refused until the receiver comes back.
      receiver.answer(503);
      const created = await restCall(base, init.admin_api_key, 'POST', '/v1/webhooks', { url: receiver.url, events: ['certificate.issued', 'certificate.expiring'] });
      expect(created.status, JSON.stringify(created.json)).toBe(201);
      receiver.setSecret(created.json.secret as string);

      /** Certificate id → the threshold it must be told (none when it is far from expiry). */
      const expected = new Map<string, number | undefined>();
      const issue = async (validityDays: number) => {
        const res = await restCall(base, init.admin_api_key, 'POST', '/v1/certificates', {
          caId: init.issuing_ca_id,
          commonName: `hook-${randomUUID().slice(0, 8)}.procs.test`,
          keyAlgorithm: 'ECDSA-P256',
          validityDays,
        });
        expect(res.status, `${JSON.stringify(res.json)}\n${outputs()}`).toBe(201);
        const id = (res.json.certificate as { id: string }).id;
        expected.set(id, thresholdFor(validityDays));
        return id;
      };

      // Within 14, 30 and 7 days of expiry at once, and one far from it.
      const first: string[] = [];
      for (const days of [10, 20, 5, 60]) first.push(await issue(days));
      const refusedOnce = (id: string, type: string) => receiver.received.some((d) => d.answered >= 300 && d.payload.type === type && certOf(d) === id);
      const senders = () => new Set(receiver.received.map((d) => d.from));
      await until(
        () => first.every((id) => refusedOnce(id, 'certificate.issued') && (expected.get(id) === undefined || refusedOnce(id, 'certificate.expiring'))) && senders().has('worker-1') && senders().has('worker-2'),
        30_000,
        'every event of the first certificates was tried and refused, by both workers',
      );

      // Deliveries are waiting for their retry, and one is in worker-1's hands (the receiver is
      // slow to answer it): worker-1 dies without a chance to clean up.
      expect(receiver.accepted()).toEqual([]);
      receiver.answer(503, 1500);
      await until(() => receiver.inFlight().some((d) => d.from === 'worker-1'), 30_000, 'a delivery in flight from worker-1');
      const [, worker1] = started;
      const heldByTheDead = receiver.inFlight().filter((d) => d.from === 'worker-1').map((d) => d.id);
      process.kill(-(worker1?.child.pid as number), 'SIGKILL');
      await exited(worker1 as Started);
      const afterKill = receiver.received.length;
      for (const days of [10, 20, 40]) await issue(days);
      receiver.answer(200);

      const acceptedOf = (type: string) => receiver.accepted().filter((d) => d.payload.type === type);
      const allDelivered = () => {
        const issued = new Set(acceptedOf('certificate.issued').map(certOf));
        const expiring = new Set(acceptedOf('certificate.expiring').map(certOf));
        return [...expected].every(([id, threshold]) => issued.has(id) && (threshold === undefined || expiring.has(id)));
      };
      await until(allDelivered, 60_000, `every event delivered by the remaining worker\n${outputs()}`);

      // One more certificate near expiry, told after all the others: the scans that found it
      // (every second, in the worker left) found the others again, and told them nothing twice.
      const late = await issue(3);
      await until(() => acceptedOf('certificate.expiring').some((d) => certOf(d) === late), 30_000, 'the late certificate told');
      await until(() => acceptedOf('certificate.issued').some((d) => certOf(d) === late), 30_000, 'the late certificate\'s issuance delivered');

      // What the dead worker had in its hands was taken over, and what came after sent, by the other.
      expect(heldByTheDead.length).toBeGreaterThan(0);
      for (const id of heldByTheDead) expect(receiver.accepted().filter((d) => d.id === id).map((d) => d.from)).toEqual(['worker-2']);
      expect(new Set(receiver.received.slice(afterKill).map((d) => d.from))).toEqual(new Set(['worker-2']));
      // Every delivery, refused or not, carries a signature the library verifies.
      expect(receiver.received.length).toBeGreaterThan(receiver.accepted().length);
      for (const d of receiver.received) expect(d.verified, `signature of ${d.id}`).toBe(true);
      // Each event acknowledged once: retries repeat an id only after a refusal.
      const acknowledged = receiver.accepted().map((d) => d.id);
      expect(new Set(acknowledged).size, acknowledged.join(' ')).toBe(acknowledged.length);
      // A retry is the same event: the same id, the same body.
      for (const d of receiver.received) expect(receiver.received.filter((r) => r.id === d.id).every((r) => r.body === d.body)).toBe(true);

      // Each certificate issued once; each told once, for the threshold it crossed; none of the far ones told.
      const issued = acceptedOf('certificate.issued').map(certOf).filter((id) => expected.has(id));
      expect(issued.sort()).toEqual([...expected.keys()].sort());
      const told = acceptedOf('certificate.expiring').map((d) => `${certOf(d)}:${String(d.payload.data.thresholdDays)}`);
      const owed = [...expected].filter(([, t]) => t !== undefined).map(([id, t]) => `${id}:${String(t)}`);
      expect(told.sort()).toEqual(owed.sort());

      // Stopped as an operator stops them: each process group, gracefully; nothing of them is left.
      const groups = started.map((s) => s.child.pid as number);
      const rest = started.filter(running);
      expect(rest.map((s) => s.name)).toEqual(['api', 'worker-2']);
      for (const s of rest) process.kill(-(s.child.pid as number), 'SIGTERM');
      await Promise.all(rest.map(exited));
      await until(() => processesIn(groups).length === 0, 20_000, 'no process of the deployment is left');
      for (const s of rest) expect(s.child.exitCode, `${s.name}\n${s.output}`).toBe(0);
    } finally {
      await receiver.stop();
    }
  }, 120_000);
});
