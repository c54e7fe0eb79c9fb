// The README's "Adding a protocol", followed: a protocol written here, outside src/ and
// protocols/, registers a config key, a product setting and a REST admin route, and each works
// without a line of the core knowing its name.
import express from 'express';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { AppError } from '../src/core/errors.js';
import { checkProtocolSettings, createProduct } from '../src/core/products.js';
import type { ProtocolModule } from '../src/core/protocol.js';
import { protocolSettings } from '../src/core/protocolConfig.js';
import { startServer, type RunningServer } from '../src/httpServer.js';
import { initialize } from '../src/init.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { PROTOCOLS } from '../protocols/index.js';
import { AdminRoutes } from '../protocols/rest/adminRoutes.js';
import { RestRoutes } from '../protocols/rest/route.js';
import { restCall } from './helpers/http.js';
import { tempDir } from './helpers/openssl.js';

const widgetConfig = protocolSettings({
  shape: {
    widgetGreeting: z.string().min(1).default('hello'),
    widgetSizes: z.array(z.coerce.number().int().min(1)).default([1]),
  },
  env: { widgetGreeting: 'CERTGATE_WIDGET_GREETING', widgetSizes: 'CERTGATE_WIDGET_SIZES' },
  lists: ['widgetSizes'],
});

const widgetProtocol: ProtocolModule = {
  name: 'widget',
  config: widgetConfig,
  productSettings: z.object({ color: z.enum(['red', 'blue']) }).strict(),
  mount(core) {
    const { widgetGreeting } = widgetConfig.of(core.config);
    const router = express.Router();
    router.get('/widget', (_req, res) => void res.json({ greeting: widgetGreeting }));
    return {
      router,
      adminRoutes(routes) {
        routes.add(
          {
            method: 'post',
            path: '/widgets',
            summary: 'Make a widget',
            permission: 'any credential',
            body: z.object({ name: z.string().min(1) }).strict(),
            responses: { 201: { description: 'Made', schema: z.object({ greeting: z.string(), name: z.string(), by: z.string() }) } },
          },
          async ({ body, credential }) => ({ status: 201, body: { greeting: widgetGreeting, name: body.name, by: credential.id } }),
        );
      },
    };
  },
};

const REGISTERED = [...PROTOCOLS, widgetProtocol];

