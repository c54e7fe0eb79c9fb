// Other protocols' admin routes (SCEP's challenge minting), served as REST's own: behind its
// bearer authentication and request limits, rendered by its error handler, listed in its OpenAPI
// document. The protocols declare them on the kit in src/core/protocol.ts and never import REST.
import express, { type Request, type Router } from 'express';
import type { z } from 'zod';
import type { AdminAnswer, AdminCall, AdminRouteKit, AdminRouteSpec } from '../../src/core/protocol.js';
import { auditContextOf, credentialOf, principalOfRequest } from './auth.js';
import type { RestRoutes } from './route.js';

/** An express path (`/things/:id`) as a pattern for the whole of req.path. */
function pathPattern(path: string): RegExp {
  const parts = path.split('/').map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${parts.join('/')}/?$`);
}

export class AdminRoutes {
  /** Mounted by REST after authentication and its limits, before its 404. */
  readonly router: Router = express.Router();
  private readonly issuing: { method: string; path: RegExp }[] = [];

  constructor(private readonly routes: RestRoutes) {}

  /** Whether this request counts against the credential's issuance limit as well. */
  isIssuing(req: Pick<Request, 'method' | 'path'>): boolean {
    return this.issuing.some((r) => r.method === req.method && r.path.test(req.path));
  }

  /** The kit one protocol declares its routes on; `tag` names them in the document unless a route says otherwise. */
  kitFor(tag: string): AdminRouteKit {
    const routes = this.routes.on(this.router);
    return {
      add: <B extends z.ZodType>(spec: AdminRouteSpec<B>, handler: (call: AdminCall<z.output<B>>) => Promise<AdminAnswer>) => {
        const { issuing, tag: own, ...declared } = spec;
        if (issuing) this.issuing.push({ method: spec.method.toUpperCase(), path: pathPattern(spec.path) });
        routes.add({ ...declared, tag: own ?? tag }, async ({ req, res, body }) => {
          // The body validated against spec.body (undefined only for a route that declares none).
          const answer = await handler({ body: body as z.output<B>, params: req.params as Record<string, string>, credential: credentialOf(req), principal: principalOfRequest(req), audit: auditContextOf(req) });
          res.status(answer.status).set(answer.headers ?? {}).json(answer.body);
        });
      },
    };
  }
}
