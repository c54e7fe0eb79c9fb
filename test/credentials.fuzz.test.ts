// Whatever a stranger sends as a credential, an allowlist entry or a request body, the answer is
// a refusal in the protocol's form: never a throw, never a 5xx.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CidrError, ipAllowed, parseCidr } from '../src/auth/ipAllowlist.js';
import type { RunningServer } from '../src/httpServer.js';
import { startGateway } from './helpers/gateway.js';
import { httpRequest } from './helpers/http.js';

const v4 = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

describe('IP allowlists', () => {
  it('parses any text to a block or a CidrError, nothing else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.ipV4(), fc.ipV6(), fc.tuple(fc.ipV4(), fc.integer({ min: -5, max: 40 })).map(([a, p]) => `${a}/${p}`)), (text) => {
        try {
          const c = parseCidr(text);
          expect(c.prefix).toBeLessThanOrEqual(c.family === 'ipv4' ? 32 : 128);
        } catch (e) {
          expect(e).toBeInstanceOf(CidrError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('lets in exactly the IPv4 addresses inside the block (checked against integer arithmetic)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (net, prefix, addr) => {
        const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
        const inside = ((addr & mask) >>> 0) === ((net & mask) >>> 0);
        expect(ipAllowed([`${v4(net)}/${prefix}`], v4(addr))).toBe(inside);
        // A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d.
        expect(ipAllowed([`${v4(net)}/${prefix}`], `::ffff:${v4(addr)}`)).toBe(inside);
      }),
      { numRuns: 2000 },
    );
    expect(ipAllowed(['2001:db8::/32'], '2001:db8:1::5')).toBe(true);
    expect(ipAllowed(['2001:db8::/32'], '2001:db9::5')).toBe(false);
    expect(ipAllowed(['127.0.0.1'], null)).toBe(false);
    expect(ipAllowed([], null)).toBe(true);
  });
});

describe('strangers at the credential check and the credential routes', () => {
  let server: RunningServer;
  let admin: string;

  beforeAll(async () => {
    ({ server, adminToken: admin } = await startGateway({ worker: 'none' }));
  });

  afterAll(async () => {
    await server?.close();
  });

  it('refuses any presented credential without throwing', async () => {
    const { credentials } = server.rt;
    const context = { protocol: 'fuzz', sourceIp: '192.0.2.1' };
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string().map((bearer) => ({ type: 'rest' as const, bearer })),
          fc.tuple(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 16, maxLength: 16 }), fc.base64String()).map(([id, s]) => ({ type: 'rest' as const, bearer: `cg_${id}_${s}` })),
          fc.tuple(fc.base64String(), fc.base64String(), fc.base64String()).map((p) => ({ type: 'rest' as const, bearer: p.join('.').replace(/[+/=]/g, 'A') })),
          fc.record({ type: fc.constant('est' as const), username: fc.string(), password: fc.string() }),
          fc.record({ type: fc.constant('acme' as const), kid: fc.string(), verify: fc.constant(() => true) }),
          fc.record({ type: fc.constant('cmp' as const), reference: fc.string(), macMatches: fc.constant(() => true) }),
        ),
        async (presented) => {
          const result = await credentials.authenticate(presented, context);
          expect(result.ok).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
    const scep = await credentials.authenticate({ type: 'scep', challenge: 'x' }, context);
    expect(scep).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('answers any body on POST /v1/credentials and /v1/auth/token with a 4xx or a 201, never a 5xx', async () => {
    const post = async (path: string, bearer: string | null, body: string) =>
      (await httpRequest(`${server.httpUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, bearer, body })).status;
    const bodies = fc.oneof(
      fc.json(),
      fc.string(),
      fc.record(
        {
          type: fc.constantFrom('rest', 'acme', 'est', 'scep', 'cmp', 'x'),
          products: fc.oneof(fc.constant('*'), fc.array(fc.string()), fc.anything()),
          name: fc.string(),
          allowIps: fc.array(fc.oneof(fc.string(), fc.ipV4(), fc.ipV6())),
          expiresAt: fc.oneof(fc.string(), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())),
          permissions: fc.array(fc.string()),
        },
        { requiredKeys: [] },
      ).map((o) => JSON.stringify(o)),
    );
    await fc.assert(
      fc.asyncProperty(bodies, async (body) => {
        const created = await post('/v1/credentials', admin, body);
        expect([201, 400]).toContain(created);
        const token = await post('/v1/auth/token', null, body);
        // No body here carries a clientId (or client_id) and a secret: malformed, refused before any lookup.
        expect(token, body).toBe(400);
      }),
      { numRuns: 200 },
    );
  });
});
