// The validation authority (src/dcv) against real servers on loopback: a stub DNS server, an
// http-01 responder, a tls-alpn-01 responder, and misbehaving servers made for single cases.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, Socket, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCaa, keyAuthorizationDigest, validateChallenge, type ChallengeType, type DcvSettings, type Identifier, type ValidationResult } from '../src/dcv/index.js';
import { loadConfig } from '../src/config.js';
import { addressPolicy, pinnedLookup } from '../src/dcv/addressPolicy.js';
import { CidrError, parseCidr } from '../src/pki/cidr.js';
import { evaluateCaa } from '../src/dcv/caa.js';
import { redirectTarget } from '../src/dcv/http01.js';
import { parseIdentifier } from '../src/dcv/identifiers.js';
import { keyAuthorizationHash } from '../src/dcv/keyAuthorization.js';
import { challengeCertificateProblem } from '../src/dcv/tlsAlpn01.js';
import { startHttp01Responder, startTlsAlpnResponder, type Http01Responder, type TlsAlpnCertificateOptions, type TlsAlpnResponder } from './helpers/acmeResponders.js';
import { startDnsServer, type StubDnsServer } from './helpers/dnsServer.js';
import { fuzzAround } from './helpers/fuzz.js';
import { freePort } from './helpers/net.js';
import { openssl, readText, tempDir } from './helpers/openssl.js';
import { until } from './helpers/until.js';

let dns: StubDnsServer;
let http: Http01Responder;
let tls: TlsAlpnResponder;

/**
 * Every TCP connection this file opens (the validator's and the tests' own), by host. One to any
 * host but a loopback address throws before a packet leaves: these tests must never reach a private,
 * link-local or public address, even when the validator under test is wrong.
 */
const connectedTo: string[] = [];
const realConnect = Socket.prototype.connect;
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+|localhost)$/;

beforeAll(async () => {
  Socket.prototype.connect = function guardedConnect(this: Socket, ...args: unknown[]) {
    // net.connect passes its normalized [options, callback] array as the first argument.
    const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
    const options = typeof first === 'object' && first !== null ? (first as { host?: string; path?: string | null }) : { host: typeof args[1] === 'string' ? args[1] : undefined };
    // A string path is a Unix socket; TCP connections carry a null one.
    if (typeof options.path !== 'string') {
      const host = options.host ?? 'localhost';
      connectedTo.push(host);
      if (!LOOPBACK.test(host)) throw new Error(`test/dcv.test.ts: a connection to ${host}, which is not a loopback address`);
    }
    return (realConnect as (...a: unknown[]) => Socket).apply(this, args);
  } as typeof realConnect;
  [dns, http, tls] = await Promise.all([startDnsServer(), startHttp01Responder(), startTlsAlpnResponder()]);
});
afterAll(async () => {
  Socket.prototype.connect = realConnect;
  await Promise.all([dns?.stop(), http?.stop(), tls?.stop()]);
});

/** Generous: only a broken run waits this long; nothing asserts how long anything took. */
function settings(overrides: Partial<DcvSettings> = {}): DcvSettings {
  return { dnsServer: dns.address, http01Port: http.port, tlsAlpn01Port: tls.port, timeoutMs: 10_000, ...overrides };
}

let names = 0;
/** A name no other case uses, so cases never see each other's records. */
function fresh(label = 'host'): string {
  return `${label}-${++names}.dcv.test`;
}

function challenge(): { token: string; keyAuthorization: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, keyAuthorization: `${token}.${randomBytes(32).toString('base64url')}` };
}

function validate(type: ChallengeType, identifier: Identifier | string, ch: { token: string; keyAuthorization: string }, overrides: Partial<DcvSettings> = {}): Promise<ValidationResult> {
  const id = typeof identifier === 'string' ? { type: 'dns' as const, value: identifier } : identifier;
  return validateChallenge({ type, identifier: id, ...ch }, settings(overrides));
}

function expectFailure(result: ValidationResult, type: string, retryable: boolean, detail?: RegExp): void {
  expect(result.ok, JSON.stringify(result)).toBe(false);
  if (result.ok) return;
  expect(result.problem.type, result.problem.detail).toBe(type);
  expect(result.retryable, result.problem.detail).toBe(retryable);
  if (detail) expect(result.problem.detail).toMatch(detail);
}

