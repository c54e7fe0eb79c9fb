// Every front-end answers the same failures (src/core/failure.ts) in its own wire form: a store
// that cannot be reached (503 with Retry-After), and a request the HTTP layer cannot read (its 4xx
// and one sentence). The store is made to fail where the product lookup of a label no cached
// product has must read it; test/outage.test.ts stops a real PostgreSQL under REST and OCSP.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DependencyUnavailableError } from '../src/core/unavailable.js';
import { startEstEnv, type EstEnv } from './helpers/est.js';

describe('every front-end renders one classification of failures', () => {
  let env: EstEnv;
  let http: string;
  beforeAll(async () => {
    env = await startEstEnv({ products: {}, users: { u: '*' } });
    http = env.server.httpUrl as string;
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await env?.close();
  });

  it('answers a store that is down with 503 and Retry-After, in each protocol\'s form', async () => {
    const list = vi.spyOn(env.server.rt.store.products, 'list').mockRejectedValue(new DependencyUnavailableError('store', 'the test stopped it'));
    try {
      const rest = await fetch(`${http}/v1/products`, { headers: { authorization: `Bearer ${env.adminToken}` } });
      expect(rest.status).toBe(503);
      expect(rest.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await rest.json()).toEqual({ error: 'service temporarily unavailable, try again later' });

      // ACME and EST are served over HTTPS only.
      const acme = await env.call('/acme/no-such-label/directory');
      expect(acme.status).toBe(503);
      expect(acme.headers['retry-after']).toMatch(/^\d+$/);
      expect(acme.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(acme.text)).toMatchObject({ type: 'urn:ietf:params:acme:error:serverInternal', status: 503, detail: 'service temporarily unavailable, try again later' });

      const scep = await fetch(`${http}/scep/no-such-label?operation=GetCACaps`);
      expect(scep.status).toBe(503);
      expect(scep.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(scep.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await scep.text()).toBe('service temporarily unavailable, try again later\n');

      const est = await env.call('/.well-known/est/no-such-label/cacerts');
      expect(est.status).toBe(503);
      expect(est.headers['retry-after']).toMatch(/^\d+$/);
      expect(est.headers['content-type']).toMatch(/^text\/plain/);
      expect(est.text.trim()).toBe('service temporarily unavailable, try again later');
      expect(list).toHaveBeenCalled();
    } finally {
      list.mockRestore();
    }
  });

  it('answers a request it cannot read with its 4xx and the same sentence, in each protocol\'s form', async () => {
    const broken = '{"csr": ';
    const rest = await fetch(`${http}/v1/certificates`, { method: 'POST', headers: { authorization: `Bearer ${env.adminToken}`, 'content-type': 'application/json' }, body: broken });
    expect(rest.status).toBe(400);
    expect(await rest.json()).toEqual({ error: 'the request body is not valid JSON' });

    const acme = await env.call('/acme/new-account', { headers: { 'content-type': 'application/jose+json' }, body: broken });
    expect(acme.status).toBe(400);
    expect(acme.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(acme.text)).toMatchObject({ type: 'urn:ietf:params:acme:error:malformed', status: 400, detail: 'the request body is not valid JSON' });

    const scep = await fetch(`${http}/scep?operation=PKIOperation`, { method: 'POST', headers: { 'content-type': 'application/x-pki-message' }, body: Buffer.alloc(256 * 1024 + 1) });
    expect(scep.status).toBe(413);
    expect(await scep.text()).toBe(`the request body is larger than ${256 * 1024} bytes\n`);

    const auth = Buffer.from(`${env.users.u?.username}:${env.users.u?.password}`).toString('base64');
    const est = await env.call('/.well-known/est/simpleenroll', { body: 'A'.repeat(64 * 1024 + 1), headers: { 'content-type': 'application/pkcs10', authorization: `Basic ${auth}` } });
    expect(est.status).toBe(413);
    expect(est.text.trim()).toBe(`the request body is larger than ${64 * 1024} bytes`);

    const status = await fetch(`${http}/ca/%ff.crt`);
    expect(status.status).toBe(400);
    expect(status.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await status.text()).toBe('the request path is not valid percent-encoded UTF-8\n');
  });
});
