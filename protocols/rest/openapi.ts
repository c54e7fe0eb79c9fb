// The OpenAPI 3.1 document, rendered from the RestRoutes declarations with zod's own JSON Schema
// output: requests as zod accepts them (io 'input': defaults optional, coerced query values),
// answers as the handlers build them (io 'output'). Schemas that carry `.meta({id})` become
// components and are referenced, so a shape shared by ten routes is described once.
import { z } from 'zod';
import type { RestRoutes, RouteSpec } from './route.js';
import { errorSchema, rejectionSchema } from './schemas.js';

/** Where the document is served, relative to the REST mount point. */
export const OPENAPI_PATH = '/openapi';

type Json = Record<string, unknown>;

/** Every route can fail in these ways; each failure is `{error}`. */
const ERROR_ANSWERS: Record<number, string> = {
  400: 'Bad input: a body, query or path parameter that does not validate',
  401: 'No credential, or one that is unknown, expired or revoked',
  403: 'The credential may not do this',
  404: 'No such object',
  409: 'Conflicts with the current state (an Idempotency-Key whose first request is still in progress, say)',
  422: 'Understood but refused: a policy rule (code, rule and detail say which) or an Idempotency-Key reused with another body',
  429: 'Rate limit exceeded; retry after Retry-After seconds',
  503: 'A dependency (store, queue, an upstream CA) cannot be reached; retry after Retry-After seconds',
};

/** `{error}`, and beside it the refusal's structure when a policy rule refused (and the request it refused). */
const errorAnswerSchema = errorSchema
  .extend({ ...rejectionSchema.partial().shape, request_id: z.string().optional().describe('the enrollment request that was refused or failed') })
  .meta({ id: 'Error' });

/** What the JSON body parser answers, for a request that has a body (any method but GET). */
const BODY_ERROR_ANSWERS: Record<number, string> = {
  413: 'The body is larger than certgate reads',
  415: 'The body is in a charset or content encoding certgate does not read',
};

/** The permission text of a route a caller reaches without a credential (see RouteSpec.permission). */
const isPublic = (spec: RouteSpec): boolean => /^none\b/.test(spec.permission);

/** `/certificates/:id/revoke` → `/certificates/{id}/revoke`. */
export const openApiPath = (expressPath: string): string => expressPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');

const operationId = (spec: RouteSpec): string =>
  spec.method +
  spec.path
    .split('/')
    .filter(Boolean)
    .map((seg) => seg.replace(/^:/, 'by-'))
    .join('-')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]?.toUpperCase() + w.slice(1))
    .join('');

/**
 * Renders zod schemas to JSON Schema 2020-12 and gathers the identified ones into one
 * components/schemas map. Identified schemas that render differently as a request than as an
 * answer (a default makes an answer field required) get components of their own, `<id>Input`.
 */
class SchemaRenderer {
  readonly components: Record<string, Json> = {};

  render(schema: z.ZodType, io: 'input' | 'output'): Json {
    const { $defs, $schema: _dialect, ...json } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'throw', override: describeRefinements }) as Json;
    const defs = ($defs ?? {}) as Record<string, Json>;
    for (const suffix of io === 'input' ? ['', 'Input'] : ['']) {
      const named = (node: unknown): unknown => referTo(node, (id) => `#/components/schemas/${id}${suffix}`);
      const components = Object.entries(defs).map(([id, def]) => [`${id}${suffix}`, named(def) as Json] as const);
      if (components.every(([name, def]) => !this.components[name] || JSON.stringify(this.components[name]) === JSON.stringify(def))) {
        for (const [name, def] of components) this.components[name] = def;
        return named(json) as Json;
      }
    }
    throw new Error(`different schemas are declared with the same id (one of ${Object.keys(defs).join(', ')})`);
  }
}

/**
 * JSON Schema has no word for a rule between fields (`.refine(…, {message})`): its message, which
 * says the rule to a caller who broke it, goes into the description, where a reader sees it first.
 */
function describeRefinements({ zodSchema, jsonSchema }: { zodSchema: z.core.$ZodTypes; jsonSchema: Json }): void {
  const rules: string[] = [];
  for (const check of zodSchema._zod.def.checks ?? []) {
    const def = check._zod.def as { check: string; error?: (issue: unknown) => unknown };
    const message = def.check === 'custom' && typeof def.error === 'function' ? def.error({}) : undefined;
    if (typeof message === 'string') rules.push(message);
  }
  if (rules.length) jsonSchema.description = [jsonSchema.description, `Also: ${rules.join('; ')}.`].filter(Boolean).join(' ');
}

