// A running certgate for REST tests: embedded (SQLite + in-process queue) or scaled out
// (PostgreSQL + BullMQ with a separate worker runtime), an admin token, the dev CAs and the
// default product, and an `api` call that returns status, JSON, text and headers.
import { CLI_CONTEXT } from '../../src/cli/kit.js';
import type { ConfigOverrides } from '../../src/config.js';
import type { CredentialRecord, Permission } from '../../src/core/types.js';
import type { RunningServer } from '../../src/httpServer.js';
import type { Runtime } from '../../src/runtime.js';
import { deploymentMissing, startGateway, type GatewayOptions } from './gateway.js';
import { headersOf, httpRequest } from './http.js';

export interface RestDeployment {
  name: string;
  /** Scaled out: PostgreSQL, Redis and a worker in a runtime of its own. */
  scaled: boolean;
  skip: boolean;
}

export const REST_DEPLOYMENTS: RestDeployment[] = [
  { name: 'embedded (SQLite + in-process queue)', scaled: false, skip: false },
  { name: 'scaled out (PostgreSQL + BullMQ, separate worker)', scaled: true, skip: deploymentMissing({ backend: 'postgres', queue: 'bullmq' }) },
];

export interface ApiAnswer {
  status: number;
  json: Record<string, unknown>;
  text: string;
  body: Buffer;
  headers: Headers;
}

export interface RestEnv {
  server: RunningServer;
  worker: Runtime | undefined;
  base: string;
  dir: string;
  adminToken: string;
  rootId: string;
  issuingId: string;
  rootPem: string;
  issuingPem: string;
  /** The product `init` made for the issuing CA. */
  productId: string;
  api(method: string, path: string, token: string | null, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer>;
  /** A non-admin rest credential, as `certgate credential create --type rest` makes one. */
  restKey(name: string, permissions: Permission[], products?: '*' | string[]): Promise<{ credential: CredentialRecord; token: string }>;
  close(): Promise<void>;
}

/** `now`: the deployment's clock (helpers/clock.ts); default real time. `caLoaders`: CA backends besides local ones (helpers/fakeUpstreamCa.ts). */
export async function startRestEnv(d: RestDeployment, overrides: ConfigOverrides = {}, now?: () => number, caLoaders?: GatewayOptions['caLoaders']): Promise<RestEnv> {
  const gw = await startGateway(d.scaled ? { backend: 'postgres', queue: 'bullmq', worker: 'separate', overrides, now, caLoaders } : { overrides, now, caLoaders });
  const { server, adminToken } = gw;
  const base = gw.baseUrl;

  const api = async (method: string, path: string, token: string | null, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> => {
    const reply = await httpRequest(`${base}${path}`, {
      method,
      bearer: token,
      // A string goes as it is, JSON or not: suites send malformed bodies on purpose.
      ...(typeof body === 'string' ? { body, headers: { 'content-type': 'application/json', ...headers } } : { ...(body !== undefined ? { json: body } : {}), headers }),
    });
    return { status: reply.status, json: reply.json, text: reply.text, body: reply.body, headers: headersOf(reply.headers) };
  };

  return {
    server,
    worker: gw.worker,
    base,
    dir: gw.dir,
    adminToken,
    rootId: gw.root.id,
    issuingId: gw.issuing.id,
    rootPem: gw.root.certificatePem,
    issuingPem: gw.issuing.certificatePem,
    productId: gw.product.id,
    api,
    async restKey(name, permissions, products = '*') {
      const { credential, secret } = await server.rt.credentials.create({ type: 'rest', name, products, permissions, admin: false }, CLI_CONTEXT);
      return { credential, token: secret };
    },
    close: () => gw.close(),
  };
}
