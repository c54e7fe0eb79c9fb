// A certgate with EST products on its HTTPS listener, and an HTTPS client that trusts it, for the
// EST suites (test/est*.test.ts, test/clients/strongswan-est.test.ts).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI_CONTEXT } from '../../src/cli/kit.js';
import type { ConfigOverrides } from '../../src/config.js';
import { createProduct } from '../../src/core/products.js';
import type { ProductRecord } from '../../src/core/types.js';
import type { RunningServer } from '../../src/httpServer.js';
import { parseProductTemplate } from '../../src/policy/productSchema.js';
import { startGateway } from './gateway.js';
import { httpRequest } from './http.js';
import { openssl } from './openssl.js';

export interface EstReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

export interface EstCall {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** A TLS client certificate and its key (PEM). */
  cert?: string;
  key?: string;
  /** The loopback address to connect from (127.0.0.0/8), for tests that count per source address. */
  localAddress?: string;
}

export interface EstEnv {
  server: RunningServer;
  dir: string;
  /** https://localhost:<port> */
  base: string;
  port: number;
  adminToken: string;
  rootPem: string;
  issuingPem: string;
  /** Root then issuing CA, PEM: what a client trusts. */
  trustFile: string;
  products: Record<string, ProductRecord>;
  /** An `est` credential's Basic user name and password, per name given. */
  users: Record<string, { username: string; password: string; id: string }>;
  call(path: string, o?: EstCall): Promise<EstReply>;
  close(): Promise<void>;
}

export interface EstSetup {
  /** Products to create: name → template input (parseProductTemplate). */
  products: Record<string, Record<string, unknown>>;
  /** Credentials to create: user name → product names ('*' for all). */
  users: Record<string, string[] | '*'>;
  /** Configuration besides the helper's own. */
  overrides?: ConfigOverrides;
  /** The deployment's clock (helpers/clock.ts); default real time. */
  now?: () => number;
}

export async function startEstEnv(setup: EstSetup): Promise<EstEnv> {
  const gw = await startGateway({ https: true, dirPrefix: 'certgate-est-', ...(setup.overrides ? { overrides: setup.overrides } : {}), now: setup.now });
  const { server, rt, dir, adminToken } = gw;
  const port = Number(new URL(gw.httpsUrl as string).port);
  const rootPem = gw.root.certificatePem;
  const issuingPem = gw.issuing.certificatePem;
  const trustFile = join(dir, 'est-trust.pem');
  writeFileSync(trustFile, rootPem + issuingPem);

  const products: Record<string, ProductRecord> = {};
  for (const p of await rt.store.products.list()) products[p.name] = p;
  for (const [name, template] of Object.entries(setup.products)) {
    products[name] = await createProduct(rt.store, { name, caId: gw.issuing.id, template: parseProductTemplate(template) }, CLI_CONTEXT);
  }
  const users: EstEnv['users'] = {};
  for (const [username, names] of Object.entries(setup.users)) {
    const ids = names === '*' ? '*' : names.map((n) => (products[n] as ProductRecord).id);
    const { credential, secret } = await rt.credentials.create({ type: 'est', name: username, products: ids }, CLI_CONTEXT);
    users[username] = { username, password: secret, id: credential.id };
  }
  const ca = rootPem + issuingPem;
  // EST names the gateway as its TLS certificate does (localhost), over 127.0.0.1.
  const call = async (path: string, o: EstCall = {}): Promise<EstReply> => {
    const reply = await httpRequest(`https://127.0.0.1:${port}${path}`, {
      ca,
      servername: 'localhost',
      ...(o.method ? { method: o.method } : {}),
      ...(o.headers ? { headers: o.headers } : {}),
      ...(o.body !== undefined ? { body: o.body } : {}),
      ...(o.cert ? { cert: o.cert, key: o.key as string } : {}),
      ...(o.localAddress ? { from: o.localAddress } : {}),
    });
    return { status: reply.status, headers: reply.headers, body: reply.body, text: reply.body.toString('latin1') };
  };
  return { server, dir, base: `https://localhost:${port}`, port, adminToken, rootPem, issuingPem, trustFile, products, users, call, close: () => gw.close() };
}

export const basic = (user: { username: string; password: string }): string => `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;

/** The certificates of a certs-only PKCS#7 (DER), as openssl prints them: PEM, in order. */
export function opensslCertsOf(p7Der: Buffer, dir: string): string[] {
  const file = join(dir, `p7-${Math.random().toString(36).slice(2)}.der`);
  writeFileSync(file, p7Der);
  return openssl(['pkcs7', '-inform', 'DER', '-in', file, '-print_certs']).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
}

/** The DER of a CSR in PEM. */
export const csrDer = (csrPem: string): Buffer => Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');

/** Runs a client without blocking the event loop (the server under test shares it); never rejects. */
export function runClient(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, encoding: 'buffer', timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr: stderr.toString() });
    });
  });
}
