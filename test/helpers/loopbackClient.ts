// HTTP(S) requests from a chosen loopback source address (127.0.0.0/8), to loopback listeners only.
// A suite that must see one audit entry per refused attempt gives each attempt a source of its own:
// the gateway audits the first refusal per source and reason in a window one by one and the rest as
// a count, so attempts from one address would hide behind each other.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { RawReply, Transport } from './acmeClient.js';

export interface LoopbackCall {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** 127.x.y.z to connect from (default: the system's choice). */
  from?: string;
  /** Trust anchors (PEM) for https. */
  ca?: string;
  /** A TLS client certificate and its key (PEM). */
  cert?: string;
  key?: string;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/;

export function loopbackRequest(url: string, o: LoopbackCall = {}): Promise<RawReply> {
  const target = new URL(url);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  // Never anywhere else, whatever a test computes.
  if (!LOOPBACK.test(host)) return Promise.reject(new Error(`refusing to connect to ${host}: loopback only`));
  if (o.from !== undefined && !/^127\.\d+\.\d+\.\d+$/.test(o.from)) return Promise.reject(new Error(`source ${o.from} is not a 127/8 address`));
  const body = o.body === undefined ? undefined : Buffer.from(o.body);
  const https = target.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(
      {
        host,
        port: target.port || (https ? 443 : 80),
        path: `${target.pathname}${target.search}`,
        method: o.method ?? (body ? 'POST' : 'GET'),
        agent: false,
        headers: { ...(body ? { 'content-length': String(body.length) } : {}), ...o.headers },
        ...(o.from ? { localAddress: o.from } : {}),
        ...(https ? { ca: o.ca, servername: isIP(host) ? '' : host, ...(o.cert ? { cert: o.cert, key: o.key } : {}) } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers as IncomingHttpHeaders, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** An ACME transport whose requests come from whatever source `from()` names at the time. */
export function loopbackTransport(ca: string, from: () => string | undefined): Transport {
  return (url, init) => {
    const source = from();
    return loopbackRequest(url, { method: init.method, ...(init.headers ? { headers: init.headers } : {}), ...(init.body !== undefined ? { body: init.body } : {}), ca, ...(source ? { from: source } : {}) });
  };
}
