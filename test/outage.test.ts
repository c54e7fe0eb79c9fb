// A dependency that goes away and comes back: the process survives, every front-end says
// "unavailable, try again" (REST 503 with Retry-After, OCSP tryLater, /readyz naming the
// dependency) while it is down, and the same runtime serves again once it is back. Runs its own
// PostgreSQL cluster and redis-server, so stopping them disturbs no other suite.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { ConnectionClosedError } from 'bullmq';
import pg from 'pg';
import { ClientClosedError, ConnectionTimeoutError, SocketClosedUnexpectedlyError } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigOverrides } from '../src/config.js';
import { badRequest } from '../src/core/errors.js';
import { DependencyUnavailableError, isDependencyDown } from '../src/core/unavailable.js';
import { openStore, type KyselyStore } from '../src/store/index.js';
import { createTestDatabase, startPostgres, type PostgresServer } from './harness/postgres.js';
import { startRedis, type RunningRedis } from './harness/redis.js';
import { freePort } from './helpers/net.js';
import { deploymentConfig, deploymentMissing, startGateway } from './helpers/gateway.js';
import { makeCsr, openssl } from './helpers/openssl.js';
import { until } from './helpers/until.js';
import { restCall } from './helpers/http.js';

const pgError = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });

describe('isDependencyDown', () => {
  it('counts lost or refused connections to PostgreSQL, Redis and a locked SQLite file', async () => {
    // A real refusal, as pg reports it.
    const port = await freePort();
    const client = new pg.Client({ connectionString: `postgresql://postgres@127.0.0.1:${port}/postgres` });
    const refused = await client.connect().then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).not.toBeNull();
    const down: unknown[] = [
      refused,
      pgError('57P01', 'terminating connection due to administrator command'),
      pgError('57P02'),
      pgError('57P03', 'the database system is starting up'),
      pgError('08006'),
      pgError('08001'),
      pgError('53300', 'sorry, too many clients already'),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      pgError('ECONNRESET', 'read ECONNRESET'),
      new ClientClosedError(),
      new ConnectionTimeoutError(),
      new SocketClosedUnexpectedlyError(),
      new ConnectionClosedError(),
      new Error('no connection to Redis: connect ECONNREFUSED 127.0.0.1:6379'),
      pgError('SQLITE_BUSY', 'database is locked'),
      new DependencyUnavailableError('store', 'ping timed out'),
      // Wrapped: the cause chain counts.
      new Error('could not enqueue', { cause: pgError('ECONNREFUSED') }),
      new AggregateError([pgError('ECONNREFUSED'), pgError('ECONNREFUSED')], ''),
    ];
    for (const e of down) expect(isDependencyDown(e), String(e)).toBe(true);
  });

  it('leaves everything else, including errors the server answered, to be a 500 (or the caller’s 4xx)', () => {
    const bugs: unknown[] = [
      new Error('boom'),
      new TypeError("Cannot read properties of undefined (reading 'id')"),
      pgError('23505', 'duplicate key value violates unique constraint'),
      pgError('42601', 'syntax error at or near "selec"'),
      pgError('42P01', 'relation "nope" does not exist'),
      Object.assign(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'), { name: 'ReplyError' }),
      pgError('SQLITE_CONSTRAINT_UNIQUE', 'UNIQUE constraint failed: x.y'),
      badRequest('malformed CSR'),
      new AggregateError([pgError('ECONNREFUSED'), new Error('boom')], ''),
      'a string',
      null,
      undefined,
    ];
    for (const e of bugs) expect(isDependencyDown(e), String(e)).toBe(false);
  });
});

describe('a PostgreSQL server that accepts but never answers', () => {
  it('fails the store in bounded time, as unavailable', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const started = Date.now();
      const error = await openStore({ databaseUrl: `postgresql://postgres@127.0.0.1:${port}/postgres`, sqlitePath: ':memory:', connectTimeoutMs: 300 }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).not.toBeNull();
      expect(isDependencyDown(error), String(error)).toBe(true);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

const OCSP_TRY_LATER = Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x03]);

/** A gateway in this process, with an admin token and helpers for the requests the tests make. */
async function startOutageGateway(overrides: ConfigOverrides) {
  const gw = await startGateway({ overrides, dirPrefix: 'certgate-outage-' });
  const { server, dir, adminToken: admin } = gw;
  const base = gw.baseUrl;
  const api = (method: string, path: string, body?: unknown) => restCall(base, admin, method, path, body);
  const { issuing } = gw;
  const issuingFile = join(dir, 'issuing.pem');
  writeFileSync(issuingFile, issuing.certificatePem);
  const issue = (cn: string) => api('POST', '/v1/certificates', { caId: issuing.id, csrPem: makeCsr(dir, { subject: `/CN=${cn}`, name: cn }).csrPem, validityDays: 30 });
  /** A DER OCSP request (no nonce) for a certificate this gateway issued. */
  const ocspRequestFor = (certificatePem: string, name: string): Buffer => {
    const certFile = join(dir, `${name}.pem`);
    const reqFile = join(dir, `${name}.ocspreq`);
    writeFileSync(certFile, certificatePem);
    openssl(['ocsp', '-issuer', issuingFile, '-cert', certFile, '-no_nonce', '-reqout', reqFile]);
    return readFileSync(reqFile);
  };
  const ocsp = async (request: Buffer): Promise<Buffer> => {
    const res = await fetch(`${base}/ocsp`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: request });
    expect(res.status).toBe(200);
    return Buffer.from(await res.arrayBuffer());
  };
  return { server, api, issue, ocspRequestFor, ocsp, issuingId: issuing.id, base };
}

