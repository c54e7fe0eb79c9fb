// A fake upstream ACME server on loopback for what Pebble cannot show (rate limits, ARI): HTTPS
// under a TLS CA made with openssl, a directory, nonces and account registration answered here;
// every other request goes to the test's `route`, which answers it (or leaves it to a 404).
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { makeTlsCertificate } from '../harness/pebble.js';

export interface FakeReply {
  json(status: number, body: unknown, headers?: Record<string, string>): void;
  /** An RFC 8555 problem document of type urn:ietf:params:acme:error:<type>. */
  problem(status: number, type: string, detail: string, headers?: Record<string, string>): void;
  raw: ServerResponse;
}

export interface FakeUpstream {
  /** https://127.0.0.1:<port> */
  base: string;
  directoryUrl: string;
  /** The TLS CA (also usable as an issuing CA: CA:TRUE, keyCertSign), PEM file and its key. */
  caFile: string;
  caKeyFile: string;
  stop(): Promise<void>;
}

/** `directory`: members added to the directory (e.g. renewalInfo), given the server's base URL. */
export async function startFakeUpstream(
  dir: string,
  route: (req: IncomingMessage, body: Buffer, reply: FakeReply, base: string) => boolean,
  directory: (base: string) => Record<string, string> = () => ({}),
): Promise<FakeUpstream> {
  const tls = makeTlsCertificate(dir);
  let nonce = 0;
  let base = '';
  const server: Server = createServer({ key: readFileSync(tls.keyFile), cert: readFileSync(tls.certFile) }, (req, res) => {
    res.setHeader('Replay-Nonce', `nonce-${++nonce}`);
    const reply: FakeReply = {
      json: (status, body, headers = {}) => res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body)),
      problem: (status, type, detail, headers = {}) =>
        res.writeHead(status, { 'content-type': 'application/problem+json', ...headers }).end(JSON.stringify({ type: `urn:ietf:params:acme:error:${type}`, detail })),
      raw: res,
    };
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/dir') reply.json(200, { newNonce: `${base}/nonce`, newAccount: `${base}/account`, newOrder: `${base}/order`, revokeCert: `${base}/revoke`, ...directory(base) });
      else if (req.url === '/nonce') res.writeHead(200).end();
      else if (req.url === '/account') reply.json(201, { status: 'valid' }, { location: `${base}/acct/1` });
      else if (!route(req, Buffer.concat(chunks), reply, base)) reply.problem(404, 'malformed', 'no such resource');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    directoryUrl: `${base}/dir`,
    caFile: tls.caFile,
    caKeyFile: join(dir, 'tls-ca.key'),
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
