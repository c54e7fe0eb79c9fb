// /readyz and the keys of CAs that sign with something outside the process: a key store that does
// not answer within the ping timeout is down (named), not taken for ready.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaBackendLoaders } from '../src/ca/registry.js';
import { fakeUpstreamCa } from './helpers/fakeUpstreamCa.js';
import { startGateway, type Gateway } from './helpers/gateway.js';

describe('/readyz with a CA whose key store does not answer', () => {
  const fake = fakeUpstreamCa();
  let hang = false;
  const loaders: CaBackendLoaders = {
    'upstream-acme': async (ca, context) => {
      const backend = await fake.loaders['upstream-acme']!(ca, context);
      // As a token whose library blocks: the readiness question never comes back while `hang`.
      return { ...backend, capabilities: backend.capabilities, readiness: () => (hang ? new Promise(() => undefined) : Promise.resolve(null)) };
    },
  };
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway({ caLoaders: loaders, dirPrefix: 'certgate-readyz-keys-' });
    await fake.register(gw.rt.store, 'slow-keys');
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('is ready while the key store answers, and 503 naming it once it does not answer in time', async () => {
    const ready = await fetch(`${gw.baseUrl}/readyz`);
    expect(ready.status, await ready.text()).toBe(200);
    hang = true;
    // The backend was loaded (and its readiness read) by the first call; the next call asks again.
    const down = await fetch(`${gw.baseUrl}/readyz`);
    const body = (await down.json()) as { down: string[]; problems: string[] };
    expect(down.status).toBe(503);
    expect(body.down).toEqual(['CA keys']);
    expect(body.problems[0]).toMatch(/no answer within \d+ ms/);
  });
});