/** A TCP server that accepts and never says a word: the validator's deadline must end the wait. */
async function startSilentServer(): Promise<{ port: number; accepted: () => number; stop: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const server = createNetServer((s) => void sockets.push(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => sockets.length,
    stop: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('http-01', () => {
  it('succeeds when the key authorization is served, connecting to the A address with the name in Host', async () => {
    const name = fresh();
    const ch = challenge();
    http.set(ch.token, `${ch.keyAuthorization}\r\n`);
    expect(await validate('http-01', name, ch)).toEqual({ ok: true, addressUsed: '127.0.0.1' });
    expect(http.requests).toContainEqual({ path: `/.well-known/acme-challenge/${ch.token}`, host: name });
  });

  it('fails, unauthorized and final, on another key authorization', async () => {
    const ch = challenge();
    http.set(ch.token, challenge().keyAuthorization);
    expectFailure(await validate('http-01', fresh(), ch), 'unauthorized', false, /did not match/);
  });

  it('fails, final, on 404 and on a body over the limit', async () => {
    expectFailure(await validate('http-01', fresh(), challenge()), 'incorrectResponse', false, /HTTP 404/);
    const ch = challenge();
    http.set(ch.token, `${ch.keyAuthorization}${' '.repeat(9000)}`);
    expectFailure(await validate('http-01', fresh(), ch), 'incorrectResponse', false, /larger than/);
  });

  it('reports DNS trouble: SERVFAIL and a lost query are retryable, NXDOMAIN and no address are not', async () => {
    const ch = challenge();
    http.set(ch.token, ch.keyAuthorization);
    const [servfail, lost, nxdomain, noAddress] = [fresh(), fresh(), fresh(), fresh()];
    dns.failWith(servfail, 'SERVFAIL');
    dns.failWith(lost, 'TIMEOUT');
    dns.failWith(nxdomain, 'NXDOMAIN');
    dns.setA(noAddress, null);
    expectFailure(await validate('http-01', servfail, ch), 'dns', true, /SERVFAIL/);
    expectFailure(await validate('http-01', lost, ch, { timeoutMs: 500 }), 'dns', true, /timeout/);
    expectFailure(await validate('http-01', nxdomain, ch), 'dns', false, /NXDOMAIN/);
    expectFailure(await validate('http-01', noAddress, ch), 'dns', false, /No valid IP addresses/);
  });

  it('follows redirects, relative and to other names, asking each name in DNS and sending it in Host', async () => {
    const ch = challenge();
    const [first, second] = [fresh(), fresh()];
    http.redirect(`/.well-known/acme-challenge/${ch.token}`, `/hop/1?x=1`, 301);
    http.redirect('/hop/1?x=1', `http://${second}/hop/2`, 307);
    http.redirect('/hop/2', `http://${second}:${http.port}/final/${ch.token}`, 308);
    http.redirect(`/final/${ch.token}`, `/.well-known/acme-challenge/${ch.token}-moved`);
    http.set(`${ch.token}-moved`, ch.keyAuthorization);
    expect(await validate('http-01', first, ch)).toEqual({ ok: true, addressUsed: '127.0.0.1' });
    expect(http.requests.filter((r) => r.path.startsWith('/hop/2'))).toEqual([{ path: '/hop/2', host: second }]);
    expect(dns.queries).toContainEqual({ name: second, type: 1 });
  });

  it('refuses a redirect loop, more than 10 redirects, and redirects to other ports or schemes', async () => {
    const loop = challenge();
    http.redirect(`/.well-known/acme-challenge/${loop.token}`, `/loop/${loop.token}/a`);
    http.redirect(`/loop/${loop.token}/a`, `/loop/${loop.token}/b`);
    http.redirect(`/loop/${loop.token}/b`, `/.well-known/acme-challenge/${loop.token}`);
    expectFailure(await validate('http-01', fresh(), loop), 'incorrectResponse', false, /Redirect loop/);

    const chain = (ch: { token: string }, hops: number): void => {
      const path = (i: number): string => (i === 0 ? `/.well-known/acme-challenge/${ch.token}` : `/chain/${ch.token}/${i}`);
      for (let i = 0; i < hops; i++) http.redirect(path(i), path(i + 1));
    };
    const ten = challenge();
    chain(ten, 10);
    http.redirect(`/chain/${ten.token}/10`, `/.well-known/acme-challenge/${ten.token}-end`);
    http.set(`${ten.token}-end`, ten.keyAuthorization);
    expectFailure(await validate('http-01', fresh(), ten), 'incorrectResponse', false, /Too many redirects/);
    const nine = challenge();
    chain(nine, 9);
    http.redirect(`/chain/${nine.token}/9`, `/.well-known/acme-challenge/${nine.token}-end`);
    http.set(`${nine.token}-end`, nine.keyAuthorization);
    expect((await validate('http-01', fresh(), nine)).ok).toBe(true);

    const elsewhere = challenge();
    http.redirect(`/.well-known/acme-challenge/${elsewhere.token}`, `http://${fresh()}:1/x`);
    expectFailure(await validate('http-01', fresh(), elsewhere), 'incorrectResponse', false, /port 1 /);
    const ftp = challenge();
    http.redirect(`/.well-known/acme-challenge/${ftp.token}`, `ftp://${fresh()}/x`);
    expectFailure(await validate('http-01', fresh(), ftp), 'incorrectResponse', false, /only http and https/);
  });

  it('follows a redirect to https on the configured TLS port without checking the certificate', async () => {
    const dir = tempDir('certgate-dcv-https-');
    const keyPath = join(dir, 'key.pem');
    const cert = openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-subj', '/CN=self-signed', '-days', '1']);
    const ch = challenge();
    const seen: Array<string | undefined> = [];
    const https = createHttpsServer({ key: readText(keyPath), cert }, (req, res) => {
      seen.push(req.headers.host);
      res.end(req.url === `/secure/${ch.token}` ? ch.keyAuthorization : 'no');
    });
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    try {
      const name = fresh();
      http.redirect(`/.well-known/acme-challenge/${ch.token}`, `https://${name}/secure/${ch.token}`);
      expect((await validate('http-01', name, ch, { tlsAlpn01Port: (https.address() as AddressInfo).port })).ok).toBe(true);
      expect(seen).toEqual([name]);
    } finally {
      https.closeAllConnections();
      https.close();
    }
  });

  it('validates an IP identifier by connecting to the address itself (RFC 8738), IPv4 and IPv6', async () => {
    const ch = challenge();
    http.set(ch.token, ch.keyAuthorization);
    expect(await validate('http-01', { type: 'ip', value: '127.0.0.1' }, ch)).toEqual({ ok: true, addressUsed: '127.0.0.1' });
    expect(http.requests.at(-1)?.host).toBe('127.0.0.1');
    const v6 = await startHttp01Responder({ host: '::1' });
    try {
      v6.set(ch.token, ch.keyAuthorization);
      expect(await validate('http-01', { type: 'ip', value: '0:0::1' }, ch, { http01Port: v6.port })).toEqual({ ok: true, addressUsed: '::1' });
      expect(v6.requests.at(-1)?.host).toBe('[::1]');
      // A name with only an AAAA record is reached over IPv6.
      const name = fresh();
      dns.setA(name, '::1');
      expect(await validate('http-01', name, ch, { http01Port: v6.port })).toEqual({ ok: true, addressUsed: '::1' });
    } finally {
      await v6.stop();
    }
  });

  it('refuses a wildcard, an unusable token and a key authorization of another token without connecting', async () => {
    const ch = challenge();
    http.set(ch.token, ch.keyAuthorization);
    const before = http.requests.length;
    expectFailure(await validate('http-01', `*.${fresh()}`, ch), 'malformed', false, /wildcard/);
    expectFailure(await validate('http-01', fresh(), { token: '../admin', keyAuthorization: '../admin.x' }), 'malformed', false);
    expectFailure(await validate('http-01', fresh(), { token: ch.token, keyAuthorization: challenge().keyAuthorization }), 'malformed', false);
    expectFailure(await validate('http-01', 'not a name', ch), 'malformed', false);
    expect(http.requests.length).toBe(before);
  });

  it('answers any body with a verdict and never throws: success only for the key authorization plus trailing whitespace', async () => {
    const ch = challenge();
    const name = fresh();
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 9000 }).map((b) => Buffer.from(b)),
      fc.string({ unit: 'binary', maxLength: 400 }).map((s) => Buffer.from(s)),
      fc.stringMatching(/^[ \t\r\n]{0,8}$/).map((ws) => Buffer.from(`${ch.keyAuthorization}${ws}`)),
      fc.stringMatching(/^[ \t\r\nA-Za-z]{1,4}$/).map((junk) => Buffer.from(`${junk}${ch.keyAuthorization}`)),
    );
    await fc.assert(
      fc.asyncProperty(body, async (bytes) => {
        http.set(ch.token, bytes);
        const result = await validate('http-01', name, ch);
        expect(result.ok).toBe(bytes.toString('utf8').trimEnd() === ch.keyAuthorization);
        if (!result.ok) expect(['unauthorized', 'incorrectResponse']).toContain(result.problem.type);
      }),
      { numRuns: 60 },
    );
  });

  it('turns any Location header into a URL to follow or a problem, never an exception', () => {
    const from = new URL('http://a.test/.well-known/acme-challenge/t');
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.webUrl(), fc.webPath()), (location) => {
        const next = redirectTarget(location, from, settings());
        if (next.ok) expect(['http:', 'https:']).toContain(next.url.protocol);
        else expect(next.problem.type).toBe('incorrectResponse');
      }),
      { numRuns: 2000 },
    );
  });
});