describe('a protocol added from outside the core', () => {
  it('has its config keys read from the environment, the file and overrides, typed, and refused by their variable when wrong', () => {
    const config = loadConfig({ env: { CERTGATE_WIDGET_GREETING: 'hi', CERTGATE_WIDGET_SIZES: '2, 3' }, protocols: REGISTERED });
    expect(widgetConfig.of(config)).toEqual({ widgetGreeting: 'hi', widgetSizes: [2, 3] });
    expect(widgetConfig.of(loadConfig({ env: {}, protocols: REGISTERED }))).toEqual({ widgetGreeting: 'hello', widgetSizes: [1] });
    expect(widgetConfig.of(loadConfig({ env: {}, protocols: REGISTERED, overrides: { widgetGreeting: 'hey' } })).widgetGreeting).toBe('hey');
    expect(() => loadConfig({ env: { CERTGATE_WIDGET_SIZES: '2,zero' }, protocols: REGISTERED })).toThrow(/CERTGATE_WIDGET_SIZES \(widgetSizes\)/);
    // Not registered, its key is unknown like any other.
    expect(() => loadConfig({ env: {}, protocols: PROTOCOLS, overrides: { widgetGreeting: 'hey' } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: {}, protocols: PROTOCOLS, overrides: { widgetGreeting: 'hey' } })).toThrow(/widgetGreeting/);
    // A config loaded without the protocol gives it its defaults.
    expect(widgetConfig.of(loadConfig({ env: {} })).widgetGreeting).toBe('hello');
    // Two owners of one key are a programming error, found at load.
    const twin: ProtocolModule = { ...widgetProtocol, name: 'twin' };
    expect(() => loadConfig({ env: {}, protocols: [widgetProtocol, twin] })).toThrow(/protocol twin: the setting widgetGreeting is declared twice/);
  });

  it('reads a list key from the environment as its comma-separated items, however spaced', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 1, maxLength: 8 }), fc.constantFrom(',', ', ', ' ,', ' , '), (sizes, separator) => {
        const config = loadConfig({ env: { CERTGATE_WIDGET_SIZES: sizes.join(separator) }, protocols: REGISTERED });
        expect(widgetConfig.of(config).widgetSizes).toEqual(sizes);
      }),
    );
  });

  it("checks a product's settings against the registered schema, naming the path", () => {
    const refusal = (settings: Record<string, Record<string, unknown>>): AppError => {
      try {
        checkProtocolSettings(settings, REGISTERED);
      } catch (e) {
        return e as AppError;
      }
      throw new Error('accepted');
    };
    expect(() => checkProtocolSettings({ widget: { color: 'red' }, est: { auth: 'either' }, acme: { eabRequired: true } }, REGISTERED)).not.toThrow();
    const bad = refusal({ widget: { color: 'green' } });
    expect(bad).toBeInstanceOf(AppError);
    expect(bad.kind).toBe('bad_request');
    expect(bad.message).toMatch(/^protocols\.widget\.color: /);
    expect(refusal({ gadget: { color: 'red' } }).message).toMatch(/^protocols\.gadget: no protocol "gadget" is registered/);
    expect(refusal({ scep: { anything: 1 } }).message).toBe('protocols.scep: the scep protocol has no product settings');
    expect(refusal({ est: { auth: 'sometimes' } }).message).toMatch(/^protocols\.est\.auth: /);
  });

  it("counts an admin route declared issuing, and only that route, against REST's issuance limit", () => {
    const admin = new AdminRoutes(new RestRoutes(express.Router()));
    const kit = admin.kitFor('widget');
    const answer = async () => ({ status: 200, body: {} });
    kit.add({ method: 'post', path: '/widgets/:id/bake', summary: 'Bake', permission: 'issue', issuing: true, responses: { 200: { description: 'Baked' } } }, answer);
    kit.add({ method: 'post', path: '/widgets/:id/paint', summary: 'Paint', permission: 'any', responses: { 200: { description: 'Painted' } } }, answer);
    expect(admin.isIssuing({ method: 'POST', path: '/widgets/w-1/bake' })).toBe(true);
    expect(admin.isIssuing({ method: 'POST', path: '/widgets/w-1/bake/' })).toBe(true);
    expect(admin.isIssuing({ method: 'GET', path: '/widgets/w-1/bake' })).toBe(false);
    expect(admin.isIssuing({ method: 'POST', path: '/widgets/w-1/paint' })).toBe(false);
    expect(admin.isIssuing({ method: 'POST', path: '/widgets/a/b/bake' })).toBe(false);
    expect(admin.isIssuing({ method: 'POST', path: '/widgetsXw-1/bake' })).toBe(false);
  });

  describe('served', () => {
    let server: RunningServer;
    let adminToken = '';
    let base = '';

    beforeAll(async () => {
      const config = loadConfig({
        env: { CERTGATE_WIDGET_GREETING: 'hi' },
        protocols: REGISTERED,
        overrides: { dataDir: tempDir(), httpPort: 0, httpsPort: 0, masterKey: 'test-master-key-0123456789', logLevel: 'silent' },
      });
      server = await startServer(config, { worker: true, json: true, protocols: REGISTERED, initFirst: async (rt) => void (adminToken = (await initialize(rt)).adminToken as string) });
      base = server.httpUrl as string;
    });
    afterAll(async () => {
      await server?.close();
    });

    it('mounts its router with its config', async () => {
      const res = await fetch(`${base}/widget`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ greeting: 'hi' });
    });

    it('has its admin route served by REST: 401 without a key, 400 on a bad body, 201 with a key, in the OpenAPI document', async () => {
      const anonymous = await fetch(`${base}/v1/widgets`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'w1' }) });
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
      const bad = await restCall(base, adminToken, 'POST', '/v1/widgets', { name: '' });
      expect(bad.status).toBe(400);
      expect(bad.json.error).toMatch(/^invalid request: name: /);
      const made = await restCall(base, adminToken, 'POST', '/v1/widgets', { name: 'w1' });
      expect(made.status).toBe(201);
      expect(made.json).toEqual({ greeting: 'hi', name: 'w1', by: expect.any(String) as string });
      const doc = await restCall(base, adminToken, 'GET', '/v1/openapi');
      const paths = doc.json.paths as Record<string, Record<string, { tags: string[] }>>;
      expect(paths['/v1/widgets']?.post?.tags).toEqual(['widget']);
    });

    it('refuses a product created with settings its schema refuses (400), and creates one it accepts', async () => {
      const rt = server.rt;
      const caId = (await rt.store.cas.list())[0]!.id;
      const create = (protocols: Record<string, Record<string, unknown>>) =>
        createProduct(rt.store, { name: `widgets-${Object.values(protocols.widget ?? {}).join('')}`, caId, template: parseProductTemplate({ protocols }) }, CLI_CONTEXT, REGISTERED);
      await expect(create({ widget: { color: 'green' } })).rejects.toMatchObject({ kind: 'bad_request', message: expect.stringMatching(/^protocols\.widget\.color: /) as string });
      const product = await create({ widget: { color: 'blue' } });
      expect(product.template.protocols.widget).toEqual({ color: 'blue' });
    });
  });
});
