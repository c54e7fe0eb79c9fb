// A web server on 127.0.0.1 that answers each path as a test says: a body, a redirect, or a cut
// connection first (a validator's retry). For domain validations, which look under
// /.well-known/pki-validation/ as well as the ACME path that acmeResponders.ts serves.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the loopback web server answers at a path: a body, a redirect, or a connection cut (`resets` times). */
export type Answer = { body: string } | { location: string } | { resets: number; then: string };

export interface WebServer {
  port: number;
  answer(path: string, answer: Answer): void;
  readonly seen: string[];
  stop(): Promise<void>;
}

export async function startWebServer(): Promise<WebServer> {
  const answers = new Map<string, Answer>();
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    seen.push(path);
    const a = answers.get(path);
    if (a && 'resets' in a && a.resets > 0) {
      a.resets--;
      req.socket.destroy();
      return;
    }
    if (a && 'location' in a) res.writeHead(302, { location: a.location }).end();
    else if (a) res.writeHead(200).end('body' in a ? a.body : a.then);
    else res.writeHead(404).end('not found');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    answer: (path, a) => void answers.set(path, a),
    seen,
    stop: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

