// A product's domain control validation as an operator sets it up: `certgate product create
// --dcv required` held to the deployment's CERTGATE_DCV_MAX_REUSE_DAYS, and the setting shown in
// the product views (CLI list, REST /v1/products).
import { describe, expect, it } from 'vitest';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { certgate } from './helpers/certgateCli.js';
import { tempDir } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv } from './helpers/restEnv.js';

describe('products requiring DCV', () => {
  it('certgate product create refuses a reuse window longer than the deployment allows, naming the setting, and lists what it made', () => {
    const dir = tempDir();
    const env = { CERTGATE_DCV_MAX_REUSE_DAYS: '10' };
    expect(certgate(dir, ['init', '--json'], env).code).toBe(0);

    const tooLong = certgate(dir, ['product', 'create', '--name', 'web', '--ca', 'certgate-issuing', '--dcv', 'required', '--dcv-reuse-days', '30'], env);
    expect(tooLong.code).toBe(1);
    expect(tooLong.stderr).toMatch(/dcv\.reuseDays: 30 days is longer than this deployment's maximum of 10 \(CERTGATE_DCV_MAX_REUSE_DAYS\)/);
    expect(tooLong.stderr).not.toMatch(/\n\s+at /);
    // The default window (30 days) is held to it too: the operator is told, not surprised later.
    expect(certgate(dir, ['product', 'create', '--name', 'web', '--ca', 'certgate-issuing', '--dcv', 'required'], env).code).toBe(1);
    // A product without DCV reuses nothing: its (default) window is not held to the maximum.
    expect(certgate(dir, ['product', 'create', '--name', 'plain', '--ca', 'certgate-issuing', '--json'], env).code).toBe(0);
    expect(certgate(dir, ['product', 'create', '--name', 'bad-mode', '--ca', 'certgate-issuing', '--dcv', 'sometimes'], env).stderr).toMatch(/--dcv.*sometimes.*none, required/);

    const made = certgate(dir, ['product', 'create', '--name', 'web', '--ca', 'certgate-issuing', '--dcv', 'required', '--dcv-reuse-days', '10', '--dcv-subdomains', '--dcv-dns-label', '_acme-challenge', '--json'], env);
    expect(made.code, made.stderr).toBe(0);
    expect(made.json().template).toMatchObject({ dcv: { mode: 'required', reuseDays: 10, subdomains: true, dnsLabel: '_acme-challenge' } });

    const listed = certgate(dir, ['product', 'list'], env).stdout.split('\n');
    expect(listed[0]).toMatch(/\bDCV\b/);
    expect(listed.find((l) => / web /.test(l))).toMatch(/required, reuse 10 d, subdomains/);
    expect(listed.find((l) => / plain /.test(l))).toMatch(/ none /);
  });

  it('GET /v1/products shows the dcv setting; the core refuses a window over the maximum for any caller that passes the limits', async () => {
    const env = await startRestEnv(REST_DEPLOYMENTS[0]!, { dcvMaxReuseDays: 20 });
    try {
      const rt = env.server.rt;
      const template = parseProductTemplate({ dcv: { mode: 'required', reuseDays: 21 } });
      await expect(createProduct(rt.store, { name: 'over', caId: env.issuingId, template }, CLI_CONTEXT, undefined, rt.config)).rejects.toMatchObject({ kind: 'bad_request', message: expect.stringMatching(/maximum of 20/) });
      expect(await rt.store.products.getByName('over')).toBeUndefined();

      const product = await createProduct(rt.store, { name: 'validated', caId: env.issuingId, template: parseProductTemplate({ dcv: { mode: 'required', reuseDays: 20 } }) }, CLI_CONTEXT, undefined, rt.config);
      const one = await env.api('GET', `/v1/products/${product.id}`, env.adminToken);
      expect(one.status).toBe(200);
      expect(one.json.product).toMatchObject({ dcv: { mode: 'required', reuse_days: 20, subdomains: false, dns_label: '_certgate-challenge' } });
      const all = await env.api('GET', '/v1/products', env.adminToken);
      const plain = (all.json.products as { id: string; dcv: unknown }[]).find((p) => p.id === env.productId);
      expect(plain?.dcv).toEqual({ mode: 'none', reuse_days: 30, subdomains: false, dns_label: '_certgate-challenge' });
    } finally {
      await env.close();
    }
  });
});
