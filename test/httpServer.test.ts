// The listeners against slow clients (slowloris): a client that stalls in its TLS handshake, in its
// headers or in its body, or leaves a keep-alive connection idle, is disconnected after the
// configured time, on HTTP and HTTPS; a client that sends its request in time is answered.
// Loopback only.
import { once } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { until } from './helpers/until.js';

const HEADERS_MS = 400;
const REQUEST_MS = 800;
const KEEP_ALIVE_MS = 400;

let server: Gateway;
const endpoints: Record<'http' | 'https', { port: number }> = { http: { port: 0 }, https: { port: 0 } };

beforeAll(async () => {
  server = await startGateway({
    https: true,
    overrides: { httpHeadersTimeoutMs: HEADERS_MS, httpRequestTimeoutMs: REQUEST_MS, httpKeepAliveTimeoutMs: KEEP_ALIVE_MS },
  });
  endpoints.http.port = Number(new URL(server.baseUrl).port);
  endpoints.https.port = Number(new URL(server.httpsUrl as string).port);
});

afterAll(async () => {
  await server?.close();
});

interface Conversation {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  closed(): boolean;
}

/** A connection to 127.0.0.1 (TLS done, for https), recording what comes back and when it closes. */
async function open(scheme: 'http' | 'https'): Promise<Conversation> {
  const { port } = endpoints[scheme];
  const socket = scheme === 'https' ? connectTls({ host: '127.0.0.1', port, rejectUnauthorized: false }) : connectTcp({ host: '127.0.0.1', port });
  let text = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => void (text += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  socket.on('close', () => void (closed = true));
  await once(socket, scheme === 'https' ? 'secureConnect' : 'connect');
  return { socket, received: () => text, closed: () => closed };
}

/** Bound for a broken run only: a passing run waits until the server hangs up. */
const CUT_OFF_WITHIN_MS = 10_000;

describe.each(['http', 'https'] as const)('%s listener', (scheme) => {
  it('disconnects a client that sends half its headers and stalls, with 408', async () => {
    const c = await open(scheme);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    await until(c.closed, CUT_OFF_WITHIN_MS, 'the server closed the stalled connection');
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('disconnects a client that connects and never says a word', async () => {
    const c = await open(scheme);
    await until(c.closed, CUT_OFF_WITHIN_MS, 'the server closed the silent connection');
    expect(c.received()).not.toMatch(/^HTTP\/1\.1 200/);
  });

  it('disconnects a client that sends its headers but stalls in its body, with 408', async () => {
    const c = await open(scheme);
    c.socket.write('POST /v1/certificates HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"commonName":');
    await until(c.closed, CUT_OFF_WITHIN_MS, 'the server closed the connection stalled in its body');
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('answers a client that sends in time, then closes its idle keep-alive connection', async () => {
    const c = await open(scheme);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await until(() => /\r\n\r\n/.test(c.received()), CUT_OFF_WITHIN_MS, 'the answer came');
    expect(c.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(c.received()).toMatch(/keep-alive/i);
    await until(c.closed, CUT_OFF_WITHIN_MS, 'the idle keep-alive connection was closed');
  });
});

it('a TLS client that stalls in its handshake is disconnected', async () => {
  const socket = connectTcp({ host: '127.0.0.1', port: endpoints.https.port });
  let closed = false;
  socket.on('error', () => undefined);
  socket.on('close', () => void (closed = true));
  await once(socket, 'connect');
  // The first bytes of a ClientHello record header, then nothing.
  socket.write(Buffer.from([0x16, 0x03, 0x01]));
  await until(() => closed, CUT_OFF_WITHIN_MS, 'the server closed the stalled handshake');
});

it('reads the timeouts from the environment, and refuses a headers timeout longer than the request timeout', () => {
  const config = loadConfig({ env: { CERTGATE_HTTP_HEADERS_TIMEOUT_MS: '5000', CERTGATE_HTTP_REQUEST_TIMEOUT_MS: '20000', CERTGATE_HTTP_KEEP_ALIVE_TIMEOUT_MS: '7000' } });
  expect(config).toMatchObject({ httpHeadersTimeoutMs: 5_000, httpRequestTimeoutMs: 20_000, httpKeepAliveTimeoutMs: 7_000 });
  expect(loadConfig({ env: {} })).toMatchObject({ httpHeadersTimeoutMs: 10_000, httpRequestTimeoutMs: 30_000, httpKeepAliveTimeoutMs: 65_000 });
  expect(() => loadConfig({ env: { CERTGATE_HTTP_HEADERS_TIMEOUT_MS: '40000' } })).toThrow(ConfigError);
  expect(() => loadConfig({ env: { CERTGATE_HTTP_HEADERS_TIMEOUT_MS: '40000' } })).toThrow(/CERTGATE_HTTP_HEADERS_TIMEOUT_MS \(40000\) must not be longer than CERTGATE_HTTP_REQUEST_TIMEOUT_MS/);
  expect(() => loadConfig({ env: { CERTGATE_HTTP_HEADERS_TIMEOUT_MS: 'soon' } })).toThrow(/CERTGATE_HTTP_HEADERS_TIMEOUT_MS/);
});
