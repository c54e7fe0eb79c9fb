// /v1/credentials (admin) and /v1/auth/token (anyone holding a rest credential's secret).
import { z } from 'zod';
import { createdCredentialView, credentialView } from '../../src/auth/credentialView.js';
import { parsePermission } from '../../src/auth/permissions.js';
import { badRequest, notFound, unauthorized } from '../../src/core/errors.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { CREDENTIAL_SCOPES, PERMISSION_ACTIONS, type Permission, type PermissionAction } from '../../src/core/types.js';
import { auditContextOf, requireAdmin, sourceIpOf } from './auth.js';
import { pageOf, pageQuery } from './pagination.js';
import type { RestRoutes } from './route.js';
import { idParams, pageFields } from './schemas.js';

const permission = z.union([
  z.string().transform((text, ctx) => {
    try {
      return parsePermission(text);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  }),
  z.object({ ca: z.string().min(1), actions: z.array(z.enum(PERMISSION_ACTIONS as [PermissionAction, ...PermissionAction[]])).min(1) }),
]);

/** A credential type of the registered protocols (read at mount): an unknown one is a 400 that names them. */
const credentialTypeOf = (types: string[]) => (types.length ? z.enum(types as [string, ...string[]]) : z.never());

const createBodyOf = (type: z.ZodType<string>) =>
  z
    .object({
      type,
      name: z.string().min(1).max(128).optional(),
      products: z.union([z.literal('*'), z.array(z.string().min(1)).min(1)]),
      ownerUser: z.string().min(1).max(200).optional(),
      owner_user: z.string().min(1).max(200).optional(),
      ownerGroup: z.string().min(1).max(200).optional(),
      owner_group: z.string().min(1).max(200).optional(),
      expiresAt: z.iso.datetime({ offset: true }).optional(),
      expires_at: z.iso.datetime({ offset: true }).optional(),
      expiresInDays: z.number().int().min(1).max(36_500).optional(),
      allowIps: z.array(z.string()).max(100).optional(),
      allow_ips: z.array(z.string()).max(100).optional(),
      permissions: z.array(permission).optional(),
      admin: z.boolean().optional(),
      scope: z.enum(CREDENTIAL_SCOPES).optional().describe('own: reads and acts only on what it requested itself; product (default): on everything of its products'),
    })
    .strict();

const listQueryOf = (type: z.ZodType<string>) =>
  pageQuery.extend({
    type: type.optional(),
    status: z.enum(['active', 'revoked', 'expired', 'all']).default('all'),
  });

const tokenBody = z
  .object({
    clientId: z.string().min(1).max(64).optional(),
    client_id: z.string().min(1).max(64).optional(),
    secret: z.string().min(1).max(200).optional(),
    client_secret: z.string().min(1).max(200).optional(),
  })
  .transform((b) => ({ clientId: b.clientId ?? b.client_id, secret: b.secret ?? b.client_secret }))
  .refine((b) => b.clientId, { message: 'clientId is required', path: ['clientId'] })
  .refine((b) => b.secret, { message: 'secret is required', path: ['secret'] });

/** Mounted before authentication: the token exchange is how a client gets a credential to send. */
export function mountTokenRoute(routes: RestRoutes, core: CoreServices): void {
  routes.add(
    {
      method: 'post',
      path: '/auth/token',
      tag: 'Credentials',
      summary: 'Exchange a rest credential\'s id and secret for a short-lived bearer token',
      permission: 'none (the secret is the proof)',
      body: tokenBody,
      responses: {
        200: { description: 'A token', schema: z.object({ token: z.string(), token_type: z.literal('Bearer'), exp: z.number().int(), expires_in: z.number().int() }) },
      },
    },
    async ({ req, res, body }) => {
      const result = await core.credentials.exchangeToken(body.clientId as string, body.secret as string, { protocol: 'rest', sourceIp: sourceIpOf(req) });
      if (!result.ok) throw unauthorized(result.message);
      res.set('Cache-Control', 'no-store').json({ token: result.token, token_type: 'Bearer', exp: result.exp, expires_in: result.exp - Math.floor(Date.now() / 1000) });
    },
  );
}

const credentialSchema = z.looseObject({ id: z.string(), type: z.string(), name: z.string(), scope: z.enum(CREDENTIAL_SCOPES) });
const createdSchema = z.looseObject({ id: z.string(), secret: z.string() });

export function mountCredentialRoutes(routes: RestRoutes, core: CoreServices): void {
  const { credentials } = core;
  const type = credentialTypeOf(credentials.types);

  routes.add(
    {
      method: 'post',
      path: '/credentials',
      tag: 'Credentials',
      summary: 'Create a credential of any protocol; its secret is shown once',
      permission: 'admin',
      body: createBodyOf(type),
      responses: { 201: { description: 'Created', schema: createdSchema, headers: { Location: 'the credential' } } },
    },
    async ({ req, res, body: b }) => {
      await requireAdmin(core, req, 'credential.create');
      const expiresAt = b.expiresAt ?? b.expires_at;
      if (expiresAt && b.expiresInDays) throw badRequest('expiresAt: give expiresAt or expiresInDays, not both');
      const created = await credentials.create(
        {
          type: b.type,
          products: b.products,
          ...(b.name ? { name: b.name } : {}),
          ownerUser: b.ownerUser ?? b.owner_user ?? null,
          ownerGroup: b.ownerGroup ?? b.owner_group ?? null,
          expiresAt: expiresAt ? new Date(expiresAt) : b.expiresInDays ? new Date(core.now() + b.expiresInDays * 86_400_000) : null,
          allowIps: b.allowIps ?? b.allow_ips ?? [],
          permissions: (b.permissions ?? []) as Permission[],
          admin: !!b.admin,
          ...(b.scope ? { scope: b.scope } : {}),
        },
        auditContextOf(req),
      );
      res.status(201).location(`/v1/credentials/${created.credential.id}`).set('Cache-Control', 'no-store').json(createdCredentialView(created));
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/credentials',
      tag: 'Credentials',
      summary: 'Credentials, oldest first (never their secrets)',
      permission: 'admin',
      query: listQueryOf(type),
      responses: { 200: { description: 'One page', schema: z.object({ credentials: z.array(credentialSchema), ...pageFields }) } },
    },
    async ({ req, res, query: q }) => {
      await requireAdmin(core, req, 'credential.list');
      const { credentials: list, total } = await credentials.list(
        { ...(q.type ? { type: q.type } : {}), status: q.status },
        { limit: q.pageSize, offset: (q.page - 1) * q.pageSize },
      );
      res.json({ credentials: list.map((c) => credentialView(c, core.now())), ...pageOf(q, total) });
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/credentials/:id',
      tag: 'Credentials',
      summary: 'One credential',
      permission: 'admin',
      params: idParams,
      responses: { 200: { description: 'The credential', schema: credentialSchema } },
    },
    async ({ req, res, params }) => {
      await requireAdmin(core, req, 'credential.read', params.id);
      const c = await credentials.get(params.id);
      if (!c) throw notFound(`credential ${params.id} not found`);
      res.json(credentialView(c, core.now()));
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/credentials/:id/rotate',
      tag: 'Credentials',
      summary: 'A new secret; the old one keeps working for graceSeconds',
      permission: 'admin',
      params: idParams,
      body: z
        .object({ graceSeconds: z.number().int().min(0).max(30 * 86_400).optional(), grace_seconds: z.number().int().min(0).max(30 * 86_400).optional() })
        .strict(),
      responses: { 200: { description: 'Rotated', schema: createdSchema } },
    },
    async ({ req, res, params, body: b }) => {
      await requireAdmin(core, req, 'credential.rotate', params.id);
      const rotated = await credentials.rotate(params.id, b.graceSeconds ?? b.grace_seconds ?? 0, auditContextOf(req));
      res.set('Cache-Control', 'no-store').json(createdCredentialView(rotated));
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/credentials/:id/revoke',
      tag: 'Credentials',
      summary: 'Revoke a credential at once, in every process',
      permission: 'admin',
      params: idParams,
      responses: { 200: { description: 'Revoked', schema: credentialSchema } },
    },
    async ({ req, res, params }) => {
      await requireAdmin(core, req, 'credential.revoke', params.id);
      res.json(credentialView(await credentials.revoke(params.id, auditContextOf(req)), core.now()));
    },
  );
}
