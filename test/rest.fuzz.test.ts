// Bad input over every operation of the published OpenAPI document: arbitrary JSON and non-JSON
// bodies, lying content types, query strings (repeated keys, huge values, unicode, broken
// percent-encoding), path parameters and headers (Authorization garbage, Idempotency-Key edges).
// Whatever comes in: never a 5xx, never a stack trace or an internal path in the answer, a
// 4xx is always JSON {error: string}, and every answer is one the document describes. Afterwards
// the audit chain verifies and no enrollment request is left half-way.
import { randomUUID, sign } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenApiCheck, type Operation } from './helpers/openapiCheck.js';
import { makeCsr } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from './helpers/restEnv.js';
import { until } from './helpers/until.js';

interface RawRequest {
  method: string;
  /** Path and query, as sent (fetch normalizes it further). */
  url: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

interface RawAnswer {
  status: number;
  text: string;
  headers: Headers;
}

const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20261302;

// ---------- arbitraries that do not depend on the operation ----------

/** What a header value can carry (fetch refuses anything outside latin-1, and CR, LF, NUL). */
const headerChar = fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c));
const headerText = (maxLength: number) => fc.string({ unit: headerChar, maxLength });
const json = fc.jsonValue({ maxDepth: 3 });
const unicode = fc.string({ unit: 'binary', maxLength: 40 });
const brokenEscapes = ['%', '%z', '%zz', '%E0%A4%A', '%C0%AF', '%00', '%FF%FE', '%2F', '%5C', '%uD800'];
const numbersThatAreNot = ['', ' ', '-1', '0', '1.5', '1e309', 'NaN', 'Infinity', '-0', '0x10', '99999999999999999999999', 'true', 'null', '[]', '{}'];
const hugeValue = fc.integer({ min: 1000, max: 12_000 }).map((n) => 'x'.repeat(n));

const weirdSegment = fc.oneof(
  unicode.map(encodeURIComponent),
  fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
  fc.constantFrom(...brokenEscapes, '..', '.', '%2e%2e', ' ', '%20', 'é', '😀', '__proto__', 'constructor', 'undefined', '-1', '*', 'a'.repeat(3000)),
);

const contentTypes = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/merge-patch+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/xml',
  'application/octet-stream',
  '',
  'json',
);

// The admin token is added per test (it is not known when these are built).
const authorizationGarbage = fc.oneof(
  headerText(80),
  headerText(80).map((t) => `Bearer ${t}`),
  fc.constantFrom('Bearer', 'Bearer ', 'Basic YWRtaW46YWRtaW4=', 'Bearer cg_', 'Bearer cg_x.y', `Bearer ${'x'.repeat(8000)}`, 'Digest username="a"', 'Bearer null', 'Bearer undefined'),
);
const idempotencyKeys = fc.oneof(headerText(40), fc.uuid(), fc.constantFrom('', ' ', 'a'.repeat(255), 'a'.repeat(256), 'k'.repeat(4000), 'ÿ'.repeat(10), '\t'));

const d = REST_DEPLOYMENTS[0];

