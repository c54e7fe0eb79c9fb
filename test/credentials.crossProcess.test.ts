// A credential revoked (or rotated) by one process stops working in another: through Redis when
// the deployment has it, through the store otherwise. Two runtimes stand for two processes: each
// has its own credential cache, and they share only the database and Redis.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { loadConfig, type Config } from '../src/config.js';
import { startServer, type RunningServer } from '../src/httpServer.js';
import { initialize } from '../src/init.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { PROTOCOLS } from '../protocols/index.js';
import { createTestDatabase } from './harness/postgres.js';
import { tempDir } from './helpers/openssl.js';
import { until } from './helpers/until.js';

const redisUrl = inject('redisUrl');
const postgresUrl = inject('postgresUrl');

// Well below the cache bound with Redis (10 s), so passing shows the notice arrived, not the cache ageing.
const NOTICE_BOUND_MS = 3_000;

const deployments: { name: string; skip?: boolean; config: () => Promise<Partial<Config>> }[] = [
  {
    name: 'through Redis (PostgreSQL + Redis)',
    skip: !redisUrl || !postgresUrl,
    config: async () => ({ databaseUrl: await createTestDatabase(postgresUrl as string), redisUrl: redisUrl as string, queuePrefix: `cred-x-${randomUUID()}` }),
  },
  { name: 'through the store (one SQLite file, no Redis)', config: async () => ({}) },
];

for (const d of deployments) {
  describe.skipIf(d.skip)(`another process sees a revocation ${d.name}`, () => {
    let b: RunningServer;
    let a: Runtime;

    const whoami = async (token: string) => (await fetch(`${b.httpUrl}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } })).status;

    beforeAll(async () => {
      const config = loadConfig({
        env: {},
        overrides: { dataDir: tempDir(), httpPort: 0, httpsPort: 0, masterKey: 'test-master-key-cross-process-01', logLevel: 'silent', ...(await d.config()) },
      });
      b = await startServer(config, { worker: false, json: true, protocols: PROTOCOLS, initFirst: (rt) => initialize(rt) });
      a = await openRuntime(config, { protocols: PROTOCOLS });
    });

    afterAll(async () => {
      await b?.close();
      await a?.close();
    });

    it('a revoked key and its bearer token stop in the other process', async () => {
      const { credential, secret } = await a.credentials.create({ type: 'rest', products: '*', permissions: [{ ca: '*', actions: ['read'] }] }, CLI_CONTEXT);
      const exchanged = await a.credentials.exchangeToken(credential.id, secret, { protocol: 'rest', sourceIp: null });
      if (!exchanged.ok) throw new Error(exchanged.message);
      // B has read (and cached) the credential.
      expect(await whoami(secret)).toBe(200);
      expect(await whoami(exchanged.token)).toBe(200);

      await a.credentials.revoke(credential.id, CLI_CONTEXT);
      await until(async () => (await whoami(secret)) === 401, NOTICE_BOUND_MS, 'the other process refused the revoked key');
      expect(await whoami(exchanged.token)).toBe(401);
    });

    it('a secret rotated without grace stops in the other process', async () => {
      const { credential, secret } = await a.credentials.create({ type: 'rest', products: '*', permissions: [{ ca: '*', actions: ['read'] }] }, CLI_CONTEXT);
      expect(await whoami(secret)).toBe(200);
      const rotated = await a.credentials.rotate(credential.id, 0, CLI_CONTEXT);
      await until(async () => (await whoami(secret)) === 401, NOTICE_BOUND_MS, 'the other process refused the old secret');
      expect(await whoami(rotated.secret)).toBe(200);
    });
  });
}