/** An HTTP server on `host`:`port` that answers 404 to everything and counts the connections it accepts. */
async function startCountingServer(host: string, port: number): Promise<{ accepted: () => number; stop: () => Promise<void> }> {
  let accepted = 0;
  const server = createHttpServer((_req, res) => void res.writeHead(404).end('TOP-SECRET inner page'));
  server.on('connection', () => void accepted++);
  server.listen(port, host);
  await once(server, 'listening');
  return {
    accepted: () => accepted,
    stop: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe("the validator's reach (finding 5)", () => {
  const SECRET = 'TOP-SECRET-BODY-0123456789';

  it('refuses a redirect to an IP address in any spelling, before any connection, and never shows the body', async () => {
    const secret = challenge();
    http.set(secret.token, SECRET);
    const targets = [
      `http://127.0.0.1/.well-known/acme-challenge/${secret.token}?x=1`,
      `http://2130706433/.well-known/acme-challenge/${secret.token}`,
      `http://0177.0.0.1/.well-known/acme-challenge/${secret.token}`,
      `http://0x7f000001/.well-known/acme-challenge/${secret.token}`,
      `http://0x7f.1/.well-known/acme-challenge/${secret.token}`,
      `http://127.1/.well-known/acme-challenge/${secret.token}`,
      `http://127.0.0.1./.well-known/acme-challenge/${secret.token}`,
      `http://%31%32%37.0.0.1/.well-known/acme-challenge/${secret.token}`,
      `http://[::1]/.well-known/acme-challenge/${secret.token}`,
      `http://[::ffff:127.0.0.1]/.well-known/acme-challenge/${secret.token}`,
      `https://127.0.0.1/.well-known/acme-challenge/${secret.token}`,
      `//127.0.0.1/.well-known/acme-challenge/${secret.token}`,
    ];
    for (const location of targets) {
      const ch = challenge();
      http.redirect(`/.well-known/acme-challenge/${ch.token}`, location);
      const connections = connectedTo.length;
      const result = await validate('http-01', fresh(), ch);
      expectFailure(result, 'incorrectResponse', false, /redirects are followed to DNS names only/);
      if (!result.ok) {
        expect(result.problem.detail, location).not.toContain(SECRET);
        expect(result.problem.detail, location).toMatch(/HTTP 302 from .* at 127\.0\.0\.1/);
      }
      // One connection: the first fetch; the redirect was refused before connecting anywhere.
      expect(connectedTo.length - connections, location).toBe(1);
    }
    expect(http.requests.some((r) => r.path.includes(secret.token))).toBe(false);
  });

  it('names the status code and the address of a wrong answer, never its body', async () => {
    const ch = challenge();
    http.set(ch.token, `${SECRET}\n<html>admin console</html>`);
    const wrong = await validate('http-01', fresh(), ch);
    expectFailure(wrong, 'unauthorized', false, /HTTP 200 .*did not match|did not match.*HTTP 200/);
    if (!wrong.ok) {
      expect(wrong.problem.detail).toMatch(/at 127\.0\.0\.1/);
      expect(wrong.problem.detail).not.toContain(SECRET);
      expect(wrong.problem.detail).not.toContain('admin console');
    }
    const missing = await validate('http-01', fresh(), challenge());
    expectFailure(missing, 'incorrectResponse', false, /at 127\.0\.0\.1.*HTTP 404/);
    if (!missing.ok) expect(missing.problem.detail).not.toContain('not found');
  });

  it('never shows the path or query of a redirect target, which may come from an inner server', async () => {
    const ch = challenge();
    const inner = fresh('inner');
    http.redirect(`/.well-known/acme-challenge/${ch.token}`, `http://${inner}/sso?session=${SECRET}`);
    const result = await validate('http-01', fresh(), ch);
    expectFailure(result, 'incorrectResponse', false, /HTTP 404/);
    if (!result.ok) {
      expect(result.problem.detail).toContain(inner);
      expect(result.problem.detail).not.toContain(SECRET);
    }
  });

  it('refuses, before connecting, a redirect to a name whose address is denied; follows it when not denied', async () => {
    const inner = await startCountingServer('127.0.0.2', http.port);
    try {
      const name = fresh('inner');
      dns.setA(name, '127.0.0.2');
      const ch = challenge();
      http.redirect(`/.well-known/acme-challenge/${ch.token}`, `http://${name}/admin/secret?x=1`);
      // Not denied: followed to 127.0.0.2, whose 404 is reported without its body.
      const open = await validate('http-01', fresh(), ch);
      expectFailure(open, 'incorrectResponse', false, /127\.0\.0\.2.*HTTP 404/);
      if (!open.ok) expect(open.problem.detail).not.toContain('TOP-SECRET');
      expect(inner.accepted()).toBe(1);
      // Denied: refused, final, naming the address, and 127.0.0.2 is never contacted.
      const denied = await validate('http-01', fresh(), ch, { denyCidrs: ['127.0.0.2/32'] });
      expectFailure(denied, 'connection', false, /not connecting: 127\.0\.0\.2 is in a range the validator is configured not to connect to/);
      expect(inner.accepted()).toBe(1);
      expect(connectedTo.filter((h) => h === '127.0.0.2')).toHaveLength(1);
    } finally {
      await inner.stop();
    }
  });

  it('checks the first address too, for a name, an IP identifier and tls-alpn-01', async () => {
    const [webInner, tlsInner] = await Promise.all([startCountingServer('127.0.0.2', http.port), startCountingServer('127.0.0.2', tls.port)]);
    try {
      const name = fresh();
      dns.setA(name, '127.0.0.2');
      const ch = challenge();
      const deny = { denyCidrs: ['127.0.0.0/30', '::1/128'] };
      expectFailure(await validate('http-01', name, ch, deny), 'connection', false, /not connecting: 127\.0\.0\.2/);
      expectFailure(await validate('http-01', { type: 'ip', value: '127.0.0.2' }, ch, deny), 'connection', false, /not connecting: 127\.0\.0\.2/);
      expectFailure(await validate('tls-alpn-01', name, ch, deny), 'connection', false, /not connecting: 127\.0\.0\.2/);
      expectFailure(await validate('tls-alpn-01', { type: 'ip', value: '::1' }, ch, deny), 'connection', false, /not connecting: ::1/);
      expect(webInner.accepted() + tlsInner.accepted()).toBe(0);
    } finally {
      await Promise.all([webInner.stop(), tlsInner.stop()]);
    }
  });

  it('lets the allow list carve an address out of the deny list', async () => {
    const ch = challenge();
    http.set(ch.token, ch.keyAuthorization);
    const carved = { denyCidrs: ['127.0.0.0/8'], allowCidrs: ['127.0.0.1'] };
    expect(await validate('http-01', fresh(), ch, carved)).toEqual({ ok: true, addressUsed: '127.0.0.1' });
    expectFailure(await validate('http-01', fresh(), ch, { denyCidrs: ['127.0.0.0/8'] }), 'connection', false, /not connecting: 127\.0\.0\.1/);
  });

  it('never connects to link-local or metadata addresses, whatever the allow list says', async () => {
    const connections = connectedTo.length;
    const ch = challenge();
    const reopen = { allowCidrs: ['169.254.0.0/16', 'fe80::/10', '0.0.0.0/0', '::/0'] };
    const metadata = fresh('metadata');
    dns.setA(metadata, '169.254.169.254');
    const linkLocal6 = fresh('linklocal');
    dns.setA(linkLocal6, 'fe80::1');
    for (const overrides of [{}, reopen]) {
      expectFailure(await validate('http-01', { type: 'ip', value: '169.254.169.254' }, ch, overrides), 'connection', false, /169\.254\.169\.254 is a link-local or metadata address/);
      expectFailure(await validate('http-01', { type: 'ip', value: '::ffff:169.254.169.254' }, ch, overrides), 'connection', false, /link-local or metadata/);
      expectFailure(await validate('http-01', { type: 'ip', value: 'fe80::1' }, ch, overrides), 'connection', false, /fe80::1 is a link-local/);
      expectFailure(await validate('http-01', metadata, ch, overrides), 'connection', false, /169\.254\.169\.254 is a link-local/);
      expectFailure(await validate('tls-alpn-01', metadata, ch, overrides), 'connection', false, /169\.254\.169\.254 is a link-local/);
      expectFailure(await validate('http-01', linkLocal6, ch, overrides), 'connection', false, /fe80::1 is a link-local/);
    }
    expect(connectedTo.length).toBe(connections);
  });

  it('refuses a DNS identifier that a URL or resolver would read as an address, without connecting', async () => {
    const connections = connectedTo.length;
    for (const value of ['2130706433', '127.0.0.1', 'a.0x7f', '169.254.169.254', '1.2.3.4.5']) {
      expectFailure(await validate('http-01', value, challenge()), 'rejectedIdentifier', false, /IP address in disguise/);
      expectFailure(await validate('tls-alpn-01', value, challenge()), 'rejectedIdentifier', false);
    }
    expect(connectedTo.length).toBe(connections);
  });

  it('reads the deny and allow lists from the environment as comma lists, and refuses a malformed range at start-up', async () => {
    const env = { CERTGATE_VA_DENY_CIDRS: '10.0.0.0/8, fd00::/8', CERTGATE_VA_ALLOW_CIDRS: '10.1.2.3' };
    const config = loadConfig({ env });
    expect(config.vaDenyCidrs).toEqual(['10.0.0.0/8', 'fd00::/8']);
    expect(config.vaAllowCidrs).toEqual(['10.1.2.3']);
    expect(() => loadConfig({ env: { CERTGATE_VA_DENY_CIDRS: '10.0.0.0/33' } })).toThrow(/CERTGATE_VA_DENY_CIDRS \(vaDenyCidrs\).*prefix length/);
    expect(() => loadConfig({ env: { CERTGATE_VA_ALLOW_CIDRS: 'example.com/8' } })).toThrow(/CERTGATE_VA_ALLOW_CIDRS/);
    expect(() => parseCidr('10.0.0.0/8/1')).toThrow(CidrError);
    // A wrong range in settings is the operator's to fix: it throws, before any look-up.
    await expect(validateChallenge({ type: 'http-01', identifier: { type: 'dns', value: fresh() }, ...challenge() }, settings({ denyCidrs: ['nonsense'] }))).rejects.toThrow(CidrError);
    const policy = addressPolicy({ denyCidrs: config.vaDenyCidrs, allowCidrs: config.vaAllowCidrs });
    expect(policy.refusal('10.9.9.9')).toMatch(/configured not to connect/);
    expect(policy.refusal('::ffff:10.9.9.9')).toMatch(/configured not to connect/);
    expect(policy.refusal('10.1.2.3')).toBeNull();
    expect(policy.refusal('fd12::1')).toMatch(/configured not to connect/);
    expect(policy.refusal('192.168.1.1')).toBeNull();
    expect(policy.refusal('169.254.0.1')).toMatch(/link-local/);
    expect(policy.refusal('64:ff9b::a9fe:a9fe')).toMatch(/link-local or metadata/);
    // The connection is pinned to the checked address: whatever name node might look up, it gets that.
    const answers: unknown[] = [];
    pinnedLookup('127.0.0.1')('rebinding.example', {}, (err, address, family) => void answers.push(err, address, family));
    pinnedLookup('::1')('rebinding.example', { all: true }, (err, address) => void answers.push(err, address));
    expect(answers).toEqual([null, '127.0.0.1', 4, null, [{ address: '::1', family: 6 }]]);
  });
});

describe('dns-01', () => {
  it('succeeds when one of the TXT records at _acme-challenge is the digest, for a name and for its wildcard', async () => {
    const name = fresh();
    const ch = challenge();
    dns.setTxt(`_acme-challenge.${name}`, ['unrelated', keyAuthorizationDigest(ch.keyAuthorization)]);
    expect(await validate('dns-01', name, ch)).toEqual({ ok: true });
    expect(await validate('dns-01', `*.${name}`, ch)).toEqual({ ok: true });
    expect(keyAuthorizationDigest(ch.keyAuthorization)).toBe(keyAuthorizationHash(ch.keyAuthorization).toString('base64url'));
  });

  it('fails, unauthorized and final, on another digest or no TXT record', async () => {
    const ch = challenge();
    const wrong = fresh();
    dns.setTxt(`_acme-challenge.${wrong}`, [keyAuthorizationDigest(challenge().keyAuthorization)]);
    expectFailure(await validate('dns-01', wrong, ch), 'unauthorized', false, /Incorrect TXT record/);
    expectFailure(await validate('dns-01', fresh(), ch), 'unauthorized', false, /No TXT record/);
  });

  it('reports NXDOMAIN as final and SERVFAIL or a lost query as retryable', async () => {
    const ch = challenge();
    const [nx, servfail, lost] = [fresh(), fresh(), fresh()];
    dns.failWith(`_acme-challenge.${nx}`, 'NXDOMAIN');
    dns.failWith(`_acme-challenge.${servfail}`, 'SERVFAIL');
    dns.failWith(`_acme-challenge.${lost}`, 'TIMEOUT');
    expectFailure(await validate('dns-01', nx, ch), 'dns', false, /NXDOMAIN/);
    expectFailure(await validate('dns-01', servfail, ch), 'dns', true, /SERVFAIL/);
    expectFailure(await validate('dns-01', lost, ch, { timeoutMs: 500 }), 'dns', true, /timeout/);
  });

  it('refuses an IP identifier (RFC 8738 has no dns-01)', async () => {
    expectFailure(await validate('dns-01', { type: 'ip', value: '127.0.0.1' }, challenge()), 'malformed', false);
  });

  it('answers any TXT record set with a verdict, success only when the digest is among them', async () => {
    const ch = challenge();
    const digest = keyAuthorizationDigest(ch.keyAuthorization);
    const name = fresh();
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.string({ maxLength: 600 }), fc.constant(digest), fc.constant(`${digest} `)), { maxLength: 4 }), async (values) => {
        dns.setTxt(`_acme-challenge.${name}`, values);
        const result = await validate('dns-01', name, ch);
        expect(result.ok).toBe(values.includes(digest));
        if (!result.ok) expect(result.problem.type).toBe('unauthorized');
      }),
      { numRuns: 60 },
    );
  });
});

