// One embedded certgate with every front-end (SCEP among them), and the operator's side the SCEP
// tests drive: products, static and one-time challenges, REST calls with the admin key.
import { CLI_CONTEXT } from '../../src/cli/kit.js';
import type { ConfigOverrides } from '../../src/config.js';
import { createProduct } from '../../src/core/products.js';
import type { KeyAlgorithm, ProductRecord } from '../../src/core/types.js';
import type { RunningServer } from '../../src/httpServer.js';
import { parseProductTemplate } from '../../src/policy/productSchema.js';
import { startGateway, type Deployment } from './gateway.js';
import { restCall } from './http.js';

export interface ScepEnv {
  dir: string;
  server: RunningServer;
  /** http://127.0.0.1:<port> */
  base: string;
  rootPem: string;
  issuingPem: string;
  issuingId: string;
  adminToken: string;
  /** A product on the issuing CA, made as `certgate product create` makes one. */
  product(name: string, template?: unknown): Promise<ProductRecord>;
  /** A static challenge: a `scep` credential bound to these products. */
  staticChallenge(products: '*' | string[]): Promise<{ id: string; challenge: string }>;
  /** A REST call with the admin key (or `token`). */
  rest(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: Record<string, unknown> }>;
  /** POST /v1/scep/challenges with the admin key. */
  oneTimeChallenge(productId: string, extra?: { subject?: string; ttlSeconds?: number }): Promise<string>;
  stop(): Promise<void>;
}

export async function startScepEnv(options: { overrides?: ConfigOverrides; keyAlgorithm?: KeyAlgorithm; now?: () => number; deployment?: Deployment } = {}): Promise<ScepEnv> {
  const gw = await startGateway({ ...options.deployment, dirPrefix: 'certgate-scep-', init: options.keyAlgorithm ? { keyAlgorithm: options.keyAlgorithm } : {}, ...(options.overrides ? { overrides: options.overrides } : {}), now: options.now });
  const { server, dir, root, issuing, adminToken } = gw;
  const base = gw.baseUrl;
  const rest: ScepEnv['rest'] = (method, path, body, token = adminToken) => restCall(base, token, method, path, body);
  return {
    dir,
    server,
    base,
    rootPem: root.certificatePem,
    issuingPem: issuing.certificatePem,
    issuingId: issuing.id,
    adminToken,
    product: (name, template = {}) => createProduct(server.rt.store, { name, caId: issuing.id, template: parseProductTemplate(template) }, CLI_CONTEXT),
    async staticChallenge(products) {
      const { credential, secret } = await server.rt.credentials.create({ type: 'scep', products }, CLI_CONTEXT);
      return { id: credential.id, challenge: secret };
    },
    rest,
    async oneTimeChallenge(productId, extra = {}) {
      const { status, json } = await rest('POST', '/v1/scep/challenges', { productId, ...extra });
      if (status !== 201) throw new Error(`minting a challenge: ${status} ${JSON.stringify(json)}`);
      return json.challenge as string;
    },
    stop: () => gw.close(),
  };
}
