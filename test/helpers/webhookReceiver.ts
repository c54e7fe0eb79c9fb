// A subscriber's endpoint on 127.0.0.1: records every delivery with its headers and raw body,
// verifies the signature with the standardwebhooks library (as a subscriber would), and answers
// with the status the test sets (503 to play a receiver that is down).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/**
 * Where subscriptions point that no test means to receive: loopback, a port nobody listens on
 * (discard), so a delivery an issuance triggers fails here and goes nowhere else. The gateway
 * must allow private addresses (webhookAllowPrivate) to accept it.
 */
export const NOWHERE = 'http://127.0.0.1:9';

export interface ReceivedDelivery {
  id: string;
  timestamp: string;
  body: string;
  payload: { type: string; timestamp: string; data: Record<string, unknown> };
  /** Whether the signature verified under the secret the test gave (setSecret). */
  verified: boolean;
  /** What this receiver answered. */
  answered: number;
  /** Who sent it, when the test asked (see startWebhookReceiver's `identify`). */
  from?: string;
}

export interface WebhookReceiver {
  url: string;
  received: ReceivedDelivery[];
  /** Deliveries answered 2xx. */
  accepted(): ReceivedDelivery[];
  setSecret(secret: string): void;
  /** What to answer from now on, and after how long (a slow receiver keeps deliveries in flight). */
  answer(status: number, delayMs?: number): void;
  /** Deliveries whose body arrived and whose answer has not been sent yet. */
  inFlight(): ReceivedDelivery[];
  stop(): Promise<void>;
}

/**
 * `identify` names the sender of a request from its source port, asked while the connection is
 * open (a test that runs several sender processes tells them apart).
 */
export async function startWebhookReceiver(path = '/hook', identify?: (remotePort: number, localPort: number) => string | undefined): Promise<WebhookReceiver> {
  let secret: string | undefined;
  let status = 200;
  let delayMs = 0;
  const received: ReceivedDelivery[] = [];
  const unanswered = new Set<ReceivedDelivery>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    const from = identify?.(req.socket.remotePort ?? 0, req.socket.localPort ?? 0);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = { 'webhook-id': String(req.headers['webhook-id']), 'webhook-timestamp': String(req.headers['webhook-timestamp']), 'webhook-signature': String(req.headers['webhook-signature']) };
      let verified = false;
      try {
        if (secret) {
          new Webhook(secret).verify(body, headers);
          verified = true;
        }
      } catch {
        verified = false;
      }
      const delivery: ReceivedDelivery = { id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], body, payload: JSON.parse(body) as ReceivedDelivery['payload'], verified, answered: status, ...(from === undefined ? {} : { from }) };
      received.push(delivery);
      unanswered.add(delivery);
      setTimeout(() => {
        unanswered.delete(delivery);
        res.writeHead(delivery.answered, { 'content-type': 'text/plain' }).end(delivery.answered < 300 ? 'ok' : 'down for maintenance');
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    received,
    accepted: () => received.filter((r) => r.answered < 300),
    setSecret: (s) => void (secret = s),
    answer: (s, delay = 0) => {
      status = s;
      delayMs = delay;
    },
    inFlight: () => [...unanswered],
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
