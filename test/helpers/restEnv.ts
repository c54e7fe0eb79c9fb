// A running certgate for REST tests: embedded (SQLite + in-process queue) or scaled out
// (PostgreSQL + BullMQ with a separate worker runtime), an admin token, the dev CAs and the
// default product, and an `api` call that returns status, JSON, text and headers.
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { CLI_CONTEXT } from '../../src/cli/kit.js';
import { loadConfig, type ConfigOverrides } from '../../src/config.js';
import type { CredentialRecord, Permission } from '../../src/core/types.js';
import { startServer, type RunningServer } from '../../src/httpServer.js';
import { initialize } from '../../src/init.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import { PROTOCOLS } from '../../protocols/index.js';
import { createTestDatabase } from '../harness/postgres.js';
import { tempDir } from './openssl.js';
import { NO_LOGIN_THROTTLE } from './loginThrottle.js';

export interface RestDeployment {
  name: string;
  /** Scaled out: PostgreSQL, Redis and a worker in a runtime of its own. */
  scaled: boolean;
  skip: boolean;
}

const redisUrl = inject('redisUrl');
const postgresUrl = inject('postgresUrl');

export const REST_DEPLOYMENTS: RestDeployment[] = [
  { name: 'embedded (SQLite + in-process queue)', scaled: false, skip: false },
  { name: 'scaled out (PostgreSQL + BullMQ, separate worker)', scaled: true, skip: !redisUrl || !postgresUrl },
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

export async function startRestEnv(d: RestDeployment, overrides: ConfigOverrides = {}): Promise<RestEnv> {
  const dir = tempDir();
  const config = loadConfig({
    protocols: PROTOCOLS,
    env: {},
    overrides: {
      dataDir: dir,
      httpPort: 0,
      httpsPort: 0,
      masterKey: 'test-master-key-0123456789',
      logLevel: 'silent',
      issueWaitMs: 15_000,
      queueBackoffMs: 50,
      ...NO_LOGIN_THROTTLE,
      ...(d.scaled
        ? {
            databaseUrl: await createTestDatabase(postgresUrl as string),
            redisUrl: redisUrl as string,
            // Suites share the harness Redis; with keys of their own they never take each other's jobs.
            queuePrefix: `rest-${randomUUID()}`,
          }
        : {}),
      ...overrides,
    },
  });
  let adminToken = '';
  const server = await startServer(config, {
    worker: !d.scaled,
    json: true,
    protocols: PROTOCOLS,
    initFirst: async (rt) => {
      adminToken = (await initialize(rt)).adminToken as string;
    },
  });
  let worker: Runtime | undefined;
  if (d.scaled) {
    worker = await openRuntime(config);
    await worker.startWorker();
  }
  const base = server.httpUrl as string;

  const api = async (method: string, path: string, token: string | null, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const raw = Buffer.from(await res.arrayBuffer());
    const text = raw.toString('utf8');
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      /* PEM, DER or empty */
    }
    return { status: res.status, json, text, body: raw, headers: res.headers };
  };

  const cas = (await api('GET', '/v1/cas', adminToken)).json.cas as { id: string; type: string }[];
  const root = cas.find((c) => c.type === 'root');
  const issuing = cas.find((c) => c.type === 'intermediate');
  if (!root || !issuing) throw new Error('init made no root and issuing CA');
  const pemOf = async (id: string) => ((await api('GET', `/v1/cas/${id}`, adminToken)).json.ca as { certificate_pem: string }).certificate_pem;
  const products = (await api('GET', '/v1/products', adminToken)).json.products as { id: string; ca_id: string }[];

  return {
    server,
    worker,
    base,
    dir,
    adminToken,
    rootId: root.id,
    issuingId: issuing.id,
    rootPem: await pemOf(root.id),
    issuingPem: await pemOf(issuing.id),
    productId: (products.find((p) => p.ca_id === issuing.id) as { id: string }).id,
    api,
    async restKey(name, permissions, products = '*') {
      const { credential, secret } = await server.rt.credentials.create({ type: 'rest', name, products, permissions, admin: false }, CLI_CONTEXT);
      return { credential, token: secret };
    },
    async close() {
      await server.close();
      await worker?.close();
    },
  };
}
