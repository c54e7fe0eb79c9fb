// Products: what each template allows, so that a caller can build a request that will pass.
import { z } from 'zod';
import { productResource } from '../../src/auth/authorize.js';
import { notFound } from '../../src/core/errors.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { SUBJECT_ATTRIBUTE_NAMES } from '../../src/core/types.js';
import { auditContextOf, authorize, mayDo, requireAdmin } from './auth.js';
import { CERTMAN_KEY_ALGORITHMS } from './keyAlgorithm.js';
import type { RestRoutes } from './route.js';
import { idParams } from './schemas.js';
import { productJson } from './serialize.js';

const attributeRule = z.union([
  z.object({ fixed: z.string() }).describe('every certificate carries this value; the CSR\'s is ignored'),
  z.object({ allowed: z.array(z.string()) }).describe('a CSR may ask for one of these'),
]);

export const productSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    ca_id: z.string(),
    key_algorithms: z.array(z.string()).describe(`in Certman's spelling: ${CERTMAN_KEY_ALGORITHMS.join(', ')}`),
    default_validity_days: z.number().int(),
    max_validity_days: z.number().int(),
    allowed_dns_suffixes: z.array(z.string()).describe('empty: any DNS name; otherwise each name equals or ends in .<suffix>'),
    allow_wildcards: z.boolean(),
    allow_ip_sans: z.boolean(),
    allow_email_sans: z.boolean(),
    allow_uri_sans: z.boolean(),
    extended_key_usages: z.array(z.string()),
    requires_approval: z.boolean().describe('each request waits for an operator with the approve permission'),
    subject_policy: z.object({
      attributes: z.partialRecord(z.enum(SUBJECT_ATTRIBUTE_NAMES as [string, ...string[]]), attributeRule).describe('subject attributes besides CN (always the first name)'),
      unlisted: z.enum(['drop', 'refuse']).describe('what happens to other attributes a CSR asks for'),
    }),
    custom_fields: z
      .array(z.object({ name: z.string(), type: z.enum(['string', 'number', 'boolean']), required: z.boolean() }))
      .describe('fields a request under this product carries (customFields), checked at issuance and stored on the certificate'),
    escrow_keys: z.boolean().describe('managed-mode keys are kept, encrypted, for a PKCS#12 download'),
    self_approval: z.boolean().describe('a requester may approve its own requests (otherwise four eyes: never the requester)'),
    dcv: z
      .object({
        mode: z.enum(['none', 'required']).describe('required: a request waits (pending_dcv) until each of its names is covered by a current domain validation'),
        reuse_days: z.number().int().describe('how old a validation may be to cover a request (never longer than the deployment\'s maximum)'),
        subdomains: z.boolean().describe('a domain validated over dns-01 covers the names under it (an http-01 validation proves one host)'),
        dns_label: z.string().describe('dns-01 looks for the token in a TXT record at <dns_label>.<domain>'),
      })
      .describe('domain control validation'),
    created_at: z.string().meta({ format: 'date-time' }),
  })
  .meta({ id: 'Product' });

const TEMPLATE_NOTE = 'The template is in certgate\'s own spelling (keyAlgorithms: ec-p256…, defaultValidityDays, maxValidityDays, allowedDnsSuffixes, allowWildcards, allowIpSans, allowEmailSans, allowUriSans, extendedKeyUsages, requiresApproval, selfApproval, escrowKeys, subject, customFields, dcv, protocols, expiryNoticeDays): what GET /v1/products/{id} returns as `template`.';

/** A product template as certgate stores it; checked field by field by the core (a 400 names each wrong one). */
const templateSchema = z.record(z.string(), z.unknown()).describe('the product template in certgate\'s own spelling (see the description)');
const productName = z.string().trim().min(1).max(200);

export function mountProductRoutes(routes: RestRoutes, core: CoreServices): void {
  routes.add(
    {
      method: 'get',
      path: '/products',
      tag: 'Products',
      summary: 'The products of the CAs this credential may read, among its own products, with what each allows',
      permission: 'read on the product\'s CA, and the product one of the credential\'s',
      responses: { 200: { description: 'Products', schema: z.object({ products: z.array(productSchema) }) } },
    },
    async ({ req, res }) => {
      const products = await core.queries.productList();
      res.json({ products: products.filter((p) => mayDo(core, req, 'read', productResource(p))).map(productJson) });
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/products/:id',
      tag: 'Products',
      summary: 'One product and what it allows',
      permission: 'read on the product\'s CA, and the product one of the credential\'s',
      params: idParams,
      responses: { 200: { description: 'The product', schema: z.object({ product: productSchema, template: templateSchema }) } },
    },
    async ({ req, res, params }) => {
      const product = (await core.queries.productList()).find((p) => p.id === params.id);
      if (!product) throw notFound(`product ${params.id} not found`);
      await authorize(core, req, 'read', productResource(product));
      res.json({ product: productJson(product), template: product.template });
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/products',
      tag: 'Products',
      summary: 'Create a product on a CA',
      description: `The template is checked as \`certgate product create\` checks it (names, validity, EKUs, DCV within CERTGATE_DCV_MAX_REUSE_DAYS, protocol settings, what the CA's backend can honour); omitted fields take their defaults. Audited as product.create. ${TEMPLATE_NOTE}`,
      permission: 'admin',
      body: z.object({ name: productName, ca_id: z.string().min(1).max(200), template: templateSchema }).strict(),
      responses: { 201: { description: 'The product', schema: z.object({ product: productSchema, template: templateSchema }) } },
    },
    async ({ req, res, body }) => {
      await requireAdmin(core, req, 'product.create');
      const product = await core.catalogueAdmin.createProduct({ name: body.name, caId: body.ca_id, template: body.template }, auditContextOf(req));
      res.status(201).json({ product: productJson(product), template: product.template });
    },
  );

  routes.add(
    {
      method: 'put',
      path: '/products/:id',
      tag: 'Products',
      summary: 'Edit a product: its name and template (its CA stays)',
      description: `Replaces the name and the whole template (omitted fields take their defaults), under the same checks as creating one. The edit applies to requests decided afterwards; certificates already issued keep what they were issued with. Audited as product.update with each changed field, from and to. A new name is a new label for ACME, EST and SCEP clients (their URLs name the product). ${TEMPLATE_NOTE}`,
      permission: 'admin',
      params: idParams,
      body: z.object({ name: productName, template: templateSchema }).strict(),
      responses: { 200: { description: 'The product as edited', schema: z.object({ product: productSchema, template: templateSchema }) } },
    },
    async ({ req, res, params, body }) => {
      await requireAdmin(core, req, 'product.update', params.id);
      const product = await core.catalogueAdmin.updateProduct(params.id, { name: body.name, template: body.template }, auditContextOf(req));
      res.json({ product: productJson(product), template: product.template });
    },
  );
}
