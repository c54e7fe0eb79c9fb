// One delivery attempt: the event's payload POSTed to the subscriber's URL, signed as the
// Standard Webhooks specification says (webhook-id, webhook-timestamp, webhook-signature), to an
// address checked right before the connection (urlPolicy.ts).
import http from 'node:http';
import https from 'node:https';
import { Webhook } from 'standardwebhooks';
import type { AddressPolicy } from '../dcv/addressPolicy.js';
import { pinnedLookup } from '../dcv/addressPolicy.js';
import { resolveChecked } from './urlPolicy.js';

export interface DeliveryResult {
  /** Null when no answer came (refused address, connection error, timeout). */
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/** What the receiver's answer may take up in the log. */
const ERROR_TEXT_MAX = 500;

/** The headers of one signed message; `sentAt` is real time, which the receiver checks against its own clock. */
export function signedHeaders(secret: string, messageId: string, sentAt: Date, body: string): Record<string, string> {
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(messageId, sentAt, body),
  };
}

export async function deliver(target: string, headers: Record<string, string>, body: string, policy: AddressPolicy, timeoutMs: number): Promise<DeliveryResult> {
  const started = performance.now();
  const took = (): number => Math.round(performance.now() - started);
  const url = new URL(target);
  let address: string;
  try {
    address = await resolveChecked(url.hostname, policy);
  } catch (e) {
    return { statusCode: null, error: (e as Error).message.slice(0, ERROR_TEXT_MAX), durationMs: took() };
  }
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<DeliveryResult>((resolve) => {
    const req = client.request(
      url,
      {
        method: 'POST',
        agent: agentFor(url, address),
        headers: { 'content-type': 'application/json', 'user-agent': 'certgate-webhooks', 'content-length': String(Buffer.byteLength(body)), ...headers },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < ERROR_TEXT_MAX) chunks.push(c);
          size += c.length;
        });
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const ok = status >= 200 && status < 300;
          resolve({ statusCode: status, error: ok ? null : `HTTP ${status}: ${Buffer.concat(chunks).toString('utf8').slice(0, ERROR_TEXT_MAX)}`.trim(), durationMs: took() });
        });
        res.on('error', (e) => resolve({ statusCode: status(res.statusCode), error: e.message, durationMs: took() }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve({ statusCode: null, error: e.message.slice(0, ERROR_TEXT_MAX), durationMs: took() }));
    req.end(body);
  });
}

const status = (code: number | undefined): number | null => code ?? null;

/**
 * Kept-alive connections per receiver and checked address: a receiver usually takes many
 * deliveries in a row, and a new TCP (and TLS) connection for each costs both ends more than the
 * request. Keyed by the address too, so a connection is only reused for the address just checked.
 */
const agents = new Map<string, http.Agent>();
const AGENTS_MAX = 256;

function agentFor(url: URL, address: string): http.Agent {
  const key = `${url.protocol}//${url.host}|${address}`;
  let agent = agents.get(key);
  if (!agent) {
    if (agents.size >= AGENTS_MAX) {
      const [oldestKey, oldest] = agents.entries().next().value as [string, http.Agent];
      oldest.destroy();
      agents.delete(oldestKey);
    }
    const options = { keepAlive: true, maxSockets: 16, lookup: pinnedLookup(address) as never };
    agent = url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
    agents.set(key, agent);
  }
  return agent;
}