describe.skipIf(!d || d.skip)('REST fuzz over every operation of the OpenAPI document', () => {
  let env: RestEnv;
  let check: OpenApiCheck;
  let admin: string;
  /** Real ids to put in paths (a random one too): deeper code runs for an id that exists. */
  let ids: string[];
  /**
   * Bodies that an operation accepts, by operation: fuzzing mutates them, so that the mutations get
   * past the first check and into the handler. An operation without an entry gets its document
   * example (required properties only).
   */
  let seeds: Record<string, Record<string, unknown>[]>;
  const failures: string[] = [];

  beforeAll(async () => {
    // Rate limits would turn most of the run into 429s: they have tests of their own.
    env = await startRestEnv(d as (typeof REST_DEPLOYMENTS)[number], { rateLimitPerMinute: 1_000_000, issueRateLimitPerMinute: 1_000_000 });
    admin = env.adminToken;
    check = await OpenApiCheck.load(env.base);
    const issued = await env.api('POST', '/v1/certificates', admin, { caId: env.issuingId, commonName: 'seed.fuzz.test' });
    expect(issued.status, issued.text).toBe(201);
    const cert = issued.json.certificate as { id: string; request_id: string; certificate_pem: string };
    const throwaway = await env.restKey('fuzz-throwaway', [{ ca: env.issuingId, actions: ['read'] }]);
    ids = [cert.id, cert.request_id, env.issuingId, env.rootId, env.productId, throwaway.credential.id, randomUUID()];
    const data = Buffer.from('fuzz');
    seeds = {
      'POST /v1/certificates': [
        { caId: env.issuingId, commonName: 'managed.fuzz.test' },
        { caId: env.issuingId, mode: 'csr', csrPem: makeCsr(env.dir, { subject: '/CN=csr.fuzz.test' }).csrPem },
      ],
      'POST /v1/certificates/{id}/revoke': [{ reason: 'superseded' }, { reason: 'certificateHold' }],
      'POST /v1/certificates/{id}/renew': [{ validityDays: 30 }],
      'POST /v1/requests/{id}/reject': [{ reason: 'fuzzed' }],
      'POST /v1/auth/token': [{ clientId: throwaway.credential.id, secret: throwaway.token }],
      'POST /v1/credentials': [{ type: 'rest', products: '*', permissions: [`read:${env.issuingId}`] }],
      'POST /v1/credentials/{id}/rotate': [{ graceSeconds: 0 }],
      'POST /v1/verify': [{ certificatePem: cert.certificate_pem }, { certificatePem: cert.certificate_pem, chainPem: env.issuingPem }],
      'POST /v1/verify/signature': [{ certificateId: cert.id, data: data.toString('base64'), signature: sign('sha256', data, issued.json.privateKey as string).toString('base64') }],
    };
  });
  afterAll(async () => env?.close());

  // The REST API's operations: the document also describes the host's probes and metrics, which answer outside REST's {error} contract.
  const operations = (filter: (op: Operation) => boolean = () => true): Operation[] => check.operations.filter((op) => op.path.startsWith('/v1/') && filter(op));

  const pathOf = (op: Operation, segment: (name: string) => string): string => op.path.replace(/\{([^}]+)\}/g, (_m, name: string) => segment(name));

  const seedsOf = (op: Operation): Record<string, unknown>[] => {
    if (seeds[op.key]) return seeds[op.key] as Record<string, unknown>[];
    const schema = check.requestSchema(op);
    const example = check.exampleOf(schema);
    if (!example || typeof example !== 'object' || Array.isArray(example)) return [{}];
    const required = new Set((schema?.required ?? []) as string[]);
    return [Object.fromEntries(Object.entries(example).filter(([k]) => required.has(k)))];
  };
  const seedBody = (op: Operation) => fc.constantFrom(...seedsOf(op));

  const send = async (req: RawRequest): Promise<RawAnswer> => {
    const res = await fetch(`${env.base}${req.url}`, { method: req.method, headers: req.headers, ...(req.body !== undefined ? { body: req.body } : {}), redirect: 'manual' });
    return { status: res.status, text: await res.text(), headers: res.headers };
  };

  const describeRequest = (req: RawRequest): string => {
    const body = req.body === undefined ? '' : typeof req.body === 'string' ? req.body.slice(0, 200) : `<${req.body.length} bytes>`;
    return `${req.method} ${req.url.slice(0, 300)} ${JSON.stringify(req.headers).slice(0, 300)} ${body}`;
  };

  /** What must hold for every answer; a violation is thrown, so fast-check shrinks the input. */
  const expectSane = (req: RawRequest, res: RawAnswer): void => {
    const fail = (why: string): never => {
      const message = `${why}: ${describeRequest(req)} → ${res.status} ${res.text.slice(0, 400)}`;
      failures.push(message);
      throw new Error(message);
    };
    // node:http answers a request head beyond its limit (16 KiB) itself, before certgate sees it.
    const headSize = req.url.length + Object.entries(req.headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
    if (res.status === 431 && headSize > 16_000) return;
    if (res.status >= 500) fail('5xx');
    if (/\n\s+at\s|node_modules|file:\/\/|\.[cm]?[jt]s:\d+:\d+/.test(res.text) || res.text.includes(process.cwd())) fail('stack trace or internal path in the answer');
    if (res.status >= 400) {
      if (!/^application\/json\b/.test(res.headers.get('content-type') ?? '')) fail('a 4xx that is not JSON');
      let body: unknown;
      try {
        body = JSON.parse(res.text);
      } catch {
        fail('a 4xx whose JSON does not parse');
      }
      if (typeof (body as { error?: unknown })?.error !== 'string') fail('a 4xx without {error: string}');
    }
    const pathname = new URL(req.url, env.base).pathname;
    if (check.operationFor(req.method, pathname)) {
      try {
        check.check(req.method, pathname, { status: res.status, headers: res.headers, text: res.text });
      } catch (e) {
        fail(`not as documented (${(e as Error).message.split('\n')[0]})`);
      }
    }
  };

  /** Runs a property (one operation's); the first violation, shrunk, fails the test. */
  const run = async <Ts extends [unknown, ...unknown[]]>(property: fc.IAsyncPropertyWithHooks<Ts>, numRuns: number): Promise<void> => {
    failures.length = 0;
    const result = await fc.check(property, { numRuns, seed, endOnFailure: true });
    expect(failures.slice(0, 3), `seed ${seed}`).toEqual([]);
    expect(result.failed, fc.defaultReportMessage(result) ?? '').toBe(false);
  };

  const realPath = (op: Operation) => fc.array(fc.constantFrom(...ids), { minLength: 3, maxLength: 3 }).map((pick) => {
    let i = 0;
    return pathOf(op, () => pick[i++ % pick.length] as string);
  });

  it('starts from bodies that are accepted as they are', async () => {
    for (const op of operations((o) => !o.path.includes('{') && o.key in seeds)) {
      for (const body of seedsOf(op)) {
        const res = await env.api(op.method.toUpperCase(), op.path, op.key === 'POST /v1/auth/token' ? null : admin, body);
        expect(res.status, `${op.key} ${res.text}`).toBeLessThan(300);
      }
    }
  });

  it('bodies, systematically: each property of each seed body set, one at a time, to every value its schema allows and to junk', async () => {
    const junk: unknown[] = [null, '', -1, 1e308, [], {}, '😀\u0000\u202e', 'x'.repeat(70_000), JSON.parse('{"__proto__":{"admin":true}}')];
    let sent = 0;
    for (const op of operations((o) => o.method !== 'get')) {
      const properties = (check.requestSchema(op)?.properties ?? {}) as Record<string, Record<string, unknown>>;
      for (const seeded of seedsOf(op)) {
        for (const [key, schema] of Object.entries(properties)) {
          const allowed = [...(Array.isArray(schema.enum) ? schema.enum : []), check.exampleOf(schema)];
          for (const value of [...allowed, ...junk, undefined]) {
            const body = { ...seeded, [key]: value };
            if (value === undefined) delete body[key];
            const req: RawRequest = { method: op.method.toUpperCase(), url: pathOf(op, () => ids[sent++ % ids.length] as string), headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body) };
            expectSane(req, await send(req));
          }
        }
      }
    }
    expect(sent).toBeGreaterThan(0);
  });

  it('bodies: arbitrary JSON, mutated valid bodies, non-JSON bytes and lying content types', async () => {
    const withBody = operations((op) => op.method !== 'get');
    expect(withBody.length).toBeGreaterThan(5);
    const body = (op: Operation) => {
      const properties = (check.requestSchema(op)?.properties ?? {}) as Record<string, Record<string, unknown>>;
      const keys = [...new Set([...seedsOf(op).flatMap((b) => Object.keys(b)), ...Object.keys(properties)]), 'extra', '__proto__', 'constructor'];
      // A property gets junk, or a value its schema allows (so that the next property's check runs).
      const valueFor = (key: string) => {
        const schema = properties[key];
        const allowed = schema ? [...(Array.isArray(schema.enum) ? schema.enum : []), check.exampleOf(schema)] : [];
        return fc.oneof(json, unicode, hugeValue, ...(allowed.length ? [{ weight: 3, arbitrary: fc.constantFrom(...allowed) }] : []));
      };
      const assignments = fc.array(fc.constantFrom(...keys).chain((k) => fc.tuple(fc.constant(k), valueFor(k))), { maxLength: 3 });
      // Only values each property allows, in any combination: where checks between properties live.
      const allowedFor = (key: string): unknown[] => {
        const schema = properties[key] as Record<string, unknown>;
        const fromSeeds = seedsOf(op).filter((b) => key in b).map((b) => b[key]);
        // Deduplicated by their JSON: fast-check favours the first values of a list.
        const values = [...fromSeeds, ...(Array.isArray(schema.enum) ? schema.enum : []), check.exampleOf(schema)];
        return [...new Map(values.map((v) => [JSON.stringify(v), v])).values()];
      };
      const combination = fc.tuple(
        seedBody(op),
        fc.record(Object.fromEntries(Object.keys(properties).map((k) => [k, fc.constantFrom(...allowedFor(k))])), { requiredKeys: [] }),
      );
      return fc.oneof(
        { weight: 5, arbitrary: combination.map(([seeded, combo]) => ({ contentType: 'application/json', body: JSON.stringify({ ...seeded, ...combo }) as string | Uint8Array })) },
        { weight: 3, arbitrary: json.map((v) => ({ contentType: 'application/json', body: JSON.stringify(v) as string | Uint8Array })) },
        {
          weight: 4,
          arbitrary: fc
            .record({ seeded: seedBody(op), drop: fc.subarray(keys, { maxLength: 1 }), set: assignments })
            .map(({ seeded, drop, set }) => {
              // Written out by hand so that __proto__ and a repeated key arrive as a client would send them.
              const entries = [...Object.entries(seeded).filter(([k]) => !drop.includes(k)), ...set];
              const text = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`;
              return { contentType: 'application/json', body: text as string | Uint8Array };
            }),
        },
        { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ contentType: 'application/json', body: bytes as string | Uint8Array })) },
        { weight: 2, arbitrary: fc.tuple(contentTypes, fc.oneof(json.map((v) => JSON.stringify(v)), unicode)).map(([contentType, text]) => ({ contentType, body: text as string | Uint8Array })) },
        { weight: 1, arbitrary: fc.constantFrom('[', '{"a":', '{"a":1}}', 'null', '"x"', '1', '{"__proto__":{"admin":true}}', JSON.stringify({ x: 'y'.repeat(300_000) })).map((text) => ({ contentType: 'application/json', body: text as string | Uint8Array })) },
      );
    };
    for (const op of withBody) {
      await run(
        fc.asyncProperty(realPath(op), body(op), async (url, b) => {
          const req: RawRequest = { method: op.method.toUpperCase(), url, headers: { authorization: `Bearer ${admin}`, ...(b.contentType ? { 'content-type': b.contentType } : {}) }, body: b.body };
          expectSane(req, await send(req));
        }),
        50,
      );
    }
  });

  it('query strings: unknown and repeated keys, huge values, unicode, broken escapes, secrets', async () => {
    const query = (op: Operation) => {
      const documented = ((op.operation.parameters ?? []) as { in: string; name: string }[]).filter((p) => p.in === 'query').map((p) => p.name);
      const key = fc.oneof(fc.constantFrom(...documented, 'page', 'pageSize', 'customField.x', 'customField.', 'token', 'api_key', 'Password', '__proto__', 'a[b]', 'a[]', ''), fc.string({ unit: 'grapheme', maxLength: 20 }));
      const value = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 30 }), unicode, fc.constantFrom(...numbersThatAreNot, ...brokenEscapes, '2024-13-45T99:99:99Z', new Date().toISOString()), hugeValue);
      return fc
        .array(fc.tuple(key, value, fc.boolean(), fc.nat(2)), { minLength: 1, maxLength: 6 })
        .map((pairs) =>
          pairs
            .flatMap(([k, v, encode, repeat]) => Array.from({ length: repeat + 1 }, () => (encode ? `${encodeURIComponent(k)}=${encodeURIComponent(v)}` : `${k}=${v}`)))
            .join('&'),
        );
    };
    for (const op of operations()) {
      await run(
        fc.asyncProperty(realPath(op), query(op), seedBody(op), async (path, q, body) => {
          const req: RawRequest = {
            method: op.method.toUpperCase(),
            url: `${path}?${q}`,
            headers: { authorization: `Bearer ${admin}`, ...(op.method === 'get' ? {} : { 'content-type': 'application/json' }) },
            ...(op.method === 'get' ? {} : { body: JSON.stringify(body) }),
          };
          expectSane(req, await send(req));
        }),
        20,
      );
    }
  });

  it('path parameters: unicode, dot segments, broken escapes, huge', async () => {
    const templated = operations((op) => op.path.includes('{'));
    expect(templated.length).toBeGreaterThan(5);
    for (const op of templated) {
      await run(
        fc.asyncProperty(fc.array(weirdSegment, { minLength: 3, maxLength: 3 }), seedBody(op), async (segments, body) => {
          let i = 0;
          const req: RawRequest = {
            method: op.method.toUpperCase(),
            url: pathOf(op, () => segments[i++] as string),
            headers: { authorization: `Bearer ${admin}`, ...(op.method === 'get' ? {} : { 'content-type': 'application/json' }) },
            ...(op.method === 'get' ? {} : { body: JSON.stringify(body) }),
          };
          expectSane(req, await send(req));
        }),
        25,
      );
    }
  });

  it('headers: Authorization garbage, Idempotency-Key edges, content types and Accept that lie', async () => {
    const headers = fc.record(
      {
        authorization: fc.oneof({ weight: 2, arbitrary: fc.constantFrom(`Bearer ${admin}`, `bearer ${admin}`, `Bearer  ${admin}`, `Bearer ${admin} extra`, `Bearer ${admin}x`) }, { weight: 3, arbitrary: authorizationGarbage }),
        'idempotency-key': idempotencyKeys,
        'content-type': contentTypes,
        accept: fc.constantFrom('*/*', 'application/pem-certificate-chain', 'text/html', 'application/xml', 'application/json;q=0', 'image/png'),
        'x-forwarded-for': fc.oneof(headerText(40), fc.constantFrom('127.0.0.1', '::1', '1.2.3.4, 5.6.7.8', 'unknown')),
        'content-encoding': fc.constantFrom('gzip', 'br', 'identity', 'x-unknown'),
      },
      { requiredKeys: [] },
    );
    for (const op of operations()) {
      await run(
        fc.asyncProperty(realPath(op), headers, seedBody(op), async (url, h, body) => {
          const req: RawRequest = { method: op.method.toUpperCase(), url, headers: h, ...(op.method === 'get' ? {} : { body: JSON.stringify(body) }) };
          expectSane(req, await send(req));
        }),
        20,
      );
    }
  });

  it('left nothing half-written: the audit chain verifies and no request is left in flight', async () => {
    await until(async () => (await env.server.rt.store.requests.listByStatus(['queued', 'signing'], 10)).length === 0, 20_000, 'every request settled');
    const audit = await env.api('GET', '/v1/audit/verify', admin);
    expect(audit.status).toBe(200);
    expect(audit.json.ok, audit.text).toBe(true);
    // The fuzzing did reach the handlers: certificates were issued and refused along the way.
    const listed = await env.api('GET', '/v1/certificates?pageSize=1', admin);
    expect(listed.json.total).toBeGreaterThan(1);
  });
});