/** A copy of `node` whose `#/$defs/<id>` references point where `target` says. */
function referTo(node: unknown, target: (id: string) => string): unknown {
  if (Array.isArray(node)) return node.map((n) => referTo(n, target));
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/') ? target(v.slice('#/$defs/'.length)) : referTo(v, target);
  }
  return out;
}

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  description?: string;
  schema: Json;
}

function parametersOf(renderer: SchemaRenderer, schema: z.ZodType | undefined, where: 'path' | 'query'): Parameter[] {
  if (!schema) return [];
  const json = renderer.render(schema, 'input');
  const properties = (json.properties ?? {}) as Record<string, Json>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, prop]) => {
    const { description, ...rest } = prop;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });
}

function operationOf(renderer: SchemaRenderer, spec: RouteSpec): Json {
  const parameters: Parameter[] = [
    ...parametersOf(renderer, spec.params, 'path'),
    ...parametersOf(renderer, spec.query, 'query'),
    ...Object.entries(spec.headers ?? {}).map(([name, h]) => ({
      name,
      in: 'header' as const,
      required: !!h.required,
      description: h.description,
      schema: { type: 'string' },
    })),
  ];
  const responses: Json = {};
  for (const [status, answer] of Object.entries(spec.responses)) {
    const contentType = answer.contentType ?? 'application/json';
    // No schema and no media type: an answer without a body (204).
    const bodiless = !answer.schema && !answer.contentType;
    responses[status] = {
      description: answer.description,
      ...(answer.headers ? { headers: Object.fromEntries(Object.entries(answer.headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }])) } : {}),
      ...(bodiless
        ? {}
        : {
            content: {
              [contentType]: { schema: answer.schema ? renderer.render(answer.schema, 'output') : { type: 'string' } },
              ...Object.fromEntries(Object.entries(answer.alternatives ?? {}).map(([type, description]) => [type, { schema: { type: 'string', description } }])),
            },
          }),
    };
  }
  const error = renderer.render(errorAnswerSchema, 'output');
  for (const [status, description] of Object.entries({ ...ERROR_ANSWERS, ...(spec.method === 'get' ? {} : BODY_ERROR_ANSWERS) })) {
    const retry = status === '429' || status === '503';
    responses[status] ??= {
      description,
      ...(retry ? { headers: { 'Retry-After': { description: 'seconds', schema: { type: 'string' } } } } : {}),
      ...(status === '401' ? { headers: { 'WWW-Authenticate': { description: 'Bearer', schema: { type: 'string' } } } } : {}),
      content: { 'application/json': { schema: error } },
    };
  }
  return {
    operationId: operationId(spec),
    tags: [spec.tag],
    summary: spec.summary,
    description: [spec.description, `Permission: ${spec.permission}.`].filter(Boolean).join('\n\n'),
    ...(parameters.length ? { parameters } : {}),
    ...(spec.body
      ? {
          requestBody: {
            // The router reads a missing body as {}: the body is required only when {} does not do.
            required: !spec.body.safeParse({}).success,
            content: { 'application/json': { schema: renderer.render(spec.body, 'input') } },
          },
        }
      : {}),
    responses,
    ...(isPublic(spec) ? { security: [] } : {}),
  };
}

/**
 * What the HTTP host serves beside the protocols (src/app.ts), documented here so that the one
 * document covers every HTTP route an operator scripts against. Their paths are absolute; they
 * answer without the REST API's credential and without its `{error}` answers.
 */
interface HostRoute {
  path: string;
  summary: string;
  description: string;
  /** `metrics`: the optional bearer of CERTGATE_METRICS_TOKEN; `none`: open. */
  access: 'none' | 'metrics';
  responses: Record<number, { description: string; contentType: string; schema?: Json; headers?: Record<string, string> }>;
}

