// The helpers every suite starts from: the config they get is validated as an operator's is, and
// the HTTP client sends what it is given, to loopback only.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config.js';
import { runningClock, testClock } from './helpers/clock.js';
import { TEST_MASTER_KEY, testConfig } from './helpers/gateway.js';
import { headersOf, httpRequest } from './helpers/http.js';

describe('testConfig', () => {
  it('gives each test a data dir of its own, the test master key, loopback and no HTTPS listener', () => {
    const a = testConfig();
    const b = testConfig();
    expect(a.dataDir).not.toBe(b.dataDir);
    expect(a).toMatchObject({ masterKey: TEST_MASTER_KEY, host: '127.0.0.1', httpPort: 0, httpsPort: 0, logLevel: 'silent' });
    expect(testConfig({ dataDir: a.dataDir, queueBackoffMs: 10 })).toMatchObject({ dataDir: a.dataDir, queueBackoffMs: 10 });
  });

  it('validates overrides as loadConfig does', () => {
    expect(() => testConfig({ masterKey: 'short' })).toThrow(ConfigError);
    expect(() => testConfig({ httpHeadersTimeoutMs: 5_000, httpRequestTimeoutMs: 1_000 })).toThrow(/must not be longer than/);
  });
});

describe('httpRequest', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    // Echoes what it got: method, path, headers and body.
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.setHeader('x-two', ['a', 'b']);
        res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), from: req.socket.remoteAddress }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('sends JSON with its content type and a bearer key, and parses the JSON answer', async () => {
    const reply = await httpRequest(`${base}/p?q=1`, { bearer: 'k', json: { a: 1 } });
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({ method: 'POST', url: '/p?q=1', body: '{"a":1}', headers: { authorization: 'Bearer k', 'content-type': 'application/json', 'content-length': '7' } });
    expect(JSON.parse(reply.text)).toEqual(reply.json);
    expect(headersOf(reply.headers).get('x-two')).toBe('a, b');
  });

  it('sends a raw body as it is, GETs without one, and lets given headers win', async () => {
    expect((await httpRequest(`${base}/`, { body: 'not json', headers: { 'content-type': 'text/plain' } })).json).toMatchObject({ method: 'POST', body: 'not json', headers: { 'content-type': 'text/plain' } });
    const get = await httpRequest(`${base}/`);
    expect(get.json).toMatchObject({ method: 'GET', body: '' });
    expect((get.json.headers as Record<string, string>).authorization).toBeUndefined();
  });

  it('connects from the 127/8 source it is given', async () => {
    expect((await httpRequest(`${base}/`, { from: '127.0.0.7' })).json.from).toMatch(/127\.0\.0\.7$/);
  });

  it('goes to loopback only, from loopback only', async () => {
    await expect(httpRequest('http://192.0.2.1/')).rejects.toThrow(/loopback only/);
    await expect(httpRequest('http://example.com/')).rejects.toThrow(/loopback only/);
    await expect(httpRequest(`${base}/`, { from: '10.0.0.1' })).rejects.toThrow(/not a 127\/8 address/);
  });
});

describe('test clocks', () => {
  it('testClock stands still until advanced, and only moves forward', () => {
    const clock = testClock(1_000);
    expect(clock.now()).toBe(1_000);
    clock.advance(250);
    expect(clock.now()).toBe(1_250);
    expect(clock.date()).toEqual(new Date(1_250));
    expect(() => clock.advance(-1)).toThrow(/only moves forward/);
    expect(() => clock.advance(Number.NaN)).toThrow(/only moves forward/);
    expect(clock.now()).toBe(1_250);
  });

  it('runningClock follows real time, plus what it was advanced by', () => {
    const clock = runningClock();
    const before = Date.now();
    clock.advance(60_000);
    const read = clock.now();
    expect(read).toBeGreaterThanOrEqual(before + 60_000);
    expect(read).toBeLessThanOrEqual(Date.now() + 60_000);
    expect(() => clock.advance(-1)).toThrow(/only moves forward/);
  });
});
