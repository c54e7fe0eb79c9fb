// An upstream that rate limits: a fake ACME server on loopback answers the first new order with
// 429 and Retry-After, the request goes back on the queue and its order is placed again only after
// that delay; the upstream's refusal of the second then rejects the request with its detail.
import { createServer, type Server } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProductRecord } from '../src/core/types.js';
import { makeTlsCertificate } from './harness/pebble.js';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { restCall } from './helpers/http.js';
import { upstreamCaWithProduct } from './helpers/upstreamCa.js';
import { makeCsr, tempDir } from './helpers/openssl.js';
import { until } from './helpers/until.js';

const RETRY_AFTER_SECONDS = 2;

describe('an upstream ACME CA that asks to wait (Retry-After)', () => {
  const dir = tempDir('certgate-upstream-ra-');
  const tls = makeTlsCertificate(dir);
  const newOrders: number[] = [];
  let server: Server;
  let base: string;
  let gw: Gateway;
  let product: ProductRecord;
  let token: string;

  beforeAll(async () => {
    let nonce = 0;
    server = createServer({ key: readFileSync(tls.keyFile), cert: readFileSync(tls.certFile) }, (req, res) => {
      res.setHeader('Replay-Nonce', `nonce-${++nonce}`);
      const problem = (status: number, type: string, detail: string, headers: Record<string, string> = {}): void => {
        res.writeHead(status, { 'content-type': 'application/problem+json', ...headers }).end(JSON.stringify({ type: `urn:ietf:params:acme:error:${type}`, detail }));
      };
      req.resume();
      req.on('end', () => {
        if (req.url === '/dir') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ newNonce: `${base}/nonce`, newAccount: `${base}/account`, newOrder: `${base}/order`, revokeCert: `${base}/revoke` }));
        } else if (req.url === '/nonce') {
          res.writeHead(200).end();
        } else if (req.url === '/account') {
          res.writeHead(201, { 'content-type': 'application/json', location: `${base}/acct/1` }).end(JSON.stringify({ status: 'valid' }));
        } else if (req.url === '/order') {
          newOrders.push(performance.now());
          if (newOrders.length === 1) problem(429, 'rateLimited', 'too many new orders recently', { 'retry-after': String(RETRY_AFTER_SECONDS) });
          else problem(400, 'rejectedIdentifier', 'the upstream will not issue for wait.upstream.test');
        } else problem(404, 'malformed', 'no such resource');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

    gw = await startGateway({ dirPrefix: 'certgate-upstream-ra-gw-' });
    ({ product, token } = await upstreamCaWithProduct(gw, { name: 'fake', directory: `${base}/dir`, challenge: { type: 'http-01' }, caFile: tls.caFile, issuerChainPem: readFileSync(tls.caFile, 'utf8') }, 'upstream.test'));
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
    await new Promise((resolve) => server?.close(resolve));
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
});
