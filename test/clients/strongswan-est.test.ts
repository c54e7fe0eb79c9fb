// strongSwan's `pki` (5.9.8) against certgate's EST server, with the command lines of CLIENTS.md:
// --estca, --est with Basic auth, re-enrollment with the old certificate as TLS client certificate
// (with Basic as well under the default est.auth=basic, and alone where est.auth=either),
// a wrong password, and --interval polling while an operator approves over REST. strongSwan reaches
// a product by the URL path before /.well-known/est and cannot read wrapped base64: the products keep
// the default est.base64LineLength (one line), so the default is what is shown to work.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingBinaryReason } from '../harness/binaries.js';
import { runClient, startEstEnv, type EstEnv } from '../helpers/est.js';
import { freePort } from '../helpers/net.js';
import { opensslVerify } from '../helpers/openssl.js';
import { until } from '../helpers/until.js';

const skip = missingBinaryReason('pki', 'apt-get install -y strongswan-pki libstrongswan-extra-plugins');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * pki checks the status of the gateway's HTTPS certificate and of the issuing CA through the OCSP
 * responder their AIA names: both must be good, with no failed request and no fallback to CRLs.
 * (Before asking about the issuing CA, pki tries its cached answer about the HTTPS certificate
 * against the root and logs "ocsp response verification failed, no signer certificate": that
 * answer is signed for the issuing CA, as RFC 6960 wants, whatever the responder does.)
 */
function expectStatusGood(stderr: string): void {
  const verdicts: Record<string, string> = {};
  for (const section of stderr.split('checking certificate status of "').slice(1)) {
    verdicts[section.slice(0, section.indexOf('"'))] = /^certificate status is (.+)$/m.exec(section)?.[1] ?? 'none';
  }
  expect(verdicts).toEqual({ 'CN=localhost': 'good', 'CN=certgate Dev Issuing CA, O=certgate': 'good' });
  expect(stderr).not.toMatch(/ocsp request to \S+ failed|ocsp check failed|fallback to crl/);
}

const pki = async (args: string[], cwd: string): Promise<Run> => {
  const run = await runClient('pki', args, cwd);
  return { ...run, stdout: run.stdout.toString('utf8') };
};

