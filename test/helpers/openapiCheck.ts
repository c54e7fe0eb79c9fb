// Checks REST answers against the OpenAPI document the server publishes: the answer's status must
// be documented for its operation, and its JSON body must validate (ajv, JSON Schema 2020-12)
// against the schema the document gives for that method, path and status. Remembers which
// operations were checked, so a suite can tell which ones it never exercised.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { httpRequest } from './http.js';
import type { ApiAnswer } from './restEnv.js';

type Json = Record<string, unknown>;

export interface Operation {
  /** `POST /v1/certificates/{id}/revoke`: how tables of exercises name an operation. */
  key: string;
  method: string;
  /** The document's path template. */
  path: string;
  operation: Json;
  matches(urlPath: string): boolean;
  /** Literal segments: a concrete path matches before a templated one (OpenAPI 3.1 §4.8.8.2). */
  literalSegments: number;
}

const DOC_ID = 'https://certgate.test/openapi.json';
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
/** JSON pointer segment escaping (RFC 6901). */
const escape = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');
const mediaType = (contentType: string | null): string => (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

export class OpenApiCheck {
  readonly ajv: Ajv2020;
  readonly operations: Operation[];
  /** Operation key → the statuses seen and checked. */
  readonly exercised = new Map<string, Set<number>>();
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(readonly document: Json) {
    // Strict: a keyword ajv does not know inside a schema is an error in the document. The
    // document's own top-level members are declared as a vocabulary so that it can be the root
    // every `#/components/schemas/…` reference resolves against.
    this.ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
    this.ajv.addVocabulary(['openapi', 'info', 'tags', 'paths', 'components', 'security', 'servers', 'jsonSchemaDialect', 'webhooks', 'externalDocs']);
    // An answer's times are ISO 8601 UTC with milliseconds, as the contract says.
    this.ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
    this.ajv.addFormat('base64', /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
    this.ajv.addSchema(document, DOC_ID);
    this.operations = [];
    for (const [path, item] of Object.entries((document.paths ?? {}) as Record<string, Json>)) {
      const pattern = new RegExp(`^${path.split(/\{[^}]+\}/).map((lit) => lit.replace(/[.*+?^$()|[\]\\]/g, '\\$&')).join('[^/]+')}$`);
      for (const method of METHODS) {
        const operation = item[method] as Json | undefined;
        if (!operation) continue;
        this.operations.push({
          key: `${method.toUpperCase()} ${path}`,
          method,
          path,
          operation,
          matches: (urlPath) => pattern.test(urlPath),
          literalSegments: path.split('/').filter((s) => s && !s.startsWith('{')).length,
        });
      }
    }
  }

  static async load(base: string): Promise<OpenApiCheck> {
    const res = await httpRequest(`${base}/v1/openapi`);
    if (res.status !== 200) throw new Error(`GET /v1/openapi: ${res.status}`);
    return new OpenApiCheck(res.json as Json);
  }

  /** The operation a request for `method` and `url` (a path, with or without a query) reaches. */
  operationFor(method: string, url: string): Operation | undefined {
    const path = new URL(url, 'http://x').pathname;
    return this.operations
      .filter((o) => o.method === method.toLowerCase() && o.matches(path))
      .sort((a, b) => b.literalSegments - a.literalSegments)[0];
  }

  /** Every schema in the document, by JSON pointer: each must compile. */
  schemaPointers(): string[] {
    const pointers: string[] = [];
    for (const name of Object.keys(((this.document.components as Json | undefined)?.schemas ?? {}) as Json)) pointers.push(`/components/schemas/${escape(name)}`);
    for (const o of this.operations) {
      const at = `/paths/${escape(o.path)}/${o.method}`;
      ((o.operation.parameters ?? []) as Json[]).forEach((_p, i) => pointers.push(`${at}/parameters/${i}/schema`));
      const body = o.operation.requestBody as { content: Json } | undefined;
      for (const ct of Object.keys(body?.content ?? {})) pointers.push(`${at}/requestBody/content/${escape(ct)}/schema`);
      for (const [status, r] of Object.entries(o.operation.responses as Record<string, { content?: Json }>)) {
        for (const ct of Object.keys(r.content ?? {})) pointers.push(`${at}/responses/${status}/content/${escape(ct)}/schema`);
      }
    }
    return pointers;
  }

  validator(pointer: string): ValidateFunction {
    let v = this.validators.get(pointer);
    if (!v) {
      v = this.ajv.getSchema(`${DOC_ID}#${pointer}`);
      if (!v) throw new Error(`no schema at ${pointer}`);
      this.validators.set(pointer, v);
    }
    return v;
  }

  /**
   * Throws unless `answer` is what the document says `method url` may answer: a documented status
   * and, for JSON, a body that validates. Returns the operation, recorded as exercised.
   */
  check(method: string, url: string, answer: Pick<ApiAnswer, 'status' | 'headers' | 'text'>): Operation {
    const op = this.operationFor(method, url);
    const where = `${method.toUpperCase()} ${url} → ${answer.status}`;
    if (!op) throw new Error(`${where}: no operation in the document`);
    const responses = op.operation.responses as Record<string, { content?: Record<string, unknown> }>;
    const response = responses[String(answer.status)] ?? responses.default;
    if (!response) throw new Error(`${where}: status not documented for ${op.key} (documented: ${Object.keys(responses).join(', ')}); body ${answer.text.slice(0, 300)}`);
    const ct = mediaType(answer.headers.get('content-type'));
    const content = response.content ?? {};
    if (Object.keys(content).length) {
      if (!(ct in content)) throw new Error(`${where}: content-type ${ct} not documented (documented: ${Object.keys(content).join(', ')})`);
      if (ct === 'application/json' || ct.endsWith('+json')) {
        let body: unknown;
        try {
          body = JSON.parse(answer.text);
        } catch {
          throw new Error(`${where}: declared JSON, body does not parse: ${answer.text.slice(0, 200)}`);
        }
        const status = responses[String(answer.status)] ? String(answer.status) : 'default';
        const validate = this.validator(`/paths/${escape(op.path)}/${op.method}/responses/${status}/content/${escape(ct)}/schema`);
        if (!validate(body)) {
          throw new Error(`${where}: body does not match the document's schema for ${op.key} ${status}:\n${(validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`).join('\n')}\nbody: ${answer.text.slice(0, 600)}`);
        }
      }
    }
    let seen = this.exercised.get(op.key);
    if (!seen) this.exercised.set(op.key, (seen = new Set()));
    seen.add(answer.status);
    return op;
  }

  /** The JSON Schema of an operation's JSON request body, if it takes one. */
  requestSchema(op: Operation): Json | undefined {
    const body = op.operation.requestBody as { content?: Record<string, { schema?: Json }> } | undefined;
    return body?.content?.['application/json']?.schema;
  }

  /**
   * A small instance of `schema` (its `#/components/schemas` references resolved): every property
   * with a plausible value, the first of an enum. A seed for fuzzing: mutated, it reaches past the
   * first validation error; as it is, it is usually (not always: refinements are not in the
   * document) accepted.
   */
  exampleOf(schema: Json | undefined, depth = 0): unknown {
    if (!schema || depth > 6) return {};
    if (typeof schema.$ref === 'string') {
      const name = schema.$ref.replace('#/components/schemas/', '');
      return this.exampleOf(((this.document.components as Json).schemas as Record<string, Json>)[name], depth + 1);
    }
    if ('const' in schema) return schema.const;
    if (Array.isArray(schema.enum)) return schema.enum[0];
    if ('default' in schema) return schema.default;
    const union = (schema.anyOf ?? schema.oneOf) as Json[] | undefined;
    if (union?.length) return this.exampleOf(union[0], depth + 1);
    const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
    switch (type) {
      case 'object':
        return Object.fromEntries(Object.entries((schema.properties ?? {}) as Record<string, Json>).map(([k, v]) => [k, this.exampleOf(v, depth + 1)]));
      case 'array':
        return Array.from({ length: Number(schema.minItems ?? 0) }, () => this.exampleOf(schema.items as Json, depth + 1));
      case 'integer':
      case 'number':
        return Number(schema.minimum ?? 1);
      case 'boolean':
        return true;
      case 'string':
        if (schema.format === 'date-time') return new Date().toISOString();
        if (schema.contentEncoding === 'base64') return 'AAAA';
        return 'x'.repeat(Math.max(1, Number(schema.minLength ?? 1)));
      default:
        return null;
    }
  }

  /** Operations of the document that no checked answer came from. */
  unexercised(): string[] {
    return this.operations.map((o) => o.key).filter((k) => !this.exercised.has(k));
  }
}

/** An `api` that checks every answer against the document on the way back. */
export function checkedApi(check: OpenApiCheck, api: (method: string, path: string, token: string | null, body?: unknown, headers?: Record<string, string>) => Promise<ApiAnswer>) {
  return async (method: string, path: string, token: string | null, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer> => {
    const answer = await api(method, path, token, body, headers);
    check.check(method, path, answer);
    return answer;
  };
}
