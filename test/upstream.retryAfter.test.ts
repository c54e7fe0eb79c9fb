// An upstream that rate limits, or fails: a fake ACME server on loopback answers the first new order with
// 429 and Retry-After, the request goes back on the queue and its order is placed again only after
// that delay; the upstream's refusal of the second then rejects the request with its detail.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProductRecord } from '../src/core/types.js';
import { startFakeUpstream, type FakeUpstream } from './helpers/fakeUpstream.js';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { restCall } from './helpers/http.js';
import { upstreamCaWithProduct } from './helpers/upstreamCa.js';
import { makeCsr, tempDir } from './helpers/openssl.js';
import { until } from './helpers/until.js';

const RETRY_AFTER_SECONDS = 2;

describe('an upstream ACME CA that asks to wait (Retry-After)', () => {
  const dir = tempDir('certgate-upstream-ra-');
  const newOrders: number[] = [];
  let downOrders = 0;
  let upstream: FakeUpstream;
  let gw: Gateway;
  let product: ProductRecord;
  let token: string;

  beforeAll(async () => {
    upstream = await startFakeUpstream(dir, (req, body, reply) => {
      if (req.url !== '/order') return false;
      // Orders for down.upstream.test meet an upstream that keeps failing on its side.
      const payload = Buffer.from((JSON.parse(body.toString('utf8')) as { payload: string }).payload, 'base64url').toString('utf8');
      if (payload.includes('down.upstream.test')) {
        downOrders++;
        reply.problem(500, 'serverInternal', 'the upstream is having a bad day');
        return true;
      }
      newOrders.push(performance.now());
      if (newOrders.length === 1) reply.problem(429, 'rateLimited', 'too many new orders recently', { 'retry-after': String(RETRY_AFTER_SECONDS) });
      else reply.problem(400, 'rejectedIdentifier', 'the upstream will not issue for wait.upstream.test');
      return true;
    });
    gw = await startGateway({ dirPrefix: 'certgate-upstream-ra-gw-', overrides: { queueAttempts: 2, issueWaitMs: 500 } });
    ({ product, token } = await upstreamCaWithProduct(gw, { name: 'fake', directory: upstream.directoryUrl, challenge: { type: 'http-01' }, caFile: upstream.caFile, issuerChainPem: readFileSync(upstream.caFile, 'utf8') }, 'upstream.test'));
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
    await upstream?.stop();
  });

  it('puts the request back on the queue for the delay, then rejects it with the upstream\'s refusal', async () => {
    const { csrPem } = makeCsr(dir, { subject: '/CN=wait.upstream.test', san: ['DNS:wait.upstream.test'] });
    const res = await restCall(gw.baseUrl, token, 'POST', '/v1/certificates', { productId: product.id, csrPem });
    const requestId = res.json.request_id as string;
    expect(requestId, JSON.stringify(res.json)).toBeTruthy();
    await until(async () => (await gw.rt.store.requests.get(requestId))?.status === 'rejected', 30_000, 'the request is rejected');
    expect(newOrders).toHaveLength(2);
    const [first, second] = newOrders as [number, number];
    // Lower bound only: the second order waited for Retry-After, not for the queue's 50 ms backoff.
    expect(second - first).toBeGreaterThanOrEqual(RETRY_AFTER_SECONDS * 1000 - 100);
    const request = await gw.rt.store.requests.get(requestId);
    expect(request?.rejection).toMatchObject({ code: 'rejectedIdentifier', rule: 'upstream', detail: 'the upstream will not issue for wait.upstream.test' });
  }, 60_000);

  it('an upstream failing on its side is retried; when the retries run out the request stays queued for the sweep, not failed', async () => {
    const { csrPem } = makeCsr(dir, { subject: '/CN=down.upstream.test', san: ['DNS:down.upstream.test'] });
    const res = await restCall(gw.baseUrl, token, 'POST', '/v1/certificates', { productId: product.id, csrPem });
    const requestId = res.json.request_id as string;
    expect(requestId, JSON.stringify(res.json)).toBeTruthy();
    // Not an error of the request: REST answers that it is still queued.
    expect(res.status).toBe(202);
    expect(await gw.rt.queue.waitFor(requestId, 30_000)).toBe('failed');
    expect(downOrders).toBe(2);
    expect((await gw.rt.store.requests.get(requestId))?.status).toBe('queued');
  }, 60_000);
});

