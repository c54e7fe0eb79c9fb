// Whatever arrives at an ACME POST route (random JSON, random text, JWS-shaped junk, a valid JWS
// with one thing broken, a correctly signed request with a nonsense payload), the answer is a 4xx
// problem document (RFC 7807) with a Replay-Nonce: never a 5xx. Nor does any path under /acme
// (issue 19, finding 8: a broken %-escape was a 500 with a URIError in the log).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AcmeTestClient, makeCsrFor, newAccountKey, signRaw, type AcmeReply, type Directory, type OrderJson } from './helpers/acmeClient.js';
import { startAcmeEnv, type AcmeEnv } from './helpers/acmeEnv.js';

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64url');
const json = fc.jsonValue({ maxDepth: 3 });
/** Deterministic by default; FUZZ_SEED replays a run. */
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20240603;

function describeReply(reply: AcmeReply<unknown>): string {
  return `${reply.status} ${reply.contentType} ${reply.text.slice(0, 300)}`;
}

describe('ACME POST routes under fuzzed bodies', () => {
  let env: AcmeEnv;
  let client: AcmeTestClient;
  let dir: Directory;
  /** Every POST route, with the ids of real resources of `client`'s account. */
  let routes: string[];
  /** Answers in the 5xx range, with what was sent (reported together, after each property). */
  const failures: string[] = [];

  const check = (route: string, sent: unknown, reply: AcmeReply<unknown>): boolean => {
    const ok = reply.status >= 400 ? reply.status < 500 && /^application\/problem\+json/.test(reply.contentType) && reply.header('replay-nonce') !== '' : reply.status >= 200 && reply.status < 300;
    if (!ok) failures.push(`${route} ← ${JSON.stringify(sent).slice(0, 400)} → ${describeReply(reply)}`);
    return ok;
  };

  beforeAll(async () => {
    env = await startAcmeEnv();
    client = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), env.transport);
    dir = await client.directory();
    expect((await client.newAccount()).status).toBe(201);
    // A ready order (finalize gets the fuzzed CSRs), a valid one (certificate, revocation), a pending one.
    const ready = await client.newOrder(['fuzz-ready.test']);
    await client.authorize(ready.header('location'), ready.json, 'http-01', (ch, ka) => env.http01.set(ch.token, ka));
    const issued = await client.issue(['fuzz-valid.test'], 'http-01', (ch, ka) => env.http01.set(ch.token, ka));
    const pending = await client.newOrder(['fuzz-pending.test']);
    const authz = (await client.post<{ challenges: Array<{ url: string }> }>(pending.json.authorizations[0] as string)).json;
    routes = [
      dir.newAccount,
      dir.newOrder,
      `${env.acmeBase}/acme/default/new-account`,
      `${env.acmeBase}/acme/default/new-order`,
      dir.revokeCert,
      dir.keyChange,
      client.kid as string,
      `${client.kid}/orders`,
      ready.header('location'),
      ready.json.finalize,
      issued.orderUrl,
      issued.order.authorizations[0] as string,
      pending.json.authorizations[0] as string,
      ...authz.challenges.map((c) => c.url),
      issued.order.certificate as string,
      `${env.acmeBase}/acme/order/no-such-order`,
      `${env.acmeBase}/acme/chall/no-such-challenge`,
      `${env.acmeBase}/acme/nothing-here`,
    ];
  });

  afterAll(async () => {
    await env?.stop();
  });

  /** Runs a property; every 5xx seen is listed in the failure. */
  const run = async <Ts extends [unknown, ...unknown[]]>(property: fc.IAsyncPropertyWithHooks<Ts>, numRuns: number): Promise<void> => {
    failures.length = 0;
    const result = await fc.check(property, { numRuns, seed, endOnFailure: true });
    expect(failures, `seed ${seed}: ${result.counterexample ? JSON.stringify(result.counterexample).slice(0, 600) : ''}`).toEqual([]);
    expect(result.failed, fc.defaultReportMessage(result) ?? '').toBe(false);
  };

  it('answers random JSON and random text with a 4xx problem', async () => {
    await run(
      fc.asyncProperty(
        fc.nat(),
        fc.oneof(json.map((v) => JSON.stringify(v)), fc.string({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a).toString('latin1'))),
        fc.constantFrom('application/jose+json', 'application/json', 'text/plain'),
        async (i, body, contentType) => {
          const route = routes[i % routes.length] as string;
          return check(route, body, await client.postRaw(route, body, contentType));
        },
      ),
      250,
    );
  });

  it('answers JWS-shaped junk (random protected header, payload, signature) with a 4xx problem', async () => {
    const part = fc.oneof(json.map((v) => b64(JSON.stringify(v))), fc.string({ maxLength: 60 }), json);
    await run(
      fc.asyncProperty(
        fc.nat(),
        fc.record({ protected: part, payload: part, signature: part }, { requiredKeys: [] }),
        fc.dictionary(fc.string({ maxLength: 10 }), json, { maxKeys: 2 }),
        async (i, jws, extra) => {
          const route = routes[i % routes.length] as string;
          const body = { ...extra, ...jws };
          return check(route, body, await client.postRaw(route, body));
        },
      ),
      250,
    );
  });

  it('answers a valid JWS with one header member changed (and signed again) with a 4xx problem', async () => {
    const field = fc.constantFrom('alg', 'nonce', 'url', 'jwk', 'kid', 'crit', 'b64', 'typ');
    await run(
      fc.asyncProperty(fc.nat(), field, fc.option(json, { nil: undefined }), fc.boolean(), async (i, name, value, resign) => {
        const route = routes[i % routes.length] as string;
        const header: Record<string, unknown> = { alg: client.key.alg, nonce: await client.nonce(), url: route, kid: client.kid };
        if (value === undefined) delete header[name];
        else header[name] = value;
        let body: Record<string, unknown>;
        if (resign) body = signRaw(client.key, header, '{}');
        else {
          // The original signature over the original header, with the changed header.
          const original = await client.sign(route, {});
          body = { ...original, protected: b64(JSON.stringify(header)) };
        }
        return check(route, { header, resign }, await client.postRaw(route, body));
      }),
      300,
    );
  });

  it('answers a valid JWS with bits flipped in one part with a 4xx problem', async () => {
    await run(
      fc.asyncProperty(fc.nat(), fc.constantFrom('protected', 'payload', 'signature'), fc.nat(), fc.integer({ min: 1, max: 255 }), async (i, partName, at, mask) => {
        const route = routes[i % routes.length] as string;
        const jws = (await client.sign(route, { identifiers: [{ type: 'dns', value: 'x.test' }], csr: 'AAAA', status: 'valid' })) as unknown as Record<string, string>;
        const bytes = Buffer.from(jws[partName] as string, 'base64url');
        if (bytes.length) bytes[at % bytes.length] = (bytes[at % bytes.length] as number) ^ mask;
        const body = { ...jws, [partName]: bytes.toString('base64url') };
        return check(route, { partName, at, mask }, await client.postRaw(route, body));
      }),
      250,
    );
  });

  it('answers a correctly signed request with a nonsense payload with a 4xx problem (or a 2xx)', async () => {
    // The members the routes read, with values of any JSON type.
    const payload = fc.oneof(
      fc.dictionary(
        fc.constantFrom('identifiers', 'csr', 'contact', 'termsOfServiceAgreed', 'onlyReturnExisting', 'externalAccountBinding', 'profile', 'replaces', 'certificate', 'reason', 'account', 'oldKey', 'notBefore', 'notAfter'),
        json,
        { maxKeys: 4 },
      ),
      fc.record({ identifiers: fc.array(fc.record({ type: fc.constantFrom('dns', 'ip', 'email', 'x'), value: fc.oneof(fc.string({ maxLength: 40 }), fc.domain(), fc.ipV4(), fc.ipV6(), json) }), { maxLength: 4 }) }),
      fc.record({ csr: fc.oneof(fc.base64String({ maxLength: 400 }).map((s) => s.replace(/=/g, '').replace(/\+/g, '-').replace(/\//g, '_')), fc.uint8Array({ maxLength: 300 }).map((a) => b64(Buffer.from(a)))) }),
      fc.record({ certificate: fc.uint8Array({ maxLength: 300 }).map((a) => b64(Buffer.from(a))), reason: fc.oneof(fc.integer({ min: -2, max: 12 }), json) }),
      json,
      fc.string({ maxLength: 50 }).map((s) => ({ raw: s })),
    );
    // The account route may be told to deactivate: that one gets an account of its own each time.
    await run(
      fc.asyncProperty(fc.nat(), payload, async (i, body) => {
        const route = routes[i % routes.length] as string;
        let signer = client;
        if (route === client.kid) {
          signer = new AcmeTestClient(env.directoryUrl, await newAccountKey('ES256'), env.transport);
          await signer.newAccount();
          const own = signer.kid as string;
          const reply = await (typeof body === 'object' && body !== null && 'raw' in body ? signer.post(own, undefined, { rawPayload: String((body as { raw: string }).raw) }) : signer.post(own, body));
          return check(own, body, reply);
        }
        const reply = typeof body === 'object' && body !== null && 'raw' in body ? await signer.post(route, undefined, { rawPayload: String((body as { raw: string }).raw) }) : await signer.post(route, body);
        return check(route, body, reply);
      }),
      400,
    );
    // The ready order is still there to finalize properly: nothing fuzzed broke the account.
    const order = (await client.post<OrderJson>(routes[8] as string)).json;
    expect(order.status).toBe('ready');
    const finalized = await client.post<OrderJson>(order.finalize, { csr: (await makeCsrFor(['fuzz-ready.test'])).csr });
    expect(finalized.status, finalized.text).toBe(200);
  });

  it('answers any path under /acme (broken %-escapes, odd bytes) with a problem or a redirect, never a 5xx, and logs no error', async () => {
    const segment = fc.oneof(
      fc.constantFrom('directory', 'new-nonce', 'new-order', 'new-account', 'order', 'acct', 'authz', 'chall', 'cert', 'finalize', 'orders', 'renewal-info', 'default'),
      fc.stringMatching(/^(%[0-9a-fA-F]{0,2}|%[g-zG-Z]{1,2}|[A-Za-z0-9._~!$&'()*+,;=:@-]){0,12}$/),
      fc.uint8Array({ minLength: 1, maxLength: 6 }).map((a) => [...a].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')),
    );
    const logged = vi.spyOn(env.server.rt.log, 'error');
    try {
      await run(
        fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 4 }), fc.constantFrom('GET', 'HEAD', 'POST'), async (segments, method) => {
          const url = `${env.acmeBase}/acme/${segments.join('/')}`;
          // A '.' or '..' segment can take the path out of /acme: not ACME's to answer.
          if (!new URL(url).pathname.startsWith('/acme/')) return true;
          let reply: AcmeReply<unknown>;
          if (method === 'POST') reply = await client.post(url, {});
          else {
            const raw = await env.transport(url, { method });
            reply = { status: raw.status, contentType: String(raw.headers['content-type'] ?? ''), text: raw.body.toString('utf8'), header: (n: string) => String(raw.headers[n] ?? '') } as AcmeReply<unknown>;
          }
          const ok = reply.status < 500 && (reply.status < 400 || method === 'HEAD' || /^application\/problem\+json/.test(reply.contentType));
          if (!ok) failures.push(`${method} ${url} → ${describeReply(reply)}`);
          return ok;
        }),
        300,
      );
      expect(logged).not.toHaveBeenCalled();
    } finally {
      logged.mockRestore();
    }
  });

  it('answers a key change whose inner JWS is signed but says nonsense with a 4xx problem', async () => {
    const newKey = await newAccountKey('ES384');
    await run(
      fc.asyncProperty(
        fc.record({ account: fc.oneof(json, fc.constant(client.kid as string)), oldKey: fc.oneof(json, fc.constant(client.key.jwk as unknown as fc.JsonValue), fc.dictionary(fc.constantFrom('kty', 'crv', 'x', 'y', 'n', 'e', 'k', 'd'), fc.oneof(fc.string({ maxLength: 20 }), json), { maxKeys: 4 })) }, { requiredKeys: [] }),
        fc.option(fc.dictionary(fc.constantFrom('alg', 'jwk', 'url', 'nonce', 'kid'), json, { maxKeys: 2 }), { nil: undefined }),
        async (inner, headerChange) => {
          const header: Record<string, unknown> = { alg: newKey.alg, jwk: newKey.jwk, url: dir.keyChange, ...headerChange };
          const innerJws = signRaw(newKey, header, JSON.stringify(inner));
          const reply = await client.post(dir.keyChange, innerJws);
          // The generator can hit a correct key change: then the account is on the new key.
          if (reply.status === 200) client.key = newKey;
          return check(dir.keyChange, { inner, headerChange }, reply);
        },
      ),
      250,
    );
  });
});
