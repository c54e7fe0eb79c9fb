// /v1/webhooks: subscriptions to what happens to certificates and requests, and their delivery
// log. Admins manage every subscription; any other REST credential the ones it made, for products
// it may read (the one decision: webhookResources in src/auth/authorize.ts).
import type { Request } from 'express';
import { z } from 'zod';
import { webhookResources } from '../../src/auth/authorize.js';
import { badRequest, notFound } from '../../src/core/errors.js';
import type { CoreServices } from '../../src/core/protocol.js';
import type { ProductRecord } from '../../src/core/types.js';
import { WEBHOOK_EVENT_TYPES } from '../../src/notify/events.js';
import { attemptJson, webhookJson, type WebhookSubscription } from '../../src/notify/types.js';
import { auditContextOf, authorize, credentialOf, mayDo, principalOf } from './auth.js';
import { pageOf, pageQuery } from './pagination.js';
import type { RestRoutes } from './route.js';
import { idParams, pageFields } from './schemas.js';

const time = z.string().meta({ format: 'date-time' });

const webhookSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.enum(WEBHOOK_EVENT_TYPES)),
    products: z.union([z.literal('*'), z.array(z.string())]).describe("the products whose events are sent; '*': every product"),
    owner: z.string().describe('the credential that made it (apikey:<id>), or cli'),
    description: z.string().nullable(),
    created_at: time,
  })
  .meta({ id: 'Webhook' });

const createdSchema = webhookSchema.extend({
  secret: z.string().describe('whsec_…: the Standard Webhooks signing secret. Shown here once, never again'),
});

const attemptSchema = z
  .object({
    delivery_id: z.string(),
    event_id: z.string().describe('the webhook-id header: the same on every attempt'),
    event_type: z.enum(WEBHOOK_EVENT_TYPES),
    attempt: z.number().int(),
    status_code: z.number().int().nullable().describe('null: no answer (refused address, connection error, timeout)'),
    error: z.string().nullable(),
    duration_ms: z.number().int(),
    at: time,
  })
  .meta({ id: 'WebhookAttempt' });

const createBody = z
  .object({
    url: z.string().min(1).max(2000),
    events: z.array(z.enum(WEBHOOK_EVENT_TYPES)).min(1),
    products: z.union([z.literal('*'), z.array(z.string().min(1).max(200)).min(1).max(100)]).default('*'),
    description: z.string().max(500).optional(),
  })
  .strict();


export function mountWebhookRoutes(routes: RestRoutes, core: CoreServices): void {
  const { webhooks } = core;

  /** The products a subscription names, each known (a 400 names the one that is not). */
  const productsOf = async (ids: readonly string[] | null): Promise<ProductRecord[] | null> => {
    if (ids === null) return null;
    const all = new Map((await core.queries.productList()).map((p) => [p.id, p]));
    return ids.map((id) => {
      const product = all.get(id);
      if (!product) throw badRequest(`products: no product ${id}`);
      return product;
    });
  };

  const authorizeOn = async (req: Request, w: Pick<WebhookSubscription, 'id' | 'owner' | 'productIds'>, tried: string): Promise<void> => {
    for (const r of webhookResources({ id: w.id, owner: w.owner, products: await productsOf(w.productIds) })) await authorize(core, req, 'read', r, tried);
  };

  /** The subscription, when the caller may see it (403, audited, when another credential made it). */
  const visible = async (req: Request, id: string, tried: string): Promise<WebhookSubscription> => {
    const w = await webhooks.get(id);
    if (!w) throw notFound(`webhook ${id} not found`);
    await authorizeOn(req, w, tried);
    return w;
  };

  routes.add(
    {
      method: 'post',
      path: '/webhooks',
      tag: 'Webhooks',
      summary: 'Subscribe a URL to events; the signing secret is in this answer only',
      description: `Deliveries follow the Standard Webhooks specification (webhook-id, webhook-timestamp, webhook-signature). Events: ${WEBHOOK_EVENT_TYPES.join(', ')}. The URL must be http(s); private and loopback addresses are refused unless the deployment allows them.`,
      permission: 'admin, or read on the CA of every product named (a credential for every product and CA to subscribe to all)',
      body: createBody,
      responses: { 201: { description: 'Created', schema: createdSchema, headers: { Location: 'the subscription' } } },
    },
    async ({ req, res, body }) => {
      const owner = principalOf(credentialOf(req));
      const productIds = body.products === '*' ? null : body.products;
      await authorizeOn(req, { id: 'new', owner, productIds }, 'webhook.create');
      const { subscription, secret } = await webhooks.create({ url: body.url, events: body.events, productIds, description: body.description ?? null }, owner, auditContextOf(req));
      res.status(201).location(`/v1/webhooks/${subscription.id}`).set('Cache-Control', 'no-store').json({ ...webhookJson(subscription), secret });
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/webhooks',
      tag: 'Webhooks',
      summary: 'Subscriptions, oldest first (never their secrets): all for an admin, else the caller\'s own',
      permission: 'any REST credential (sees its own)',
      responses: { 200: { description: 'The subscriptions', schema: z.object({ webhooks: z.array(webhookSchema) }) } },
    },
    async ({ req, res }) => {
      const credential = credentialOf(req);
      const list = await webhooks.list(credential.admin ? {} : { owner: principalOf(credential) });
      // Products taken from the credential since stay listed only while it may still read them.
      const products = new Map((await core.queries.productList()).map((p) => [p.id, p]));
      const shown = list.filter((w) =>
        webhookResources({ id: w.id, owner: w.owner, products: w.productIds && w.productIds.flatMap((id) => products.get(id) ?? []) }).every((r) => mayDo(core, req, 'read', r)),
      );
      res.json({ webhooks: shown.map(webhookJson) });
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/webhooks/:id',
      tag: 'Webhooks',
      summary: 'One subscription (never its secret)',
      permission: 'admin, or the credential that made it',
      params: idParams,
      responses: { 200: { description: 'The subscription', schema: webhookSchema } },
    },
    async ({ req, res, params }) => {
      res.json(webhookJson(await visible(req, params.id, 'webhook.read')));
    },
  );

  routes.add(
    {
      method: 'delete',
      path: '/webhooks/:id',
      tag: 'Webhooks',
      summary: 'Remove a subscription; deliveries not yet made are dropped',
      permission: 'admin, or the credential that made it',
      params: idParams,
      responses: { 200: { description: 'Removed', schema: webhookSchema } },
    },
    async ({ req, res, params }) => {
      await visible(req, params.id, 'webhook.delete');
      res.json(webhookJson(await webhooks.remove(params.id, auditContextOf(req))));
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/webhooks/:id/deliveries',
      tag: 'Webhooks',
      summary: 'The delivery log: every attempt, newest first, with the answer\'s status code or the error',
      permission: 'admin, or the credential that made it',
      params: idParams,
      query: pageQuery,
      responses: { 200: { description: 'One page of attempts', schema: z.object({ deliveries: z.array(attemptSchema), ...pageFields }) } },
    },
    async ({ req, res, params, query: q }) => {
      await visible(req, params.id, 'webhook.read');
      const { attempts, total } = await webhooks.attempts(params.id, { limit: q.pageSize, offset: (q.page - 1) * q.pageSize });
      res.json({ deliveries: attempts.map(attemptJson), ...pageOf(q, total) });
    },
  );
}
