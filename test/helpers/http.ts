// The tests' one HTTP(S) client: JSON or raw bodies, a bearer key, a client certificate, a chosen
// loopback source address; to loopback listeners only. node:http rather than fetch, because fetch
// can neither present a client certificate (EST) nor pick the source address.
// A suite that must see one audit entry per refused attempt gives each attempt a source of its own:
// the gateway audits the first refusal per source and reason in a window one by one and the rest as
// a count, so attempts from one address would hide behind each other.
import { request as nodeHttpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as nodeHttpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { RawReply, Transport } from './acmeClient.js';

export interface HttpCall {
  /** Default: POST with a body, GET without. */
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Sent as JSON (with its content type) instead of `body`. */
  json?: unknown;
  /** Authorization: Bearer <key>. */
  bearer?: string | null;
  /** 127.x.y.z to connect from (default: the system's choice). */
  from?: string;
  /** Trust anchors (PEM) for https. */
  ca?: string;
  /** The TLS name to ask for and check (default: the URL's host name, none for an IP address). */
  servername?: string;
  /** A TLS client certificate and its key (PEM). */
  cert?: string;
  key?: string;
}

export interface HttpReply extends RawReply {
  /** The body as UTF-8. */
  text: string;
  /** The body parsed as a JSON object; empty when it is not JSON (PEM, DER, nothing). */
  json: Record<string, unknown>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/;

export function httpRequest(url: string, o: HttpCall = {}): Promise<HttpReply> {
  const target = new URL(url);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  // Never anywhere else, whatever a test computes.
  if (!LOOPBACK.test(host)) return Promise.reject(new Error(`refusing to connect to ${host}: loopback only`));
  if (o.from !== undefined && !/^127\.\d+\.\d+\.\d+$/.test(o.from)) return Promise.reject(new Error(`source ${o.from} is not a 127/8 address`));
  const raw = o.json !== undefined ? JSON.stringify(o.json) : o.body;
  const body = raw === undefined ? undefined : Buffer.from(raw);
  const https = target.protocol === 'https:';
  const headers = {
    ...(o.bearer ? { authorization: `Bearer ${o.bearer}` } : {}),
    ...(o.json !== undefined ? { 'content-type': 'application/json' } : {}),
    ...(body ? { 'content-length': String(body.length) } : {}),
    ...o.headers,
  };
  return new Promise((resolve, reject) => {
    const req = (https ? nodeHttpsRequest : nodeHttpRequest)(
      {
        host,
        port: target.port || (https ? 443 : 80),
        path: `${target.pathname}${target.search}`,
        method: o.method ?? (body ? 'POST' : 'GET'),
        agent: false,
        headers,
        ...(o.from ? { localAddress: o.from } : {}),
        ...(https ? { ca: o.ca, servername: o.servername ?? (isIP(host) ? '' : host), ...(o.cert ? { cert: o.cert, key: o.key } : {}) } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const text = body.toString('utf8');
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // PEM, DER or empty
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers as IncomingHttpHeaders, body, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** node's headers as fetch's, for suites that read them with get(). */
export function headersOf(raw: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, v);
  }
  return headers;
}

/** One REST call with a bearer key: the status, the JSON body (empty when not JSON) and the headers. */
export async function restCall(base: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const reply = await httpRequest(`${base}${path}`, { method, bearer: token, ...(body !== undefined ? { json: body } : {}) });
  return { status: reply.status, json: reply.json, headers: headersOf(reply.headers) };
}

/** An ACME transport whose requests come from whatever source `from()` names at the time. */
export function loopbackTransport(ca: string, from: () => string | undefined): Transport {
  return (url, init) => {
    const source = from();
    return httpRequest(url, { method: init.method, ...(init.headers ? { headers: init.headers } : {}), ...(init.body !== undefined ? { body: init.body } : {}), ca, ...(source ? { from: source } : {}) });
  };
}
