// One embedded certgate with the ACME front-end, and what a client puts up for the validator (the
// stub DNS server, an http-01 web server, a tls-alpn-01 responder), wired together as the ACME
// tests need them; plus the operator's side (products, credentials, REST) those tests drive.
import { Agent } from 'node:https';
import * as acme from 'acme-client';
import { CLI_CONTEXT } from '../../src/cli/kit.js';
import type { ConfigOverrides } from '../../src/config.js';
import { createProduct } from '../../src/core/products.js';
import type { ProductRecord } from '../../src/core/types.js';
import type { RunningServer } from '../../src/httpServer.js';
import { parseProductTemplate } from '../../src/policy/productSchema.js';
import { acmeBaseUrl } from '../../protocols/acme/baseUrl.js';
import { directTransport, type RawReply, type Transport } from './acmeClient.js';
import { startHttp01Responder, startTlsAlpnResponder, type Http01Responder, type TlsAlpnResponder } from './acmeResponders.js';
import { startDnsServer, type StubDnsServer } from './dnsServer.js';
import { startGateway, type Deployment } from './gateway.js';
import { restCall } from './http.js';

export interface AcmeEnv {
  dir: string;
  server: RunningServer;
  dns: StubDnsServer;
  http01: Http01Responder;
  tlsAlpn: TlsAlpnResponder;
  /** http://127.0.0.1:<port>: REST, and the plain-HTTP listener ACME refuses. */
  base: string;
  /** https://127.0.0.1:<httpsPort>: where ACME is served, as the configuration names it. */
  acmeBase: string;
  directoryUrl: string;
  /** HTTPS that trusts the gateway's own TLS certificate (and only its CAs). */
  transport: Transport;
  /** A GET over `transport`, its body read as JSON. */
  getJson<T = Record<string, unknown>>(url: string): Promise<{ status: number; json: T; raw: RawReply }>;
  rootPem: string;
  issuingPem: string;
  issuingId: string;
  adminToken: string;
  /** A product on the issuing CA, made as `certgate product create` makes one. */
  product(name: string, template: unknown): Promise<ProductRecord>;
  /** An `acme` credential (EAB): kid and base64url HMAC key. */
  eabCredential(products: '*' | string[]): Promise<{ kid: string; hmacKey: string }>;
  /** A REST call with the admin key. */
  rest(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }>;
  /** acme-client's auto() options (but the CSR) that answer http-01 through this env's responder. */
  autoHttp01: Omit<acme.ClientAutoOptions, 'csr'>;
  stop(): Promise<void>;
}

/** An acme-client with a short back-off: the test gateway answers in milliseconds. */
export const acmeClientOf = (directoryUrl: string, accountKey: Buffer, extra: Partial<acme.ClientOptions> = {}): acme.Client =>
  new acme.Client({ directoryUrl, accountKey, backoffMin: 100, backoffMax: 500, backoffAttempts: 60, ...extra });

/** `deployment`: SQLite and the in-process queue unless it names PostgreSQL and Redis (skip with deploymentMissing). */
export async function startAcmeEnv(options: { overrides?: ConfigOverrides; http01Port?: number; now?: () => number; deployment?: Deployment } = {}): Promise<AcmeEnv> {
  const dns = await startDnsServer();
  const http01 = await startHttp01Responder();
  const tlsAlpn = await startTlsAlpnResponder();
  const gw = await startGateway({
    ...options.deployment,
    https: true,
    dirPrefix: 'certgate-acme-',
    overrides: { dnsServer: dns.address, http01Port: options.http01Port ?? http01.port, tlsAlpn01Port: tlsAlpn.port, ...options.overrides },
    now: options.now,
  });
  const { server, config, dir, root, issuing, adminToken } = gw;
  const base = gw.baseUrl;
  const acmeBase = acmeBaseUrl(config);
  // acme-client has one axios instance for every client: it trusts this gateway's CA from now on.
  acme.axios.defaults.httpsAgent = new Agent({ ca: root.certificatePem });
  const transport = directTransport({ ca: root.certificatePem });
  return {
    dir,
    server,
    dns,
    http01,
    autoHttp01: {
      challengePriority: ['http-01'],
      skipChallengeVerification: true,
      termsOfServiceAgreed: true,
      challengeCreateFn: async (_a, ch, ka) => http01.set(ch.token, ka),
      challengeRemoveFn: async (_a, ch) => http01.unset(ch.token),
    },
    tlsAlpn,
    base,
    acmeBase,
    directoryUrl: `${acmeBase}/acme/directory`,
    transport,
    async getJson<T>(url: string) {
      const raw = await transport(url, { method: 'GET' });
      return { status: raw.status, json: JSON.parse(raw.body.toString('utf8') || '{}') as T, raw };
    },
    rootPem: root.certificatePem,
    issuingPem: issuing.certificatePem,
    issuingId: issuing.id,
    adminToken,
    async product(name, template) {
      const product = await createProduct(server.rt.store, { name, caId: issuing.id, template: parseProductTemplate(template) }, CLI_CONTEXT);
      // As the CLI does: the ACME directory reads the product list from the catalogue cache.
      await server.rt.catalogue.changed();
      return product;
    },
    async eabCredential(products) {
      const { credential, secret } = await server.rt.credentials.create({ type: 'acme', products }, CLI_CONTEXT);
      return { kid: credential.id, hmacKey: secret };
    },
    async rest(method, path, body) {
      const { status, json } = await restCall(base, adminToken, method, path, body);
      return { status, json };
    },
    async stop() {
      await gw.close();
      await Promise.all([http01.stop(), tlsAlpn.stop(), dns.stop()]);
    },
  };
}