/** OCSPResponse's responseStatus: its ENUMERATED is the third byte of the outer SEQUENCE's content. */
function ocspStatus(der: Buffer): number {
  // 30 len 0a 01 status (short or long length form)
  const offset = (der[1] as number) < 0x80 ? 2 : 2 + ((der[1] as number) & 0x7f);
  expect(der[offset]).toBe(0x0a);
  return der[offset + 2] as number;
}

describe('PostgreSQL restarts under a running gateway', () => {
  let postgres: PostgresServer | null = null;
  let gw: Awaited<ReturnType<typeof startOutageGateway>> | undefined;

  beforeAll(async () => {
    postgres = await startPostgres();
    if (!postgres) return;
    gw = await startOutageGateway({ databaseUrl: await createTestDatabase(postgres.url) });
  }, 120_000);

  afterAll(async () => {
    await gw?.server.close();
    await postgres?.stop();
  });

  it('answers 503 with Retry-After, OCSP tryLater and /readyz naming the store while it is down, and serves again after', async (ctx) => {
    if (!postgres || !gw) return ctx.skip();
    const { api, issue, ocspRequestFor, ocsp, server, issuingId, base } = gw;
    const first = await issue('before.outage.test');
    expect(first.status, JSON.stringify(first.json)).toBe(201);
    // Asked about only while the store is down, so no cached answer can stand in.
    const unseen = await issue('unseen.outage.test');
    expect(unseen.status).toBe(201);
    const unseenRequest = ocspRequestFor((unseen.json.certificate as { certificate_pem: string }).certificate_pem, 'unseen');
    expect(ocspStatus(await ocsp(ocspRequestFor((first.json.certificate as { certificate_pem: string }).certificate_pem, 'first')))).toBe(0);

    // One pooled connection stays checked out across the shutdown (pg-pool leaves it without an
    // 'error' listener); the others are idle in the pool.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let checkedOut!: () => void;
    const isCheckedOut = new Promise<void>((resolve) => (checkedOut = resolve));
    const holding = (server.rt.store as KyselyStore).db.connection().execute(async (conn) => {
      await conn.selectNoFrom((eb) => eb.lit(1).as('one')).execute();
      checkedOut();
      await held;
    });
    await isCheckedOut;

    await postgres.halt('fast');
    try {
      const ready = await api('GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.json.down).toEqual(['store']);
      // The session ended with 57P01 on the checked-out client's socket by now; give it back.
      release();
      await holding;

      const post = await issue('during.outage.test');
      expect(post.status, JSON.stringify(post.json)).toBe(503);
      expect(post.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(post.json.error).toMatch(/unavailable/);
      const read = await api('GET', `/v1/certificates/${(first.json.certificate as { id: string }).id}`);
      expect(read.status).toBe(503);
      expect(read.headers.get('retry-after')).toMatch(/^\d+$/);

      expect(await ocsp(unseenRequest)).toEqual(OCSP_TRY_LATER);
      const crl = await fetch(`${base}/crl/${issuingId}.crl`);
      expect(crl.status).toBe(503);
      expect(crl.headers.get('retry-after')).toMatch(/^\d+$/);
    } finally {
      release();
      await postgres.resume();
    }

    // The same runtime, no restart: fresh connections replace the lost ones.
    await until(async () => (await api('GET', '/readyz')).status === 200, 20_000, '/readyz says ready again');
    const after = await issue('after.outage.test');
    expect(after.status, JSON.stringify(after.json)).toBe(201);
    expect((await api('GET', `/v1/certificates/${(first.json.certificate as { id: string }).id}`)).status).toBe(200);
    expect(ocspStatus(await ocsp(unseenRequest))).toBe(0);
    expect((await fetch(`${base}/crl/${issuingId}.crl`)).status).toBe(200);
  }, 60_000);
});

describe.skipIf(deploymentMissing({ backend: 'postgres' }))('Redis restarts under a running gateway', () => {
  let redis: RunningRedis | null = null;
  let gw: Awaited<ReturnType<typeof startOutageGateway>> | undefined;

  beforeAll(async () => {
    redis = await startRedis();
    if (!redis) return;
    gw = await startOutageGateway({
      ...(await deploymentConfig({ backend: 'postgres' })),
      redisUrl: redis.url,
      queuePrefix: `outage-${randomUUID()}`,
    });
  }, 120_000);

  afterAll(async () => {
    await gw?.server.close();
    await redis?.stop();
  });

  it('answers issuance with 503 while Redis is down and issues again once it is back', async (ctx) => {
    if (!redis || !gw) return ctx.skip();
    const { api, issue } = gw;
    expect((await issue('before.redis.test')).status).toBe(201);

    const port = redis.port;
    await redis.kill();
    await until(async () => (await api('GET', '/readyz')).status === 503, 10_000, '/readyz notices Redis is gone');
    const ready = await api('GET', '/readyz');
    expect(ready.json.down).toEqual(['queue']);

    const post = await issue('during.redis.test');
    expect(post.status, JSON.stringify(post.json)).toBe(503);
    expect(post.headers.get('retry-after')).toMatch(/^\d+$/);

    redis = await startRedis({ port });
    await until(async () => (await api('GET', '/readyz')).status === 200, 20_000, '/readyz says ready again');
    const after = await issue('after.redis.test');
    expect(after.status, JSON.stringify(after.json)).toBe(201);
  }, 60_000);
});
