// The validator's entry point for the domain registry (validateDomainControl) against loopback
// servers: the token served at /.well-known/pki-validation/ or the ACME path, a TXT record under
// any of the given labels; what it refuses before connecting; and, for any token and any body, a
// verdict without an exception, a request to exactly the token's path, success only for the token.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateDomainControl, type DcvSettings, type DomainControlInput, type ValidationResult } from '../src/dcv/index.js';
import { startDnsServer, type StubDnsServer } from './helpers/dnsServer.js';
import { startWebServer, type WebServer } from './helpers/webServer.js';

let dns: StubDnsServer;
let web: WebServer;
beforeAll(async () => {
  [dns, web] = await Promise.all([startDnsServer(), startWebServer()]);
});
afterAll(async () => {
  await Promise.all([dns?.stop(), web?.stop()]);
});

const settings = (): DcvSettings => ({ dnsServer: dns.address, http01Port: web.port, tlsAlpn01Port: web.port, timeoutMs: 5_000 });
let n = 0;
const fresh = () => `t${Date.now().toString(36)}${(n++).toString(36)}AbCdEfGhIj_-kl`;
const check = (input: Partial<DomainControlInput> & { name: string; token: string }) =>
  validateDomainControl({ method: 'http-01', dnsLabels: ['_certgate-challenge'], ...input }, settings());

function expectFailure(result: ValidationResult, type: string, retryable: boolean, detail: RegExp): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.problem.type).toBe(type);
  expect(result.retryable).toBe(retryable);
  expect(result.problem.detail).toMatch(detail);
}

