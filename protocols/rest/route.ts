// Every REST route is declared once, here-shaped: its method and path, the zod schemas that
// validate its path parameters, query and body, and the schemas of its answers. The router runs
// the validation; openapi.ts renders the same declarations as the OpenAPI document, so the
// document cannot drift from what the code accepts.
import type { Request, Response, Router } from 'express';
import type { z } from 'zod';

export type Method = 'get' | 'post' | 'put' | 'delete';

export interface Answer {
  description: string;
  /** The JSON body; absent for a body that is not JSON (then `contentType` says what it is). */
  schema?: z.ZodType;
  contentType?: string;
  /** Response headers worth documenting (Location, Retry-After). */
  headers?: Record<string, string>;
  /** Other forms of the same answer a client can ask for (by Accept or a query parameter): content type → what it is. */
  alternatives?: Record<string, string>;
}

export interface RouteSpec<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> {
  method: Method;
  /** Express-style, relative to /v1: `/certificates/:id`. */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  /** What the credential needs, in words for the document: `read on the certificate's CA`, `admin`, `none`. */
  permission: string;
  params?: P;
  query?: Q;
  body?: B;
  /** Request headers the route reads (Idempotency-Key). */
  headers?: Record<string, { description: string; required?: boolean }>;
  /** Success answers by status. Error answers ({error}) are documented for every route. */
  responses: Record<number, Answer>;
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface Call<P, Q, B> {
  req: Request;
  res: Response;
  params: P;
  query: Q;
  body: B;
}

export class RestRoutes {
  constructor(
    private readonly router: Router,
    /** Shared by every RestRoutes made with on(): one document for all of them. */
    readonly specs: RouteSpec[] = [],
  ) {}

  /** Declares routes on another router (one mounted before authentication, say) into the same document. */
  on(router: Router): RestRoutes {
    return new RestRoutes(router, this.specs);
  }

  add<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(
    spec: RouteSpec<P, Q, B>,
    handler: (call: Call<Out<P>, Out<Q>, Out<B>>) => Promise<void> | void,
  ): void {
    this.specs.push(spec as unknown as RouteSpec);
    this.router[spec.method](spec.path, async (req, res) => {
      // ZodErrors become 400s in the error handler; nothing runs on input that did not validate.
      const params = spec.params ? spec.params.parse(req.params) : undefined;
      const query = spec.query ? spec.query.parse(req.query) : undefined;
      const body = spec.body ? spec.body.parse(req.body ?? {}) : undefined;
      await handler({ req, res, params: params as Out<P>, query: query as Out<Q>, body: body as Out<B> });
    });
  }
}