const HOST_ROUTES: readonly HostRoute[] = [
  {
    path: '/healthz',
    summary: 'Liveness: the process answers HTTP',
    description: 'Checks nothing else: for a liveness probe that restarts a process that no longer answers.',
    access: 'none',
    responses: { 200: { description: 'Alive', contentType: 'application/json', schema: { type: 'object', properties: { status: { const: 'ok' } }, required: ['status'] } } },
  },
  {
    path: '/readyz',
    summary: 'Readiness: the store and the queue answer a ping',
    description: 'For a readiness probe or a load balancer: 503 while a dependency cannot be reached, naming it.',
    access: 'none',
    responses: {
      200: { description: 'Ready', contentType: 'application/json', schema: { type: 'object', properties: { status: { const: 'ready' } }, required: ['status'] } },
      503: {
        description: 'A dependency is down',
        contentType: 'application/json',
        headers: { 'Retry-After': 'seconds' },
        schema: {
          type: 'object',
          properties: { status: { const: 'unavailable' }, down: { type: 'array', items: { enum: ['store', 'queue'] } }, problems: { type: 'array', items: { type: 'string' } } },
          required: ['status', 'down', 'problems'],
        },
      },
    },
  },
  {
    path: '/metrics',
    summary: 'Prometheus metrics, in the text exposition format',
    description:
      'For a Prometheus scrape job. When CERTGATE_METRICS_TOKEN is set, the scraper sends it as a bearer token (Prometheus: `authorization: {credentials: …}`); when it is not, the endpoint is open.',
    access: 'metrics',
    responses: {
      200: { description: 'The exposition (text/plain; version=0.0.4)', contentType: 'text/plain', schema: { type: 'string' } },
      401: { description: 'CERTGATE_METRICS_TOKEN is set, and the request did not carry it', contentType: 'text/plain', schema: { type: 'string' } },
    },
  },
];

function hostOperation(route: HostRoute): Json {
  return {
    operationId: `get${route.path.replace(/[^A-Za-z0-9]/g, '').replace(/^./, (c) => c.toUpperCase())}`,
    tags: ['Operations'],
    summary: route.summary,
    description: route.description,
    responses: Object.fromEntries(
      Object.entries(route.responses).map(([status, r]) => [
        status,
        {
          description: r.description,
          ...(r.headers ? { headers: Object.fromEntries(Object.entries(r.headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }])) } : {}),
          content: { [r.contentType]: { schema: r.schema ?? { type: 'string' } } },
        },
      ]),
    ),
    // Open, or (metrics) open unless the token is set.
    security: route.access === 'metrics' ? [{}, { metricsToken: [] }] : [],
  };
}

export interface DocumentInfo {
  /** Where the REST router is mounted (`/v1`): the document's paths are absolute. */
  basePath: string;
  title: string;
  version: string;
  description?: string;
}

export function openApiDocument(specs: readonly RouteSpec[], info: DocumentInfo): Json {
  const renderer = new SchemaRenderer();
  const paths: Record<string, Json> = {};
  const tags: string[] = [];
  for (const spec of specs) {
    const path = `${info.basePath}${openApiPath(spec.path)}`;
    const item = (paths[path] ??= {});
    if (item[spec.method]) throw new Error(`${spec.method.toUpperCase()} ${path} is declared twice`);
    item[spec.method] = operationOf(renderer, spec);
    if (!tags.includes(spec.tag)) tags.push(spec.tag);
  }
  for (const route of HOST_ROUTES) paths[route.path] = { get: hostOperation(route) };
  tags.push('Operations');
  return {
    openapi: '3.1.0',
    info: { title: info.title, version: info.version, ...(info.description ? { description: info.description } : {}) },
    tags: tags.map((name) => ({ name })),
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(renderer.components).sort(([a], [b]) => a.localeCompare(b))),
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: `An API key (cg_…, from \`certgate init\` or \`certgate credential create --type rest\`), or a short-lived token from POST ${info.basePath}/auth/token`,
        },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'The value of CERTGATE_METRICS_TOKEN (only for GET /metrics, and only when it is set)' },
      },
    },
  };
}

/**
 * GET /openapi, reachable without a credential (as Certman's). The document is built on the first
 * request, when every route module has been mounted, and kept: the routes do not change while the
 * process runs.
 */
export function mountOpenApiRoute(routes: RestRoutes): void {
  let document: string | undefined;
  routes.add(
    {
      method: 'get',
      path: OPENAPI_PATH,
      tag: 'Meta',
      summary: 'This document: the OpenAPI 3.1 description of every /v1 route, and of the host\'s /healthz, /readyz and /metrics',
      permission: 'none',
      responses: { 200: { description: 'The OpenAPI document', schema: z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.looseObject({}) }) } },
    },
    ({ req, res }) => {
      document ??= JSON.stringify(
        openApiDocument(routes.specs, {
          basePath: req.baseUrl,
          title: 'certgate REST API',
          version: '1',
          description:
            'Certificates over REST, in the shapes Certman integrators script against. Errors are `{"error": "…"}` with a 4xx status. ' +
            'Also here: the host\'s probes and metrics (/healthz, /readyz, /metrics). Not here: the enrollment protocols, which speak their own standards to their own clients ' +
            '(ACME, RFC 8555, at /acme/directory; EST, RFC 7030, at /.well-known/est; SCEP, RFC 8894, at /scep; CRLs and OCSP, RFC 5280 and 6960), and this document\'s viewer at /docs.',
        }),
      );
      res.type('application/json').send(document);
    },
  );
}
