// Who is calling the REST API, and what they may do: bearer credentials (API keys and tokens
// from /v1/auth/token) checked by the one credential service, permissions on every route.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { sourceIpOf } from '../../src/auth/ipAllowlist.js';
import { can, mayIssueUnder } from '../../src/auth/permissions.js';
import { badRequest, forbidden, unauthorized } from '../../src/core/errors.js';
import type { CoreServices } from '../../src/core/protocol.js';
import type { AuditContext, CredentialRecord, PermissionAction, ProductRecord } from '../../src/core/types.js';

type Authed = Request & { credential: CredentialRecord };

export function credentialOf(req: Request): CredentialRecord {
  return (req as Authed).credential;
}

/** The requester a REST credential's enrollment requests carry (the API keys of before did the same). */
export const principalOf = (c: CredentialRecord): string => `apikey:${c.id}`;

export { sourceIpOf };

export function auditContextOf(req: Request): AuditContext {
  return { actor: credentialOf(req).id, protocol: 'rest', sourceIp: sourceIpOf(req) };
}

export function requirePermission(req: Request, action: PermissionAction, caId: string): void {
  if (!can(credentialOf(req), action, caId)) throw forbidden(`this credential may not ${action} on CA ${caId}`);
}

export function requireIssueUnder(req: Request, product: ProductRecord): void {
  if (!mayIssueUnder(credentialOf(req), product.id)) throw forbidden(`this credential may not issue under product ${product.name}`);
  requirePermission(req, 'issue', product.caId);
}

export function requireAdmin(req: Request): void {
  if (!credentialOf(req).admin) throw forbidden('this action needs an admin credential');
}

// A secret in a URL ends up in proxy logs, browser history and Referer headers.
const SECRET_PARAMETERS = new Set(['api_key', 'apikey', 'api-key', 'key', 'token', 'access_token', 'bearer', 'secret', 'client_secret', 'password', 'challenge', 'hmac_key']);

export const refuseSecretsInUrl: RequestHandler = (req: Request, _res: Response, next: NextFunction) => {
  for (const name of Object.keys(req.query)) {
    if (SECRET_PARAMETERS.has(name.toLowerCase())) {
      throw badRequest(`${name}: a secret never goes in a URL; send "Authorization: Bearer …" (or the request body, for /v1/auth/token)`);
    }
  }
  next();
};

export function authenticate(core: CoreServices): RequestHandler {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const result = await core.credentials.authenticate({ type: 'rest', bearer: m ? (m[1] as string) : '' }, { protocol: 'rest', sourceIp: sourceIpOf(req) });
    if (!result.ok) {
      throw unauthorized(result.reason === 'missing' ? 'missing credential: send "Authorization: Bearer cg_..." or a token from POST /v1/auth/token' : result.message);
    }
    (req as Authed).credential = result.credential;
    next();
  };
}
