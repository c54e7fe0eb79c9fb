// Two `certgate init`s against one empty PostgreSQL database at once (an operator's
// `docker compose run init` while `up` runs the init service): one sets the deployment up, the
// other finds it done; never two roots, products or admin keys.
import { describe, expect, inject, it } from 'vitest';
import { PROTOCOLS } from '../protocols/index.js';
import { credentialKindsOf } from '../src/core/protocol.js';
import { initialize } from '../src/init.js';
import { openRuntime } from '../src/runtime.js';
import { createTestDatabase } from './harness/postgres.js';
import { testConfig } from './helpers/gateway.js';

const postgresUrl = inject('postgresUrl');

describe('init', () => {
  it.skipIf(!postgresUrl)('two at once against one empty database: one creates the deployment, the other says it is already there', async () => {
    const config = testConfig({ databaseUrl: await createTestDatabase(postgresUrl as string) }, 'certgate-init-race-');
    const open = () => openRuntime(config, { credentialKinds: credentialKindsOf(PROTOCOLS) });
    // One after the other: the race under test is init's, not the migrations'.
    const a = await open();
    const b = await open();
    try {
      const results = await Promise.all([initialize(a), initialize(b)]);
      expect(results.map((r) => r.created).sort()).toEqual([false, true]);
      const made = results.find((r) => r.created)!;
      expect(made.adminToken).toMatch(/^cg_/);
      expect((await a.store.cas.list()).map((c) => c.id).sort()).toEqual([made.root!.id, made.issuing!.id].sort());
      expect((await a.store.products.list()).filter((p) => !p.name.startsWith('system-')).map((p) => p.id)).toEqual([made.product!.id]);
      expect((await a.credentials.list({ type: 'rest' }, { limit: 10, offset: 0 })).credentials.map((k) => k.name)).toEqual(['admin']);
    } finally {
      await a.close();
      await b.close();
    }
  }, 120_000);
});
