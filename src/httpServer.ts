// The HTTP and HTTPS listeners of one process over one runtime, and their graceful close.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createRequestListener } from './app.js';
import type { ProtocolModule } from './core/protocol.js';
import type { Config } from './config.js';
import { openRuntime, type Runtime, type RuntimeOptions } from './runtime.js';
import { ensureTlsCertificate } from './tlsCertificate.js';

export interface ServeOptions {
  worker: boolean;
  json: boolean;
  /** false: a worker process with no listeners. */
  http?: boolean;
  initFirst?: (rt: Runtime) => Promise<unknown>;
  /** The front-ends to mount (protocols/index.ts). */
  protocols: readonly ProtocolModule[];
  /** The deployment's clock (RuntimeOptions.now); default real time. */
  now?: () => number;
  /** RuntimeOptions.caLoaders (tests: a fake upstream CA). */
  caLoaders?: RuntimeOptions['caLoaders'];
}

export interface RunningServer {
  rt: Runtime;
  httpUrl: string | null;
  httpsUrl: string | null;
  close(): Promise<void>;
}

// SCEP clients put a whole pkiMessage (several KB of base64) in a GET's query string, and strongSwan
// sends its GET PKIOperation without a Host header (it removes curl's). Node 20 would answer both
// with 400 (16 KiB of headers at most, Host required on HTTP/1.1).
const HTTP_OPTIONS = { maxHeaderSize: 64 * 1024, requireHostHeader: false } as const;

/**
 * A client that opens connections and sends a request slowly, or not at all, holds a socket each
 * (slowloris): the headers must come within httpHeadersTimeoutMs and the whole request within
 * httpRequestTimeoutMs, or node answers 408 and closes. Node checks these on an interval (30 s by
 * default, which would stretch a 10 s limit to 40), so it is checked at a quarter of the limit.
 */
function timeoutOptions(config: Config): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } {
  return {
    headersTimeout: config.httpHeadersTimeoutMs,
    requestTimeout: config.httpRequestTimeoutMs,
    connectionsCheckingInterval: Math.min(1_000, Math.max(25, Math.floor(config.httpHeadersTimeoutMs / 4))),
  };
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}

/** Starts what `certgate serve|start|worker` runs; resolves once listening. */
export async function startServer(config: Config, opts: ServeOptions): Promise<RunningServer> {
  const rt = await openRuntime(config, { protocols: opts.protocols, now: opts.now, caLoaders: opts.caLoaders });
  await opts.initFirst?.(rt);
  rt.metrics?.start();
  if (opts.worker) await rt.startWorker();
  const servers: Server[] = [];
  let httpUrl: string | null = null;
  let httpsUrl: string | null = null;
  const urlOf = (scheme: string, addr: AddressInfo): string => `${scheme}://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
  if (opts.http !== false) {
    await rt.startServing();
    const app = createRequestListener(rt);
    const http = createServer({ ...HTTP_OPTIONS, ...timeoutOptions(config) }, app);
    http.keepAliveTimeout = config.httpKeepAliveTimeoutMs;
    servers.push(http);
    httpUrl = urlOf('http', await listen(http, config.httpPort, config.host));
    if (config.httpsPort > 0) {
      const tls = config.tlsCertFile && config.tlsKeyFile
        ? { certPem: readFileSync(config.tlsCertFile, 'utf8'), keyPem: readFileSync(config.tlsKeyFile, 'utf8') }
        : await ensureTlsCertificate(rt);
      if (tls) {
        // TLS 1.2 stays on: embedded EST clients (strongSwan 5.9) do not speak 1.3. Every client is
        // asked for a certificate and none is required: EST authenticates with one (and checks it
        // itself, against certgate's CAs and records); every other client simply sends none.
        // handshakeTimeout: a TLS client that stalls before its first request is cut off as soon.
        const https = createHttpsServer({ ...HTTP_OPTIONS, ...timeoutOptions(config), handshakeTimeout: config.httpHeadersTimeoutMs, cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2', requestCert: true, rejectUnauthorized: false }, app);
        https.keepAliveTimeout = config.httpKeepAliveTimeoutMs;
        servers.push(https);
        httpsUrl = urlOf('https', await listen(https, config.httpsPort, config.host));
      } else {
        rt.log.warn('no issuing CA yet, so no HTTPS listener; run `certgate init`');
      }
    }
  }
  return {
    rt,
    httpUrl,
    httpsUrl,
    async close() {
      // Stop accepting, let in-flight HTTP requests and jobs finish, then close the store.
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeIdleConnections();
            }),
        ),
      );
      await rt.close();
    },
  };
}

