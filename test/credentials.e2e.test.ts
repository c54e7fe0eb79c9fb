// Credentials of every type against the REST API, as a client sees them: who may call which route,
// from which address, with which token, and how soon a revocation or rotation bites.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenIssuer } from '../src/auth/tokens.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import type { CredentialType } from '../src/core/types.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { startGateway, TEST_MASTER_KEY, type Gateway } from './helpers/gateway.js';
import { httpRequest, type HttpReply } from './helpers/http.js';
import { makeCsr, tempDir } from './helpers/openssl.js';
import { runningClock } from './helpers/clock.js';
import { until } from './helpers/until.js';

describe('credentials over REST (embedded)', () => {
  const dir = tempDir();
  let server: Gateway;
  let base: string;
  let admin: string;
  let caId: string;
  let productA: string;
  let productB: string;
  // A source address of the test's choosing: allowlists are checked against it.
  const api = (method: string, path: string, bearer: string | null, body?: unknown, from?: string) =>
    httpRequest(`${base}${path}`, { method, bearer, ...(body !== undefined ? { json: body } : {}), ...(from ? { from } : {}) });

  const clock = runningClock();
  const create = async (body: Record<string, unknown>) => {
    const res = await api('POST', '/v1/credentials', admin, body);
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    return res.json as { id: string; type: CredentialType; name: string; secret: string };
  };
  const csrFor = (name: string) => makeCsr(dir, { key: 'ec-p256', subject: `/CN=${name}`, san: [`DNS:${name}`] }).csrPem;

  beforeAll(async () => {
    server = await startGateway({ overrides: { dataDir: dir }, now: clock.now });
    admin = server.adminToken;
    caId = server.issuing.id;
    productA = server.product.id;
    productB = (await createProduct(server.rt.store, { name: 'product-b', caId, template: parseProductTemplate({}) }, CLI_CONTEXT)).id;
    base = server.baseUrl;
  });

  afterAll(async () => {
    await server?.close();
  });

  it('creates each type of credential with the secret its protocol uses, shown once', async () => {
    const rest = await create({ type: 'rest', products: [productA] });
    expect(rest.secret).toMatch(new RegExp(`^cg_${rest.id}_[A-Za-z0-9_-]{43}$`));
    const est = await create({ type: 'est', name: 'router-1', products: ['default'] });
    expect(est).toMatchObject({ name: 'router-1', username: 'router-1', password: est.secret });
    const acme = await create({ type: 'acme', products: [productA, productB] });
    expect(acme).toMatchObject({ kid: acme.id, hmac_key: acme.secret });
    expect(Buffer.from(acme.secret, 'base64url')).toHaveLength(32);
    const scep = await create({ type: 'scep', products: '*' });
    expect(scep).toMatchObject({ challenge: scep.secret });
    const cmp = await create({ type: 'cmp', name: 'base-station-1', products: [productA] });
    expect(cmp).toMatchObject({ name: 'base-station-1', reference: 'base-station-1' });
    expect(Buffer.from(cmp.secret, 'base64url')).toHaveLength(32);

    // Only the view comes back later: no secret, no hash.
    const listed = await api('GET', `/v1/credentials/${acme.id}`, admin);
    expect(listed.json).toMatchObject({ id: acme.id, type: 'acme', status: 'active', products: [productA, productB] });
    expect(JSON.stringify(listed.json)).not.toContain(acme.secret);
    expect(listed.json.secret).toBeUndefined();

    // A second EST credential with a live one's username could not be told apart.
    expect((await api('POST', '/v1/credentials', admin, { type: 'est', name: 'router-1', products: '*' })).status).toBe(400);
  });

  it('answers each route by type, product binding and permission: the matrix', async () => {
    const restA = await create({ type: 'rest', products: [productA] });
    const restB = await create({ type: 'rest', products: [productB] });
    const reader = await create({ type: 'rest', products: '*', permissions: [`read:${caId}`] });
    const others = await Promise.all((['est', 'acme', 'scep', 'cmp'] as const).map((type) => create({ type, products: '*' })));

    // Fixtures the routes act on: a certificate under A, a request waiting for approval.
    const issued = await api('POST', '/v1/certificates', admin, { productId: productA, csrPem: csrFor('matrix.test') });
    expect(issued.status).toBe(201);
    const certId = (issued.json.certificate as { id: string }).id;
    const approval = await createProduct(server.rt.store, { name: 'needs-approval', caId, template: parseProductTemplate({ requiresApproval: true }) }, CLI_CONTEXT);
    const held = await api('POST', '/v1/certificates', admin, { productId: approval.id, csrPem: csrFor('held.test') });
    expect(held.status).toBe(202);
    const heldId = held.json.request_id as string;

    type Who = 'admin' | 'restA' | 'restB' | 'reader' | 'other';
    /** `ok`: how the route answers a caller it allows (a 404 where the call names nothing on purpose). */
    const routes: { name: string; run: (token: string) => Promise<HttpReply>; allowed: Who[]; ok: number }[] = [
      { name: 'GET /whoami', run: (t) => api('GET', '/v1/whoami', t), allowed: ['admin', 'restA', 'restB', 'reader'], ok: 200 },
      { name: 'GET /cas', run: (t) => api('GET', '/v1/cas', t), allowed: ['admin', 'restA', 'restB', 'reader'], ok: 200 },
      { name: 'GET /cas/:id', run: (t) => api('GET', `/v1/cas/${caId}`, t), allowed: ['admin', 'restA', 'restB', 'reader'], ok: 200 },
      { name: 'GET /cas/:id/chain', run: (t) => api('GET', `/v1/cas/${caId}/chain`, t), allowed: ['admin', 'restA', 'restB', 'reader'], ok: 200 },
      { name: 'GET /products', run: (t) => api('GET', '/v1/products', t), allowed: ['admin', 'restA', 'restB', 'reader'], ok: 200 },
      { name: 'GET /certificates', run: (t) => api('GET', '/v1/certificates', t), allowed: ['admin', 'restA', 'restB', 'reader'], ok: 200 },
      // Product binding holds for reads too: B's credential does not see A's certificate.
      { name: 'GET /certificates/:id', run: (t) => api('GET', `/v1/certificates/${certId}`, t), allowed: ['admin', 'restA', 'reader'], ok: 200 },
      { name: 'POST /certificates under A', run: (t) => api('POST', '/v1/certificates', t, { productId: productA, csrPem: csrFor('a.test') }), allowed: ['admin', 'restA'], ok: 201 },
      { name: 'POST /certificates under B', run: (t) => api('POST', '/v1/certificates', t, { productId: productB, csrPem: csrFor('b.test') }), allowed: ['admin', 'restB'], ok: 201 },
      { name: 'POST /certificates/:id/renew', run: (t) => api('POST', `/v1/certificates/${certId}/renew`, t, { csrPem: csrFor('matrix.test') }), allowed: ['admin', 'restA'], ok: 201 },
      { name: 'POST /certificates/:id/revoke', run: (t) => api('POST', `/v1/certificates/${certId}/revoke`, t, { reason: 'certificateHold' }), allowed: ['admin'], ok: 200 },
      { name: 'POST /certificates/:id/reinstate', run: (t) => api('POST', `/v1/certificates/${certId}/reinstate`, t, {}), allowed: ['admin'], ok: 200 },
      // The held request is under neither A nor B.
      { name: 'GET /requests/:id', run: (t) => api('GET', `/v1/requests/${heldId}`, t), allowed: ['admin', 'reader'], ok: 200 },
      { name: 'POST /requests/:id/approve', run: (t) => api('POST', '/v1/requests/00000000-0000-0000-0000-000000000000/approve', t, {}), allowed: ['admin'], ok: 404 },
      { name: 'POST /requests/:id/reject', run: (t) => api('POST', '/v1/requests/00000000-0000-0000-0000-000000000000/reject', t, {}), allowed: ['admin'], ok: 404 },
      { name: 'GET /credentials', run: (t) => api('GET', '/v1/credentials', t), allowed: ['admin'], ok: 200 },
      { name: 'POST /credentials', run: (t) => api('POST', '/v1/credentials', t, { type: 'scep', products: '*' }), allowed: ['admin'], ok: 201 },
      { name: 'GET /credentials/:id', run: (t) => api('GET', `/v1/credentials/${restA.id}`, t), allowed: ['admin'], ok: 200 },
      { name: 'POST /credentials/:id/rotate', run: (t) => api('POST', '/v1/credentials/0000000000000000/rotate', t, {}), allowed: ['admin'], ok: 404 },
      { name: 'POST /credentials/:id/revoke', run: (t) => api('POST', '/v1/credentials/0000000000000000/revoke', t, {}), allowed: ['admin'], ok: 404 },
      { name: 'GET /audit', run: (t) => api('GET', '/v1/audit', t), allowed: ['admin'], ok: 200 },
      { name: 'GET /audit/verify', run: (t) => api('GET', '/v1/audit/verify', t), allowed: ['admin'], ok: 200 },
    ];
    const callers: [Who, string][] = [
      ['admin', admin],
      ['restA', restA.secret],
      ['restB', restB.secret],
      ['reader', reader.secret],
      ...others.map((o) => ['other', o.secret] as [Who, string]),
    ];
    const seen: string[] = [];
    for (const route of routes) {
      for (const [who, token] of callers) {
        const res = await route.run(token);
        // An EST password, an EAB key, a SCEP challenge or a CMP secret is no REST credential at all: 401.
        const expected = who === 'other' ? 'unauthenticated' : route.allowed.includes(who) ? 'allowed' : 'forbidden';
        // Each answer exactly: the route's own status when allowed, 401 or 403 with a reason when not;
        // a 500 or a 404 is reported as what it is, not counted as allowed.
        const want = expected === 'unauthenticated' ? 401 : expected === 'forbidden' ? 403 : route.ok;
        const explained = expected === 'allowed' || (typeof res.json.error === 'string' && res.json.error !== '');
        if (res.status !== want || !explained) seen.push(`${route.name} as ${who}: status ${res.status} ${String(res.json.error ?? '')} (expected ${expected}: ${want}${explained ? '' : ' with an error'})`);
        else seen.push(`${route.name} as ${who}: ${expected}`);
      }
    }
    expect(seen.filter((line) => line.includes('expected'))).toEqual([]);
    // That every route is covered by permission and scope is test/rest.permissions.test.ts's job.
    // The allowed calls did what they say.
    expect((await api('GET', `/v1/requests/${heldId}`, admin)).json.status).toBe('pending_approval');
  });

  it('refuses a caller outside the IP allowlist, and records why', async () => {
    const pinned = await create({ type: 'rest', products: '*', permissions: ['read:*'], allowIps: ['127.0.0.1/32', '::1'] });
    expect((await api('GET', '/v1/whoami', pinned.secret, undefined, '127.0.0.1')).status).toBe(200);
    const refused = await api('GET', '/v1/whoami', pinned.secret, undefined, '127.0.0.2');
    expect(refused.status).toBe(401);
    expect(refused.json.error).toMatch(/address/);
    const audit = await api('GET', `/v1/audit?action=auth.refused&target=${pinned.id}`, admin);
    expect(audit.json.entries).toEqual([expect.objectContaining({ actor: pinned.id, source_ip: '127.0.0.2', outcome: 'refused', detail: expect.objectContaining({ reason: 'ipNotAllowed' }) })]);
    expect(JSON.stringify(audit.json)).not.toContain(pinned.secret.slice(20));
  });

  it('trades a client id and secret for a bearer token that works like the key and dies with it', async () => {
    const client = await create({ type: 'rest', products: '*', permissions: ['read:*'] });
    const bare = client.secret.slice(`cg_${client.id}_`.length);
    const got = await api('POST', '/v1/auth/token', null, { clientId: client.id, secret: bare });
    expect(got.status, JSON.stringify(got.json)).toBe(200);
    expect(got.json).toMatchObject({ token_type: 'Bearer' });
    const token = got.json.token as string;
    expect((got.json.exp as number) - Date.now() / 1000).toBeGreaterThan(800);
    expect((await api('GET', '/v1/whoami', token)).json).toMatchObject({ apiKey: { id: client.id } });
    // The whole key as printed works too; a wrong secret, another type's id or nothing do not.
    expect((await api('POST', '/v1/auth/token', null, { clientId: client.id, secret: client.secret })).status).toBe(200);
    expect((await api('POST', '/v1/auth/token', null, { clientId: client.id, secret: 'x'.repeat(43) })).status).toBe(401);
    const est = await create({ type: 'est', products: '*' });
    expect((await api('POST', '/v1/auth/token', null, { clientId: est.id, secret: est.secret })).status).toBe(401);
    expect((await api('POST', '/v1/auth/token', null, {})).status).toBe(400);

    // Tampered: another payload under the same signature, a flipped signature, another key, expired.
    const [h, p, s] = token.split('.') as [string, string, string];
    const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: admin.slice(3, 19) })).toString('base64url');
    expect((await api('GET', '/v1/whoami', `${h}.${forgedPayload}.${s}`)).status).toBe(401);
    expect((await api('GET', '/v1/whoami', `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`)).status).toBe(401);
    const otherKey = await new TokenIssuer('another-master-key-entirely-000', 900).mint({ sub: client.id, sv: 1 });
    expect((await api('GET', '/v1/whoami', otherKey.token)).status).toBe(401);
    const expired = await new TokenIssuer(TEST_MASTER_KEY, -120).mint({ sub: client.id, sv: 1 });
    const late = await api('GET', '/v1/whoami', expired.token);
    expect(late.status).toBe(401);
    expect(late.json.error).toMatch(/expired/);

    // Revoked: the token stops on its very next use.
    expect((await api('POST', `/v1/credentials/${client.id}/revoke`, admin, {})).status).toBe(200);
    expect((await api('GET', '/v1/whoami', token)).status).toBe(401);
    expect((await api('GET', '/v1/whoami', client.secret)).status).toBe(401);
  });

  it('refuses a credential past its expiry', async () => {
    const expiring = await create({ type: 'rest', products: '*', permissions: ['read:*'], expiresAt: new Date(clock.now() + 1500).toISOString() });
    expect((await api('GET', '/v1/whoami', expiring.secret)).status).toBe(200);
    clock.advance(1500);
    expect((await api('GET', '/v1/whoami', expiring.secret)).status).toBe(401);
    expect((await api('GET', `/v1/credentials/${expiring.id}`, admin)).json.status).toBe('expired');
  });

  it('rotates: without grace the old secret stops at once; with grace it works until the grace ends', async () => {
    const c = await create({ type: 'rest', products: '*', permissions: ['read:*'] });
    const token = (await api('POST', '/v1/auth/token', null, { clientId: c.id, secret: c.secret })).json.token as string;
    const now = await api('POST', `/v1/credentials/${c.id}/rotate`, admin, {});
    expect(now.status).toBe(200);
    const fresh = now.json.secret as string;
    expect(fresh).not.toBe(c.secret);
    expect((await api('GET', '/v1/whoami', c.secret)).status).toBe(401);
    expect((await api('GET', '/v1/whoami', token)).status).toBe(401);
    expect((await api('GET', '/v1/whoami', fresh)).status).toBe(200);

    const rotatedFrom = clock.now();
    const graced = await api('POST', `/v1/credentials/${c.id}/rotate`, admin, { graceSeconds: 2 });
    const newest = graced.json.secret as string;
    // Two seconds from the rotation, as an ISO timestamp.
    const graceEnd = graced.json.previous_secret_valid_until as string;
    expect(graceEnd).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(graceEnd)).toBeGreaterThanOrEqual(rotatedFrom + 2000 - 1);
    expect(Date.parse(graceEnd)).toBeLessThanOrEqual(clock.now() + 2000);
    expect((await api('GET', '/v1/whoami', fresh)).status).toBe(200);
    expect((await api('GET', '/v1/whoami', newest)).status).toBe(200);
    clock.advance(2_000);
    expect((await api('GET', '/v1/whoami', fresh)).status).toBe(401);
    expect((await api('GET', '/v1/whoami', newest)).status).toBe(200);
  });

  it('a revoked credential fails on its very next use in the process that revoked it', async () => {
    const c = await create({ type: 'rest', products: '*', permissions: ['read:*'] });
    expect((await api('GET', '/v1/whoami', c.secret)).status).toBe(200); // now cached
    await server.rt.credentials.revoke(c.id, CLI_CONTEXT);
    const res = await api('GET', '/v1/whoami', c.secret);
    expect(res.status).toBe(401);
    expect(res.json.error).toMatch(/revoked/);
  });

  it('counts uses and the last use', async () => {
    const c = await create({ type: 'rest', products: '*', permissions: ['read:*'] });
    for (let i = 0; i < 3; i++) expect((await api('GET', '/v1/whoami', c.secret)).status).toBe(200);
    await until(async () => (await api('GET', `/v1/credentials/${c.id}`, admin)).json.use_count === 3, 10_000, 'the uses were recorded');
    // The last of the three calls above, moments ago.
    const lastUsed = (await api('GET', `/v1/credentials/${c.id}`, admin)).json.last_used_at as string;
    expect(lastUsed).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(clock.now() - Date.parse(lastUsed)).toBeLessThan(15_000);
    expect(clock.now() - Date.parse(lastUsed)).toBeGreaterThanOrEqual(0);
  });

  it('lists with filters and pages', async () => {
    const page = await api('GET', '/v1/credentials?type=rest&status=active&page=1&pageSize=2', admin);
    expect(page.status).toBe(200);
    expect(page.json.credentials).toHaveLength(2);
    expect(page.json).toMatchObject({ page: 1, pageSize: 2 });
    expect(page.json.totalPages).toBe(Math.ceil((page.json.total as number) / 2));
    expect((page.json.credentials as { type: string; status: string }[]).every((c) => c.type === 'rest' && c.status === 'active')).toBe(true);
    const revoked = await api('GET', '/v1/credentials?status=revoked', admin);
    expect((revoked.json.credentials as { status: string }[]).every((c) => c.status === 'revoked')).toBe(true);
    expect((revoked.json.total as number) > 0).toBe(true);
  });

  it('answers bad input with a 400 that names the field, never a 5xx', async () => {
    const cases: [unknown, RegExp][] = [
      [{ type: 'rest', products: ['no-such-product'] }, /products/],
      [{ type: 'est', products: '*', allowIps: [''] }, /allowIps\[0\]/],
      [{ type: 'est', products: '*', allowIps: ['10.0.0.0/33'] }, /allowIps\[0\]/],
      [{ type: 'est', products: '*', allowIps: ['10.0.0.300'] }, /allowIps\[0\]/],
      [{ type: 'est', products: '*', allowIps: ['127.0.0.1', 'fe80::/200'] }, /allowIps\[1\]/],
      [{ type: 'acme', products: '*', expiresAt: '2020-01-01T00:00:00Z' }, /expiresAt/],
      [{ type: 'telnet', products: '*' }, /type.*expected one of "scep"\|"rest"\|"acme"\|"est"\|"cmp"/],
      [{ type: 'scep', products: [] }, /products/],
      [{ type: 'scep' }, /products/],
      [{ type: 'est', products: '*', name: 'has space' }, /name/],
      [{ type: 'rest', products: '*' }, /permissions/],
    ];
    for (const [body, field] of cases) {
      const res = await api('POST', '/v1/credentials', admin, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error, JSON.stringify(body)).toMatch(field);
    }
    const inUrl = await api('GET', `/v1/whoami?api_key=${admin}`, null);
    expect(inUrl.status).toBe(400);
    expect(inUrl.json.error).toMatch(/api_key/);
    expect((await api('POST', '/v1/credentials/0000000000000000/rotate', admin, { graceSeconds: -1 })).status).toBe(400);
    expect((await api('POST', '/v1/credentials/0000000000000000/rotate', admin, {})).status).toBe(404);
  });
});