describe('tls-alpn-01', () => {
  it('succeeds with the acme-tls/1 certificate for the name', async () => {
    const name = fresh();
    const ch = challenge();
    tls.set(name, ch.keyAuthorization);
    expect(await validate('tls-alpn-01', name, ch)).toEqual({ ok: true, addressUsed: '127.0.0.1' });
  });

  it('succeeds for an IP identifier, sent as its reverse name in SNI, with the address in the certificate', async () => {
    const ch = challenge();
    tls.set('1.0.0.127.in-addr.arpa', ch.keyAuthorization, { san: ['IP:127.0.0.1'] });
    expect(await validate('tls-alpn-01', { type: 'ip', value: '127.0.0.1' }, ch)).toEqual({ ok: true, addressUsed: '127.0.0.1' });
  });

  it('fails, unauthorized, on the certificate of another key authorization', async () => {
    const name = fresh();
    const ch = challenge();
    tls.set(name, challenge().keyAuthorization);
    expectFailure(await validate('tls-alpn-01', name, ch), 'unauthorized', false, /acmeIdentifier does not match/);
  });

  it('refuses a certificate without the acmeIdentifier extension, with it non-critical, or with another or a second name', async () => {
    const ch = challenge();
    const cases: Array<[(name: string) => TlsAlpnCertificateOptions, RegExp]> = [
      [() => ({ extension: 'absent' }), /no acmeIdentifier/],
      [() => ({ extension: 'non-critical' }), /not critical/],
      [() => ({ san: ['DNS:someone-else.test'] }), /subjectAltName is not/],
      [(name) => ({ san: [`DNS:${name}`, 'DNS:also.test'] }), /exactly one subjectAltName/],
    ];
    for (const [options, detail] of cases) {
      const name = fresh();
      tls.set(name, ch.keyAuthorization, options(name));
      expectFailure(await validate('tls-alpn-01', name, ch), 'incorrectResponse', false, detail);
    }
  });

  it('refuses a server that negotiates no ALPN protocol, and reports one that refuses acme-tls/1 as a TLS problem', async () => {
    const ch = challenge();
    const name = fresh();
    const plain = await startTlsAlpnResponder({ alpnProtocols: [] });
    const h2 = await startTlsAlpnResponder({ alpnProtocols: ['h2'] });
    try {
      plain.set(name, ch.keyAuthorization);
      h2.set(name, ch.keyAuthorization);
      expectFailure(await validate('tls-alpn-01', name, ch, { tlsAlpn01Port: plain.port }), 'incorrectResponse', false, /did not negotiate the acme-tls\/1/);
      expectFailure(await validate('tls-alpn-01', name, ch, { tlsAlpn01Port: h2.port }), 'tls', false);
    } finally {
      await Promise.all([plain.stop(), h2.stop()]);
    }
  });

  it('refuses a wildcard', async () => {
    expectFailure(await validate('tls-alpn-01', `*.${fresh()}`, challenge()), 'malformed', false, /wildcard/);
  });

  it('judges any bytes as a certificate without throwing', () => {
    const target = parseIdentifier({ type: 'dns', value: 'a.test' });
    if ('problem' in target) throw new Error('a.test is a name');
    const hash = keyAuthorizationHash('k');
    const certificate = (acmeIdentifier: string): Buffer =>
      Buffer.from(
        openssl(['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=a', '-days', '1', '-addext', 'subjectAltName=DNS:a.test', '-addext', `1.3.6.1.5.5.7.1.31=critical,DER:${acmeIdentifier}`]).replace(/-----[^-]+-----|\s/g, ''),
        'base64',
      );
    const der = certificate(`04:20:${hash.toString('hex')}`);
    expect(challengeCertificateProblem(der, target, hash)).toBeNull();
    // Found by the fuzzing below: asn1js throws on a GeneralizedTime that is not a time.
    expect(challengeCertificateProblem(certificate('18:03:41:42:43'), target, hash)?.problem.type).toBe('incorrectResponse');
    expect(challengeCertificateProblem(certificate(`04:21:${hash.toString('hex')}00`), target, hash)?.problem.detail).toMatch(/OCTET STRING of 32 bytes/);
    fuzzAround(der, (bytes) => {
      const problem = challengeCertificateProblem(bytes, target, hash);
      if (problem) expect(['incorrectResponse', 'unauthorized']).toContain(problem.problem.type);
    });
  });
});

