// What an ACME client puts up for the validator to find, on loopback: an http-01 web server and a
// tls-alpn-01 TLS server (RFC 8737) whose certificates openssl makes, as a client's tooling would.
// Used by the dcv tests and meant for the ACME front-end's tests too.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createSecureContext, createServer as createTlsServer, type SecureContext, type Server as TlsServer } from 'node:tls';
import { openssl, readText, tempDir } from './openssl.js';

async function listen(server: HttpServer | TlsServer, host: string, port = 0): Promise<number> {
  server.listen(port, host);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function close(server: HttpServer | TlsServer & { closeAllConnections?: () => void }): Promise<void> {
  // Validators hang up after each answer, but a test's half-open or stalled client must not block stop().
  server.closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

export interface Http01Responder {
  port: number;
  /** Serves `body` (the key authorization, or anything a test wants) at /.well-known/acme-challenge/<token>. */
  set(token: string, body: string | Buffer): void;
  /** Stops serving the token (404 again). */
  unset(token: string): void;
  /** Answers `path` (any path, with its query) with a redirect to `location`. */
  redirect(path: string, location: string, status?: number): void;
  /** Requests seen so far. */
  readonly requests: ReadonlyArray<{ path: string; host: string | undefined }>;
  stop(): Promise<void>;
}

/** `port`: a fixed one (a validator that only knows port 80); default any free port. */
export async function startHttp01Responder(options: { host?: string; port?: number } = {}): Promise<Http01Responder> {
  const bodies = new Map<string, Buffer>();
  const redirects = new Map<string, { location: string; status: number }>();
  const requests: Array<{ path: string; host: string | undefined }> = [];
  const prefix = '/.well-known/acme-challenge/';
  const server = createHttpServer((req, res) => {
    const path = req.url ?? '/';
    requests.push({ path, host: req.headers.host });
    const redirect = redirects.get(path);
    if (redirect) {
      res.writeHead(redirect.status, { location: redirect.location }).end();
      return;
    }
    const body = path.startsWith(prefix) ? bodies.get(path.slice(prefix.length)) : undefined;
    if (body === undefined) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    else res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
  });
  const port = await listen(server, options.host ?? '127.0.0.1', options.port);
  return {
    port,
    set: (token, body) => void bodies.set(token, Buffer.from(body)),
    unset: (token) => void bodies.delete(token),
    redirect: (path, location, status = 302) => void redirects.set(path, { location, status }),
    requests,
    stop: () => close(server),
  };
}

export interface TlsAlpnCertificateOptions {
  /** subjectAltName entries in openssl's syntax; default [`DNS:<servername>`]. */
  san?: string[];
  /** The acmeIdentifier extension: critical (default, as RFC 8737 requires), non-critical, or absent. */
  extension?: 'critical' | 'non-critical' | 'absent';
}

export interface TlsAlpnResponder {
  port: number;
  /**
   * Presents, to a handshake whose SNI is `servername` (a domain, or an IP address's reverse name
   * with `san: ['IP:<address>']`), a certificate for `keyAuthorization`.
   */
  set(servername: string, keyAuthorization: string, options?: TlsAlpnCertificateOptions): void;
  stop(): Promise<void>;
}

/**
 * A TLS server that picks its certificate by SNI. `alpnProtocols` are the protocols it will
 * negotiate: ['acme-tls/1'] by default; [] makes it a plain TLS server that negotiates none.
 */
export async function startTlsAlpnResponder(options: { alpnProtocols?: string[]; host?: string } = {}): Promise<TlsAlpnResponder> {
  const dir = tempDir('certgate-tlsalpn-');
  const keyPath = join(dir, 'key.pem');
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath]);
  const key = readText(keyPath);
  const certificate = (cn: string, addext: string[]): string =>
    openssl(['req', '-x509', '-new', '-key', keyPath, '-subj', `/CN=${cn}`, '-days', '1', ...addext.flatMap((e) => ['-addext', e])]);

  const contexts = new Map<string, SecureContext>();
  const fallback = createSecureContext({ key, cert: certificate('no-such-name', ['subjectAltName=DNS:no-such-name.invalid']) });
  const alpnProtocols = options.alpnProtocols ?? ['acme-tls/1'];
  const server = createTlsServer({
    key,
    cert: certificate('no-such-name', ['subjectAltName=DNS:no-such-name.invalid']),
    ...(alpnProtocols.length ? { ALPNProtocols: alpnProtocols } : {}),
    SNICallback: (servername, done) => done(null, contexts.get(servername.toLowerCase()) ?? fallback),
  });
  // A validator that hangs up mid-handshake is not the responder's problem.
  server.on('tlsClientError', () => undefined);
  const port = await listen(server, options.host ?? '127.0.0.1');
  return {
    port,
    set(servername, keyAuthorization, certOptions = {}) {
      const hash = createHash('sha256').update(keyAuthorization).digest('hex').match(/../g)?.join(':') ?? '';
      const criticality = certOptions.extension === 'non-critical' ? '' : 'critical,';
      const addext = [`subjectAltName=${(certOptions.san ?? [`DNS:${servername}`]).join(',')}`];
      if (certOptions.extension !== 'absent') addext.push(`1.3.6.1.5.5.7.1.31=${criticality}DER:04:20:${hash}`);
      contexts.set(servername.toLowerCase(), createSecureContext({ key, cert: certificate('acme-tls-alpn', addext) }));
    },
    stop: () => close(server),
  };
}
