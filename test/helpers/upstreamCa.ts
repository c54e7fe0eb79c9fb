// An upstream ACME CA in a running test gateway: the CA record (account registered at the
// upstream), a product on it for `suffix` and a REST key of a team that may issue under it; and
// the IssueRequest the worker would hand the backend for a CSR and its decided names.
import { createUpstreamCa, type CreateUpstreamCaOptions } from '../../src/ca/upstream/create.js';
import type { IssueRequest } from '../../src/ca/types.js';
import { CLI_CONTEXT } from '../../src/cli/kit.js';
import { createProduct } from '../../src/core/products.js';
import type { CaRecord, ProductRecord } from '../../src/core/types.js';
import { parseProductTemplate } from '../../src/policy/productSchema.js';
import type { Gateway } from './gateway.js';

export async function upstreamCaWithProduct(gw: Gateway, ca: CreateUpstreamCaOptions, suffix: string): Promise<{ ca: CaRecord; product: ProductRecord; token: string }> {
  const record = await createUpstreamCa(gw.rt.store, ca, gw.rt.secrets, CLI_CONTEXT);
  const product = await createProduct(gw.rt.store, { name: `from-${ca.name}`, caId: record.id, template: parseProductTemplate({ allowedDnsSuffixes: [suffix], keyAlgorithms: ['ec-p256', 'rsa-2048'] }) }, CLI_CONTEXT, undefined, gw.config);
  await gw.rt.catalogue.changed();
  const { secret } = await gw.rt.credentials.create({ type: 'rest', name: `team-${ca.name}`, products: [product.id], permissions: [{ ca: record.id, actions: ['read', 'issue'] }], admin: false, ownerGroup: 'team' }, CLI_CONTEXT);
  return { ca: record, product, token: secret };
}

/** What the worker passes an upstream backend: the request id, the CSR and the decided DNS names (the rest is for local signing). */
export function upstreamIssueRequest(requestId: string, csrPem: string, dnsNames: string[]): IssueRequest {
  return {
    requestId,
    csrPem,
    subjectDer: Buffer.alloc(0),
    spkiDer: Buffer.alloc(0),
    san: { dns: dnsNames, ip: [], email: [], uri: [] },
    notBefore: new Date(),
    notAfter: new Date(Date.now() + 86_400_000),
    keyUsage: [],
    extendedKeyUsage: [],
  };
}