describe('unreachable servers', () => {
  it.each([
    ['http-01', 'http01Port'],
    ['tls-alpn-01', 'tlsAlpn01Port'],
  ] as const)('%s: a refused connection and a server that never answers are retryable connection problems', async (type, portSetting) => {
    const ch = challenge();
    expectFailure(await validate(type, fresh(), ch, { [portSetting]: await freePort() }), 'connection', true, /ECONNREFUSED/);
    const silent = await startSilentServer();
    try {
      expectFailure(await validate(type, fresh(), ch, { [portSetting]: silent.port, timeoutMs: 300 }), 'connection', true, /timeout/);
      // It was reached: the deadline ended a conversation, not a connect.
      await until(() => silent.accepted() === 1, 5_000, 'the silent server saw the connection');
    } finally {
      await silent.stop();
    }
  });
});

describe('CAA (RFC 8659)', () => {
  const caa = (domain: string, wildcard = false, caaIdentities = ['ca.test']) => checkCaa({ domain, wildcard, caaIdentities }, settings());

  it('permits a name with no CAA record anywhere above it', async () => {
    expect(await caa(fresh())).toEqual({ ok: true });
  });

  it('permits when an issue record names this CA (case and parameters aside), forbids otherwise and for an empty issuer', async () => {
    const [ours, theirs, nobody] = [fresh(), fresh(), fresh()];
    dns.setCaa(ours, [{ tag: 'issue', value: 'other.example' }, { tag: 'issue', value: ' CA.Test ; accounturi=https://ca.test/acct/1' }]);
    dns.setCaa(theirs, [{ tag: 'issue', value: 'other.example' }]);
    dns.setCaa(nobody, [{ tag: 'issue', value: ';' }]);
    expect(await caa(ours)).toEqual({ ok: true });
    expect(await caa(theirs)).toMatchObject({ ok: false, retryable: false, detail: expect.stringMatching(/prevents issuance/) });
    expect(await caa(nobody)).toMatchObject({ ok: false, retryable: false });
    // A record set without issue properties restricts nothing.
    const reportsOnly = fresh();
    dns.setCaa(reportsOnly, [{ tag: 'iodef', value: 'mailto:security@example.test' }]);
    expect(await caa(reportsOnly)).toEqual({ ok: true });
  });

  it('uses the closest record set when climbing to the parents', async () => {
    const parent = fresh('parent');
    dns.setCaa(parent, [{ tag: 'issue', value: 'other.example' }]);
    expect(await caa(`a.b.${parent}`)).toMatchObject({ ok: false, detail: expect.stringContaining(`CAA record for ${parent}`) });
    dns.setCaa(`b.${parent}`, [{ tag: 'issue', value: 'ca.test' }]);
    expect(await caa(`a.b.${parent}`)).toEqual({ ok: true });
  });

  it('lets issuewild decide for a wildcard when present, and issue otherwise', async () => {
    const name = fresh();
    dns.setCaa(name, [{ tag: 'issue', value: 'ca.test' }, { tag: 'issuewild', value: 'other.example' }]);
    expect(await caa(name)).toEqual({ ok: true });
    expect(await caa(name, true)).toMatchObject({ ok: false, detail: expect.stringMatching(/wildcard/) });
    expect(await caa(`*.${name}`)).toMatchObject({ ok: false });
    const wildOnly = fresh();
    dns.setCaa(wildOnly, [{ tag: 'issue', value: 'other.example' }, { tag: 'issuewild', value: 'ca.test' }]);
    expect(await caa(wildOnly, true)).toEqual({ ok: true });
    expect(await caa(wildOnly)).toMatchObject({ ok: false });
    const issueOnly = fresh();
    dns.setCaa(issueOnly, [{ tag: 'issue', value: 'other.example' }]);
    expect(await caa(issueOnly, true)).toMatchObject({ ok: false });
  });

  it('refuses on an unknown tag marked critical, and ignores one that is not', async () => {
    const [critical, relaxed] = [fresh(), fresh()];
    dns.setCaa(critical, [{ tag: 'issue', value: 'ca.test' }, { flags: 128, tag: 'futuretag', value: 'x' }]);
    dns.setCaa(relaxed, [{ tag: 'issue', value: 'ca.test' }, { tag: 'futuretag', value: 'x' }]);
    expect(await caa(critical)).toMatchObject({ ok: false, retryable: false, detail: expect.stringMatching(/unknown critical property "futuretag"/) });
    expect(await caa(relaxed)).toEqual({ ok: true });
  });

  it('refuses, retryably, when a record set on the way cannot be read (SERVFAIL, lost query)', async () => {
    const parent = fresh('parent');
    dns.failWith(parent, 'SERVFAIL');
    expect(await caa(`www.${parent}`)).toMatchObject({ ok: false, retryable: true, detail: expect.stringMatching(/SERVFAIL/) });
    const lost = fresh();
    dns.failWith(lost, 'TIMEOUT');
    expect(await checkCaa({ domain: lost, wildcard: false, caaIdentities: ['ca.test'] }, settings({ timeoutMs: 500 }))).toMatchObject({ ok: false, retryable: true });
  });

  it('refuses a domain that is not a DNS name without asking', async () => {
    expect(await caa('exa mple.test')).toMatchObject({ ok: false, retryable: false });
  });

  it('judges any record set without throwing, and permits whenever an issue record names this CA and nothing critical is unknown', async () => {
    const property = fc.record({
      flags: fc.constantFrom(0, 128, 1, 129),
      tag: fc.oneof(fc.constantFrom('issue', 'issuewild', 'iodef', 'ISSUE'), fc.stringMatching(/^[a-z0-9]{1,15}$/)),
      value: fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom('ca.test', ';', 'ca.test; a=b', 'other.example')),
    });
    fc.assert(
      fc.property(fc.array(property, { maxLength: 6 }), fc.boolean(), (records, wildcard) => {
        const result = evaluateCaa(records.map((r) => ({ ...r, tag: r.tag.toLowerCase() })), 'x.test', wildcard, ['ca.test']);
        const knownOnly = records.every((r) => !(r.flags & 128) || ['issue', 'issuewild', 'iodef'].includes(r.tag.toLowerCase()));
        const permitting = records.some((r) => r.tag.toLowerCase() === (wildcard ? 'issuewild' : 'issue') && r.value.split(';')[0]?.trim() === 'ca.test');
        if (permitting && knownOnly && !wildcard) expect(result.ok).toBe(true);
        if (!knownOnly) expect(result.ok).toBe(false);
      }),
      { numRuns: 3000 },
    );
    // The same through the wire: whatever the stub serves, checkCaa answers.
    const name = fresh();
    await fc.assert(
      fc.asyncProperty(fc.array(property, { minLength: 1, maxLength: 4 }), async (records) => {
        dns.setCaa(name, records);
        const result = await caa(name);
        expect(typeof result.ok).toBe('boolean');
      }),
      { numRuns: 40 },
    );
  });
});