describe('http-01', () => {
  it('finds the token at /.well-known/pki-validation/ first, and at the ACME path when the first is not there', async () => {
    const token = fresh();
    web.answer(`/.well-known/pki-validation/${token}`, { body: `  ${token}\r\n` });
    expect(await check({ name: 'host.example.test', token })).toEqual({ ok: true, addressUsed: '127.0.0.1' });
    expect(web.seen.filter((p) => p.endsWith(token))).toEqual([`/.well-known/pki-validation/${token}`]);

    const other = fresh();
    web.answer(`/.well-known/acme-challenge/${other}`, { body: other });
    expect((await check({ name: 'host.example.test', token: other })).ok).toBe(true);
    expect(web.seen.filter((p) => p.endsWith(other))).toEqual([`/.well-known/pki-validation/${other}`, `/.well-known/acme-challenge/${other}`]);
  });

  it('names both paths when neither holds the token: final, not retried', async () => {
    const token = fresh();
    web.answer(`/.well-known/pki-validation/${token}`, { body: 'some other token' });
    const result = await check({ name: 'host.example.test', token });
    expectFailure(result, 'incorrectResponse', false, /pki-validation\/.* did not match this challenge.*; and .*acme-challenge\/.*: HTTP 404/);
  });

  it('does not try the second path on a host it cannot reach, and says the failure is worth a retry', async () => {
    dns.setA('down.example.test', '127.0.0.3');
    const token = fresh();
    const result = await check({ name: 'down.example.test', token });
    expectFailure(result, 'connection', true, /pki-validation\/.* at 127\.0\.0\.3: ECONNREFUSED$/);
  });

  it('follows the redirect rules of ACME: never to an IP address or another port', async () => {
    const token = fresh();
    web.answer(`/.well-known/pki-validation/${token}`, { location: `http://127.0.0.1:${web.port}/.well-known/pki-validation/${token}` });
    expectFailure(await check({ name: 'host.example.test', token }), 'incorrectResponse', false, /to the IP address 127\.0\.0\.1: redirects are followed to DNS names only/);
    const other = fresh();
    web.answer(`/.well-known/pki-validation/${other}`, { location: 'http://host.example.test:1/' });
    expectFailure(await check({ name: 'host.example.test', token: other }), 'incorrectResponse', false, /to port 1: port 1 is neither the default nor the configured port/);
  });

  it('validates an IP address by connecting to it, and refuses a wildcard or an IP address over dns-01 without asking', async () => {
    const token = fresh();
    web.answer(`/.well-known/pki-validation/${token}`, { body: token });
    expect(await check({ name: '127.0.0.1', token })).toEqual({ ok: true, addressUsed: '127.0.0.1' });
    const asked = dns.queries.length;
    expectFailure(await check({ name: '*.example.test', token, method: 'dns-01' }), 'malformed', false, /wildcard/);
    expectFailure(await check({ name: '127.0.0.1', token, method: 'dns-01' }), 'malformed', false, /IP address/);
    expect(dns.queries.length).toBe(asked);
  });

  it('for any token: refused before any request unless base64url, and otherwise fetched at exactly its path', async () => {
    const token = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.stringMatching(/^[A-Za-z0-9_-]{16,64}$/),
      fc.constantFrom('../../../etc/passwd', '%2e%2e%2fsecret-0123456789', 'a/b/c/d/e/f/g/h/i', 'tok?x=1#frag-0123456', 'short'),
    );
    await fc.assert(
      fc.asyncProperty(token, async (t) => {
        const before = web.seen.length;
        const result = await check({ name: 'fuzz.example.test', token: t });
        const seen = web.seen.slice(before);
        if (/^[A-Za-z0-9_-]{16,256}$/.test(t)) {
          expect(seen).toEqual([`/.well-known/pki-validation/${t}`, `/.well-known/acme-challenge/${t}`]);
        } else {
          expectFailure(result, 'malformed', false, /not base64url/);
          expect(seen).toEqual([]);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('for any body: a verdict, never an exception, and success only for the token with whitespace around it', async () => {
    const token = fresh();
    const path = `/.well-known/pki-validation/${token}`;
    const body = fc.oneof(fc.string({ maxLength: 120 }), fc.constantFrom(token, `${token}\n`, ` \t${token} `, `${token}x`, token.slice(1), `${token}\n${token}`));
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        web.answer(path, { body: b });
        const result = await check({ name: 'body.example.test', token });
        expect(result.ok).toBe(b.trim() === token);
      }),
      { numRuns: 60 },
    );
  });
});

describe('dns-01', () => {
  it('finds the token in a TXT record under any of the labels', async () => {
    const token = fresh();
    dns.setTxt('_corp.txt.example.test', ['unrelated', token]);
    expect((await check({ name: 'txt.example.test', token, method: 'dns-01', dnsLabels: ['_certgate-challenge', '_corp'] })).ok).toBe(true);
    expect((await check({ name: 'txt.example.test', token, method: 'dns-01', dnsLabels: ['_corp'] })).ok).toBe(true);
  });

  it('fails, naming every label looked under, when none holds the token; retryable only on DNS trouble', async () => {
    const token = fresh();
    dns.setTxt('_certgate-challenge.miss.example.test', ['stale']);
    const miss = await check({ name: 'miss.example.test', token, method: 'dns-01', dnsLabels: ['_certgate-challenge', '_corp'] });
    expectFailure(miss, 'unauthorized', false, /Incorrect TXT record "stale" found at _certgate-challenge\.miss\.example\.test; .*_corp\.miss\.example\.test/);
    dns.failWith('_certgate-challenge.flaky.example.test', 'SERVFAIL');
    expectFailure(await check({ name: 'flaky.example.test', token, method: 'dns-01' }), 'dns', true, /SERVFAIL/);
  });

  it('refuses a label that is not one before asking', async () => {
    const asked = dns.queries.length;
    expectFailure(await check({ name: 'x.example.test', token: fresh(), method: 'dns-01', dnsLabels: ['bad label'] }), 'malformed', false, /not a DNS label/);
    expectFailure(await check({ name: 'x.example.test', token: fresh(), method: 'dns-01', dnsLabels: [] }), 'malformed', false, /label/);
    expect(dns.queries.length).toBe(asked);
  });
});