describe.skipIf(skip)('strongSwan pki 5.9.8 as EST client', () => {
  let env: EstEnv;
  let dir: string;
  let url: (product: string) => string;
  let trust: string[];
  let password: string;

  /** A key and a PKCS#10 request made with strongSwan's own tools, as a router would. */
  const keyAndRequest = async (name: string, dn: string, san: string): Promise<{ key: string; req: string }> => {
    const key = `${name}.key`;
    const req = `${name}.req`;
    const gen = await pki(['--gen', '--type', 'ecdsa', '--size', '256', '--outform', 'pem'], dir);
    expect(gen.code, gen.stderr).toBe(0);
    writeFileSync(join(dir, key), gen.stdout);
    const made = await pki(['--req', '--in', key, '--type', 'ecdsa', '--dn', dn, '--san', san, '--outform', 'pem'], dir);
    expect(made.code, made.stderr).toBe(0);
    writeFileSync(join(dir, req), made.stdout);
    return { key, req };
  };

  const verified = (pem: string): X509Certificate => {
    expect(opensslVerify(dir, env.rootPem, env.issuingPem, pem)).toMatch(/: OK/);
    return new X509Certificate(pem);
  };

  beforeAll(async () => {
    // The HTTPS certificate and the issuing CA name the responder by the public URL: where we listen.
    const httpPort = await freePort();
    env = await startEstEnv({
      overrides: { httpPort, publicUrl: `http://127.0.0.1:${httpPort}` },
      products: {
        routers: {},
        'routers-either': { protocols: { est: { auth: 'either' } } },
        'routers-approval': { requiresApproval: true, protocols: { est: { retryAfterSeconds: 1 } } },
        // Wrapped base64 (RFC 7030's examples), which this pki cannot read.
        'routers-wrapped': { protocols: { est: { base64LineLength: 64 } } },
      },
      users: { router1: ['routers', 'routers-either', 'routers-approval'] },
    });
    dir = env.dir;
    writeFileSync(join(dir, 'root.pem'), env.rootPem);
    writeFileSync(join(dir, 'issuing.pem'), env.issuingPem);
    trust = ['--cacert', 'root.pem', '--cacert', 'issuing.pem'];
    url = (product) => `https://localhost:${env.port}/${product}`;
    password = env.users.router1!.password;
  });

  afterAll(async () => {
    await env?.close();
  });

  it('--estca fetches the root and the issuing CA', async () => {
    const run = await pki(['--estca', '--url', url('routers'), ...trust, '--caout', 'ca.pem', '--outform', 'pem'], dir);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/Root CA cert is trusted/);
    expect(run.stderr).toMatch(/Sub CA cert is trusted/);
    expectStatusGood(run.stderr);
    expect(new X509Certificate(readFileSync(join(dir, 'ca.pem'))).raw).toEqual(new X509Certificate(env.rootPem).raw);
    expect(new X509Certificate(readFileSync(join(dir, 'ca-1.pem'))).raw).toEqual(new X509Certificate(env.issuingPem).raw);
  });

  it('--estca cannot read base64 wrapped at 64 characters (why one line is the default)', async () => {
    const run = await pki(['--estca', '--url', url('routers-wrapped'), ...trust, '--caout', 'wrapped.pem', '--outform', 'pem'], dir);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/could not parse single CA certificate/);
  });

  it('--est with --userpass enrolls, and --cert/--key re-enrolls with the old certificate as TLS client certificate', async () => {
    const first = await keyAndRequest('router1', 'CN=router1.test', 'router1.test');
    const enrolled = await pki(['--est', '--url', url('routers'), '--in', first.req, ...trust, '--userpass', `router1:${password}`, '--outform', 'pem'], dir);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    expect(enrolled.stderr).toMatch(/Issued certificate is trusted/);
    expectStatusGood(enrolled.stderr);
    const cert = verified(enrolled.stdout);
    expect(cert.subject).toBe('CN=router1.test');
    expect(cert.subjectAltName).toBe('DNS:router1.test');
    writeFileSync(join(dir, 'router1.pem'), enrolled.stdout);

    // Under the default (basic), renewal takes the old certificate and the Basic credential.
    const second = await keyAndRequest('router1-new', 'CN=router1.test', 'router1.test');
    const renewed = await pki(['--est', '--url', url('routers'), '--in', second.req, ...trust, '--cert', 'router1.pem', '--key', first.key, '--userpass', `router1:${password}`, '--outform', 'pem'], dir);
    expect(renewed.code, renewed.stderr).toBe(0);
    expect(renewed.stderr).toMatch(/sending TLS client certificate 'CN=router1.test'/);
    const next = verified(renewed.stdout);
    expect(next.subject).toBe(cert.subject);
    expect(next.subjectAltName).toBe(cert.subjectAltName);
    expect(next.serialNumber).not.toBe(cert.serialNumber);
    expect(next.publicKey.export({ format: 'der', type: 'spki' })).not.toEqual(cert.publicKey.export({ format: 'der', type: 'spki' }));
    // The renewal was a simplereenroll, authenticated by the old certificate (and the credential).
    const renewal = (await env.server.rt.store.requests.listByStatus(['issued'], 1000)).find((r) => r.transactionId?.startsWith('simplereenroll:'));
    expect(renewal?.requester).toBe('est:router1');
    // The certificate alone is refused there...
    const third = await keyAndRequest('router1-third', 'CN=router1.test', 'router1.test');
    const alone = await pki(['--est', '--url', url('routers'), '--in', third.req, ...trust, '--cert', 'router1.pem', '--key', first.key, '--outform', 'pem'], dir);
    expect(alone.code).not.toBe(0);
    expect(alone.stderr).toMatch(/EST request failed: HTTP 401/);
  });

  it('--cert/--key alone re-enrolls where est.auth=either', async () => {
    const first = await keyAndRequest('router3', 'CN=router3.test', 'router3.test');
    const enrolled = await pki(['--est', '--url', url('routers-either'), '--in', first.req, ...trust, '--userpass', `router1:${password}`, '--outform', 'pem'], dir);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    writeFileSync(join(dir, 'router3.pem'), enrolled.stdout);
    const cert = verified(enrolled.stdout);
    const second = await keyAndRequest('router3-new', 'CN=router3.test', 'router3.test');
    const renewed = await pki(['--est', '--url', url('routers-either'), '--in', second.req, ...trust, '--cert', 'router3.pem', '--key', first.key, '--outform', 'pem'], dir);
    expect(renewed.code, renewed.stderr).toBe(0);
    const next = verified(renewed.stdout);
    expect(next.subjectAltName).toBe(cert.subjectAltName);
    expect(next.serialNumber).not.toBe(cert.serialNumber);
    const request = (await env.server.rt.store.requests.listByStatus(['issued'], 1000)).find((r) => r.transactionId?.startsWith('simplereenroll:') && r.requester.startsWith('est-cert:'));
    // That re-enrollment, authenticated by the certificate, issued the certificate strongSwan got.
    const serial = (s: string | undefined) => s?.toLowerCase().replace(/^0+(?=.)/, '');
    expect(serial((await env.server.rt.store.certificates.getByRequestId(request?.id ?? 'none'))?.serialNumber)).toBe(serial(next.serialNumber));
  });

  it('a wrong password is refused', async () => {
    const { req } = await keyAndRequest('intruder', 'CN=intruder.test', 'intruder.test');
    const run = await pki(['--est', '--url', url('routers'), '--in', req, ...trust, '--userpass', 'router1:wrong', '--outform', 'pem'], dir);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/EST request failed: HTTP 401/);
    expect(run.stdout).toBe('');
  });

  it('--interval polls a product that needs approval until an operator approves over REST', async () => {
    const { req } = await keyAndRequest('router2', 'CN=router2.test', 'router2.test');
    const productId = env.products['routers-approval']!.id;
    const polling = pki(['--est', '--url', url('routers-approval'), '--in', req, ...trust, '--userpass', `router1:${password}`, '--interval', '1', '--maxpolltime', '90', '--outform', 'pem'], dir);
    let pendingId = '';
    await until(
      async () => {
        const pending = (await env.server.rt.store.requests.listByStatus(['pending_approval'], 100)).find((r) => r.productId === productId);
        pendingId = pending?.id ?? '';
        return pending !== undefined;
      },
      30_000,
      'the request waits for approval',
    );
    const approved = await env.call(`/v1/requests/${pendingId}/approve`, { method: 'POST', headers: { authorization: `Bearer ${env.adminToken}` } });
    expect(approved.status, approved.text).toBe(200);
    const run = await polling;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/EST request pending, polling every 1 seconds/);
    expect(verified(run.stdout).subject).toBe('CN=router2.test');
  });
});
