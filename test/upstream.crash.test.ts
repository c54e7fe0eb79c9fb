// A worker process killed between placing the upstream order and finalizing it (PostgreSQL,
// BullMQ, workers as separate processes): the next worker resumes the recorded order, so Pebble
// sees one order and the request gets one certificate, which verifies against Pebble's root.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPebble, type RunningPebble } from './harness/pebble.js';
import { startDnsServer, type StubDnsServer } from './helpers/dnsServer.js';
import { deploymentMissing, startGateway, TEST_MASTER_KEY, type Gateway } from './helpers/gateway.js';
import { restCall } from './helpers/http.js';
import { makeCsr, openssl, tempDir } from './helpers/openssl.js';
import { until } from './helpers/until.js';
import { upstreamCaWithProduct } from './helpers/upstreamCa.js';
import type { ProductRecord } from '../src/core/types.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dieAfterOrder = fileURLToPath(new URL('./fixtures/dieAfterUpstreamOrder.ts', import.meta.url));
const SUFFIX = 'upstream.test';
const LEASE_MS = 2_000;

describe.skipIf(deploymentMissing({ backend: 'postgres', queue: 'bullmq' }))('an upstream order survives its worker dying (PostgreSQL, BullMQ)', () => {
  const dir = tempDir('certgate-upstream-crash-');
  let dns: StubDnsServer;
  let gw: Gateway;
  let pebble: RunningPebble | null;
  let product: ProductRecord;
  let token: string;
  const workers: ChildProcess[] = [];

  /** `certgate worker` as a process of its own on the gateway's database and queue; `dies` loads the fixture. */
  const startWorker = (dies: boolean): ChildProcess => {
    const c = gw.config;
    const child = spawn(process.execPath, ['--import', 'tsx', ...(dies ? ['--import', dieAfterOrder] : []), join(root, 'main.ts'), 'worker'], {
      cwd: root,
      stdio: 'ignore',
      env: {
        ...process.env,
        CERTGATE_DATA_DIR: c.dataDir,
        CERTGATE_MASTER_KEY: TEST_MASTER_KEY,
        DATABASE_URL: c.databaseUrl as string,
        REDIS_URL: c.redisUrl as string,
        CERTGATE_QUEUE_PREFIX: c.queuePrefix,
        CERTGATE_LOG_LEVEL: 'silent',
        CERTGATE_SIGNING_LEASE_MS: String(LEASE_MS),
        CERTGATE_QUEUE_LOCK_MS: String(LEASE_MS),
        CERTGATE_QUEUE_STALLED_CHECK_MS: '1000',
        CERTGATE_QUEUE_BACKOFF_MS: '50',
        CERTGATE_DNS_SERVER: dns.address,
      },
    });
    workers.push(child);
    return child;
  };

  beforeAll(async () => {
    dns = await startDnsServer();
    gw = await startGateway({ backend: 'postgres', queue: 'bullmq', worker: 'none', dirPrefix: 'certgate-upstream-crash-gw-', overrides: { signingLeaseMs: LEASE_MS, queueLockMs: LEASE_MS, queueStalledCheckMs: 1000, issueWaitMs: 500 } });
    pebble = await startPebble({ dnsServer: dns.address, httpPort: Number(new URL(gw.baseUrl).port) });
    if (!pebble) return;
    ({ product, token } = await upstreamCaWithProduct(gw, { name: 'pebble', directory: pebble.directoryUrl, challenge: { type: 'http-01' }, caFile: pebble.caFile, issuerChainPem: (await pebble.intermediate()) + (await pebble.root()) }, SUFFIX));
  }, 120_000);
  afterAll(async () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    await gw?.close();
    await pebble?.stop();
    await dns?.stop();
  });

  it('one upstream order, one certificate', async () => {
    if (!pebble) return;
    const name = `crash.${SUFFIX}`;
    const { csrPem } = makeCsr(dir, { subject: `/CN=${name}`, san: [`DNS:${name}`] });
    const res = await restCall(gw.baseUrl, token, 'POST', '/v1/certificates', { productId: product.id, csrPem });
    expect(res.status, JSON.stringify(res.json)).toBe(202);
    const requestId = res.json.request_id as string;

    const doomed = startWorker(true);
    const died = new Promise<NodeJS.Signals | null>((resolve) => doomed.once('exit', (_code, signal) => resolve(signal)));
    expect(await died).toBe('SIGKILL');
    // It died holding the order: recorded, never finalized.
    const order = await gw.rt.store.db.selectFrom('upstream_orders').selectAll().where('request_id', '=', requestId).executeTakeFirst();
    expect(order?.state).toBe('pending');
    const ordersPlaced = (pebble.log().match(/POST \/order-plz/g) ?? []).length;
    expect(ordersPlaced).toBe(1);

    startWorker(false);
    await until(async () => (await gw.rt.store.requests.get(requestId))?.status === 'issued', 90_000, 'the request is issued by the next worker');
    expect((pebble.log().match(/POST \/order-plz/g) ?? []).length).toBe(1);
    const certs = await gw.rt.store.db.selectFrom('certificates').select(['certificate_pem']).where('request_id', '=', requestId).execute();
    expect(certs).toHaveLength(1);
    const rootFile = join(dir, 'root.pem');
    const interFile = join(dir, 'inter.pem');
    const leafFile = join(dir, 'leaf.pem');
    writeFileSync(rootFile, await pebble.root());
    writeFileSync(interFile, await pebble.intermediate());
    writeFileSync(leafFile, certs[0]!.certificate_pem);
    expect(openssl(['verify', '-CAfile', rootFile, '-untrusted', interFile, leafFile])).toMatch(/OK/);
    const events = (await gw.rt.store.db.selectFrom('audit_log').select('detail').where('action', '=', 'ca.upstream_order').where('target', '=', requestId).orderBy('seq').execute()).map((r) => (JSON.parse(r.detail) as { event: string }).event);
    expect(events).toEqual(['placed', 'resumed', 'finalized']);
  }, 150_000);
});
