// The `cmp` credential (protocols/cmp/credential.ts) through REST, the CLI and the core's one
// credential check, as the CMP front-end uses it: the reference a client sends as senderKID is the
// credential's name; the secret is what its MAC is keyed with, checked by the protection, so the
// core tries the current secret and, in its grace window, the previous one. Rotation, revocation,
// product binding and refusals behave as for every kind; the secret is never stored in clear.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { certgate } from './helpers/certgateCli.js';
import { runningClock } from './helpers/clock.js';
import { dataFiles } from './helpers/dataFiles.js';
import { startGateway, TEST_MASTER_KEY, type Gateway } from './helpers/gateway.js';
import { httpRequest } from './helpers/http.js';
import { openRawDb } from './helpers/rawDb.js';
import { tempDir } from './helpers/openssl.js';
import { until } from './helpers/until.js';

/** A MAC-protected message as a client would send it: what the server's protection check sees. */
function protectedMessage(reference: string, secret: string, body = 'PKIHeader+PKIBody') {
  const mac = createHmac('sha256', secret).update(body).digest();
  return {
    type: 'cmp' as const,
    reference,
    macMatches: (candidate: string) => timingSafeEqual(createHmac('sha256', candidate).update(body).digest(), mac),
  };
}

describe('cmp credentials', () => {
  const dir = tempDir('certgate-cmp-credential-');
  const clock = runningClock();
  let server: Gateway;
  let productA: string;
  let productB: string;
  const api = (method: string, path: string, body?: unknown) => httpRequest(`${server.baseUrl}${path}`, { method, bearer: server.adminToken, ...(body !== undefined ? { json: body } : {}) });
  const context = (productId: string) => ({ protocol: 'cmp', sourceIp: '127.0.0.1', productId });
  const create = async (body: Record<string, unknown>) => {
    const res = await api('POST', '/v1/credentials', { type: 'cmp', ...body });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    return res.json as { id: string; name: string; secret: string; reference: string; products: string[] };
  };
  const refusals = async (target: string) =>
    (await server.rt.store.audit.list({ action: 'auth.refused', target }, { limit: 20, offset: 0 })).entries.map((e) => [e.protocol, e.outcome, e.detail?.['reason']]);

  beforeAll(async () => {
    server = await startGateway({ overrides: { dataDir: dir }, now: clock.now });
    productA = server.product.id;
    productB = (await createProduct(server.rt.store, { name: 'cmp-b', caId: server.issuing.id, template: parseProductTemplate({}) }, CLI_CONTEXT)).id;
    await server.rt.catalogue.changed();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('is created over REST with its reference (the name) and secret shown once, and authenticates a MAC made with it', async () => {
    const made = await create({ name: 'base-station-1', products: [productA] });
    expect(made).toMatchObject({ type: 'cmp', name: 'base-station-1', reference: 'base-station-1', products: [productA] });
    expect(made.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const shown = await api('GET', `/v1/credentials/${made.id}`);
    expect(shown.json).toMatchObject({ id: made.id, type: 'cmp', status: 'active' });
    expect(JSON.stringify(shown.json)).not.toContain(made.secret);

    const ok = await server.rt.credentials.authenticate(protectedMessage('base-station-1', made.secret), context(productA));
    expect(ok).toMatchObject({ ok: true, credential: { id: made.id } });

    // The reference names one live credential: a second of that name could not be told apart.
    const twin = await api('POST', '/v1/credentials', { type: 'cmp', name: 'base-station-1', products: '*' });
    expect(twin.status).toBe(400);
    expect(twin.json.error).toMatch(/name: a CMP credential named base-station-1 exists/);
  });

  it('refuses a wrong secret, an unknown reference and another product, each audited without the secret', async () => {
    const made = await create({ name: 'rail-signal-7', products: [productA] });
    const wrong = await server.rt.credentials.authenticate(protectedMessage('rail-signal-7', `${made.secret}x`), context(productA));
    expect(wrong).toMatchObject({ ok: false, reason: 'wrongSecret' });
    const stranger = await server.rt.credentials.authenticate(protectedMessage('nobody-here', made.secret), context(productA));
    expect(stranger).toMatchObject({ ok: false, reason: 'unknown' });
    const elsewhere = await server.rt.credentials.authenticate(protectedMessage('rail-signal-7', made.secret), context(productB));
    expect(elsewhere).toMatchObject({ ok: false, reason: 'productNotAllowed' });

    expect(await refusals(made.id)).toEqual(expect.arrayContaining([['cmp', 'refused', 'wrongSecret'], ['cmp', 'refused', 'productNotAllowed']]));
    expect(await refusals('cmp-reference:nobody-here')).toEqual([['cmp', 'refused', 'unknown']]);
    const trail = (await server.rt.store.audit.list({ action: 'auth.refused' }, { limit: 100, offset: 0 })).entries;
    expect(JSON.stringify(trail)).not.toContain(made.secret);
  });

  it('rotates with a grace window: both secrets work until it ends, then only the new one', async () => {
    const made = await create({ name: 'plc-3', products: '*' });
    const rotated = await api('POST', `/v1/credentials/${made.id}/rotate`, { graceSeconds: 60 });
    expect(rotated.status).toBe(200);
    const fresh = rotated.json.secret as string;
    expect(fresh).not.toBe(made.secret);
    expect(rotated.json).toMatchObject({ reference: 'plc-3', previous_secret_valid_until: expect.any(String) });
    for (const secret of [made.secret, fresh]) expect(await server.rt.credentials.authenticate(protectedMessage('plc-3', secret), context(productB))).toMatchObject({ ok: true });
    clock.advance(60_000);
    expect(await server.rt.credentials.authenticate(protectedMessage('plc-3', made.secret), context(productB))).toMatchObject({ ok: false, reason: 'wrongSecret' });
    expect(await server.rt.credentials.authenticate(protectedMessage('plc-3', fresh), context(productB))).toMatchObject({ ok: true });

    // Without grace the old secret stops at once.
    const again = await api('POST', `/v1/credentials/${made.id}/rotate`, {});
    expect(await server.rt.credentials.authenticate(protectedMessage('plc-3', fresh), context(productB))).toMatchObject({ ok: false, reason: 'wrongSecret' });
    expect(await server.rt.credentials.authenticate(protectedMessage('plc-3', again.json.secret as string), context(productB))).toMatchObject({ ok: true });
  });

  it('stops at once when revoked, and frees its reference for a new credential', async () => {
    const made = await create({ name: 'meter-9', products: [productA] });
    expect(await server.rt.credentials.authenticate(protectedMessage('meter-9', made.secret), context(productA))).toMatchObject({ ok: true });
    expect((await api('POST', `/v1/credentials/${made.id}/revoke`, {})).status).toBe(200);
    expect(await server.rt.credentials.authenticate(protectedMessage('meter-9', made.secret), context(productA))).toMatchObject({ ok: false });
    const successor = await create({ name: 'meter-9', products: [productA] });
    expect(successor.id).not.toBe(made.id);
    // The old secret is no key to the new credential of the same name.
    expect(await server.rt.credentials.authenticate(protectedMessage('meter-9', made.secret), context(productA))).toMatchObject({ ok: false, reason: 'wrongSecret' });
    expect(await server.rt.credentials.authenticate(protectedMessage('meter-9', successor.secret), context(productA))).toMatchObject({ ok: true, credential: { id: successor.id } });
  });

  it('is created, bound, rotated and revoked with the CLI too, which prints the reference and says the secret is sealed', async () => {
    const env = { CERTGATE_MASTER_KEY: TEST_MASTER_KEY };
    const madeOut = certgate(dir, ['credential', 'create', '--type', 'cmp', '--product', 'cmp-b', '--name', 'ran-node-2'], env);
    expect(madeOut.code, madeOut.stderr).toBe(0);
    expect(madeOut.stdout).toMatch(/reference: {2}ran-node-2/);
    expect(madeOut.stdout).toMatch(/shared secret: [A-Za-z0-9_-]{43}/);
    expect(madeOut.stdout).toMatch(/stored encrypted under the master key/);
    const listed = certgate(dir, ['credential', 'list', '--type', 'cmp', '--json'], env).json() as unknown as { id: string; name: string; products: string[] }[];
    const made = listed.find((c) => c.name === 'ran-node-2');
    expect(made?.products).toEqual([productB]);

    const secret = /shared secret: (\S+)/.exec(madeOut.stdout)?.[1] as string;
    const rotated = certgate(dir, ['credential', 'rotate', made?.id as string, '--grace-seconds', '300', '--json'], env);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.json()).toMatchObject({ reference: 'ran-node-2', previous_secret_valid_until: expect.any(String) });
    const fresh = rotated.json().secret as string;
    // The gateway's process sees the rotation (and its grace) at once.
    for (const s of [secret, fresh]) expect(await server.rt.credentials.authenticate(protectedMessage('ran-node-2', s), context(productB))).toMatchObject({ ok: true });
    expect(await server.rt.credentials.authenticate(protectedMessage('ran-node-2', fresh), context(productA))).toMatchObject({ ok: false, reason: 'productNotAllowed' });
    expect(certgate(dir, ['credential', 'revoke', made?.id as string, '--json'], env).json().status).toBe('revoked');
    await until(async () => !(await server.rt.credentials.authenticate(protectedMessage('ran-node-2', fresh), context(productB))).ok, 10_000, 'the revocation reached the gateway');
  });

  it('keeps no secret in clear: not in its row, not anywhere in the data directory', async () => {
    const made = await create({ name: 'sealed-check', products: '*' });
    const rotated = (await api('POST', `/v1/credentials/${made.id}/rotate`, { graceSeconds: 600 })).json.secret as string;
    const raw = await openRawDb(server.config.databaseUrl, dir);
    try {
      const [row] = await raw.rows('SELECT secret, previous_secret FROM credentials WHERE id = ?', [made.id]);
      expect(row?.['secret']).toEqual(expect.any(String));
      expect(String(row?.['secret'])).not.toContain(rotated);
      expect(String(row?.['previous_secret'])).not.toContain(made.secret);
    } finally {
      await raw.close();
    }
    for (const { file, bytes } of dataFiles(dir)) {
      expect(bytes.includes(made.secret), file).toBe(false);
      expect(bytes.includes(rotated), file).toBe(false);
    }
  });
});
