// A credential revoked (or rotated) by one process stops working in another: through Redis when
// the deployment has it, through the store otherwise. Two runtimes stand for two processes: each
// has its own credential cache, and they share only the database and Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { PROTOCOLS } from '../protocols/index.js';
import { deploymentMissing, startGateway, type Deployment, type Gateway } from './helpers/gateway.js';
import { httpRequest } from './helpers/http.js';
import { until } from './helpers/until.js';

// Well below the cache bound with Redis (10 s), so passing shows the notice arrived, not the cache ageing.
const NOTICE_BOUND_MS = 3_000;

const deployments: { name: string; deployment: Deployment }[] = [
  { name: 'through Redis (PostgreSQL + Redis)', deployment: { backend: 'postgres', queue: 'bullmq' } },
  { name: 'through the store (one SQLite file, no Redis)', deployment: {} },
];

for (const d of deployments) {
  describe.skipIf(deploymentMissing(d.deployment))(`another process sees a revocation ${d.name}`, () => {
    let b: Gateway;
    let a: Runtime;

    const whoami = async (token: string) => (await httpRequest(`${b.baseUrl}/v1/whoami`, { bearer: token })).status;

    beforeAll(async () => {
      b = await startGateway({ ...d.deployment, worker: 'none' });
      // The other process: a runtime of its own (as the CLI opens one) on the same deployment.
      a = await openRuntime(b.config, { protocols: PROTOCOLS });
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
