// Who is calling the REST API, and what they may do: bearer credentials (API keys and tokens
// from /v1/auth/token) checked by the one credential service; every route asks the one
// authorization decision (src/auth/authorize.ts) about the resource it acts on.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { CSRF_HEADER, sessionCookieOf } from '../../src/auth/consoleSessions.js';
import { sourceIpOf } from '../../src/auth/ipAllowlist.js';
import { caResource, principalOfCredential, type AuthzAction, type Principal, type Resource } from '../../src/auth/authorize.js';
import { authorizedCertificateFor, restCaller, restRequester, type Caller } from '../../src/core/access.js';
import { badRequest, forbidden, unauthorized } from '../../src/core/errors.js';
import type { CoreServices } from '../../src/core/protocol.js';
import type { AuditContext, CredentialRecord, InventoryRecord } from '../../src/core/types.js';

export { certificateResource, requestResource } from '../../src/core/access.js';

type Authed = Request & { credential: CredentialRecord; viaConsole?: boolean };

export function credentialOf(req: Request): CredentialRecord {
  return (req as Authed).credential;
}

/** The requester a REST credential's enrollment requests carry (the API keys of before did the same). */
export const principalOf = restRequester;

export { sourceIpOf };

export function auditContextOf(req: Request): AuditContext {
  // The trail says where a person acted: the console (a session) or the API.
  return { actor: credentialOf(req).id, protocol: (req as Authed).viaConsole ? 'console' : 'rest', sourceIp: sourceIpOf(req) };
}

/** The caller as the authorization decision sees it. */
export const principalOfRequest = (req: Request): Principal => principalOfCredential(credentialOf(req), principalOf(credentialOf(req)));

/** The caller as the core's shared checks (src/core/access.ts) take it. */
export const callerOf = (req: Request): Caller => restCaller(credentialOf(req), auditContextOf(req));

/**
 * Throws 403 (audited) unless the caller may do `action` to `resource`. `tried` names the refusal in
 * the audit trail where the route is not the action's own (reinstate decides as suspend, decline as approve).
 */
export async function authorize(core: CoreServices, req: Request, action: AuthzAction, resource: Resource, tried?: string): Promise<void> {
  await core.authz.require(principalOfRequest(req), action, resource, auditContextOf(req), tried);
}

export function mayDo(core: CoreServices, req: Request, action: AuthzAction, resource: Resource): boolean {
  return core.authz.may(principalOfRequest(req), action, resource);
}

/** Loads the certificate and throws 403 (audited) unless the caller may do `action` to it; 404 when there is none. */
export function authorizedCertificate(core: CoreServices, req: Request, id: string, action: AuthzAction, tried?: string): Promise<InventoryRecord> {
  return authorizedCertificateFor(core, callerOf(req), id, action, tried);
}

/** A CA-wide question (a list or lookup narrowed to a CA): the permission on the CA, whatever the product. */
export async function requirePermission(core: CoreServices, req: Request, action: AuthzAction, caId: string): Promise<void> {
  await authorize(core, req, action, caResource(caId));
}

export async function requireAdmin(core: CoreServices, req: Request, tried: string, target = '*'): Promise<void> {
  if (!credentialOf(req).admin) await core.authz.refuse(auditContextOf(req), tried, target, 'this action needs an admin credential', { authz: 'admin' });
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

/** Methods that change nothing: the only ones a console session may use without its CSRF token. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The console session a browser sent in its cookie, when the request has no Authorization header. */
function sessionOf(req: Request): string | undefined {
  return req.headers.authorization !== undefined ? undefined : sessionCookieOf(req.headers.cookie);
}

export function authenticate(core: CoreServices): RequestHandler {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const session = sessionOf(req);
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const presented = session !== undefined ? { type: 'rest' as const, bearer: session, session: true } : { type: 'rest' as const, bearer: m ? (m[1] as string) : '' };
    const context = { protocol: session !== undefined ? 'console' : 'rest', sourceIp: sourceIpOf(req) };
    const result = await core.credentials.authenticate(presented, context);
    if (!result.ok) {
      if (session !== undefined) throw unauthorized(`your console session has ended (${result.message}); sign in again`);
      throw unauthorized(result.reason === 'missing' ? 'missing credential: send "Authorization: Bearer cg_..." or a token from POST /v1/auth/token' : result.message);
    }
    // The cookie goes with every request the browser makes to this site, wherever the page that
    // makes it came from: a change needs the token only the console's own pages can read.
    if (session !== undefined && !SAFE_METHODS.has(req.method) && !(await core.credentials.sessionCsrfMatches(session, req.get(CSRF_HEADER)))) {
      await core.credentials.recordRefusal(context, result.credential.id, 'csrf', 'rest', result.credential.id);
      throw forbidden(`a change made with a console session must carry its CSRF token in ${CSRF_HEADER}`);
    }
    (req as Authed).credential = result.credential;
    (req as Authed).viaConsole = session !== undefined;
    next();
  };
}
