// EST (RFC 7030) end to end over HTTPS: every operation, both kinds of authentication, pending
// approval, the wire format, and bad input answered with 4xx and a plain-text reason.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import * as asn1js from 'asn1js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientCertificates } from '../src/auth/certificateLogin.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { QueryService } from '../src/core/queries.js';
import { EST_LOGIN_WORDING } from '../protocols/est/auth.js';
import { basic, csrDer, opensslCertsOf, startEstEnv, type EstEnv, type EstReply } from './helpers/est.js';
import { makeCsr, opensslVerify, x509Text, type KeySpec } from './helpers/openssl.js';
import { until } from './helpers/until.js';

const PKCS10 = { 'content-type': 'application/pkcs10' };

let env: EstEnv;

beforeAll(async () => {
  env = await startEstEnv({
    products: {
      'est-basic': { protocols: { est: { auth: 'basic' } } },
      // Certificate logins need a trusted CA (est.trustedCas); here certgate's own issuing CA.
      'est-cert': { protocols: { est: { auth: 'certificate', base64LineLength: 76, trustedCas: ['certgate-issuing'] } } },
      'est-trusting': { protocols: { est: { auth: 'certificate', trustedCas: [{ ca: 'certgate-issuing', namesMayDiffer: true }] } } },
      // Renewal with the certificate alone (the default, basic, wants Basic as well).
      'est-oneline': { protocols: { est: { base64LineLength: 0, auth: 'either' } } },
      'est-wrapped': { protocols: { est: { base64LineLength: 64 } } },
      'est-approval': { requiresApproval: true, protocols: { est: { retryAfterSeconds: 7 } } },
      'est-rsa': { keyAlgorithms: ['rsa-2048'], subject: { attributes: { OU: { allowed: ['Devices', 'Routers'] } } } },
      'est-narrow': { allowedDnsSuffixes: ['allowed.test'] },
      'est-broken': { protocols: { est: { auth: 'sometimes' } } },
    },
    users: { dev1: '*', basiconly: ['est-basic'] },
  });
});

afterAll(async () => {
  await env?.close();
});

const certsOf = (reply: EstReply): string[] => opensslCertsOf(Buffer.from(reply.text, 'base64'), env.dir);

function enroll(path: string, csrPem: string, headers: Record<string, string> = { authorization: basic(env.users.dev1!) }, tls: { cert?: string; key?: string } = {}): Promise<EstReply> {
  return env.call(path, { body: csrDer(csrPem).toString('base64'), headers: { ...PKCS10, ...headers }, ...tls });
}

/** A certificate (and its key) certgate issued under `product`, to present as a TLS client certificate. */
async function clientCertificate(product: string, subject = '/CN=device.test'): Promise<{ cert: string; key: string; serial: string }> {
  const { csrPem, keyPath } = makeCsr(env.dir, { subject, san: [`DNS:${subject.slice(4)}`] });
  const rt = env.server.rt;
  const { request } = await rt.enrollments.submit({ principal: 'test', protocol: 'cli', product: { name: product } }, csrPem);
  const outcome = await rt.enrollments.waitForOutcome(request, 15_000);
  if (outcome.state !== 'issued') throw new Error(`no client certificate: ${outcome.state}`);
  return { cert: outcome.certificate.certificatePem, key: readFileSync(keyPath, 'utf8'), serial: outcome.certificate.serialNumber };
}

/** The parts of a multipart/mixed answer: headers and decoded base64 body. */
function multipartOf(reply: EstReply): { head: string; body: Buffer }[] {
  const boundary = /^multipart\/mixed; boundary=(\S+)$/.exec(reply.headers['content-type'] as string)?.[1];
  if (!boundary) throw new Error(`not multipart/mixed: ${String(reply.headers['content-type'])}`);
  expect(reply.text.endsWith(`--${boundary}--\r\n`)).toBe(true);
  return reply.text
    .split(`--${boundary}`)
    .slice(1, -1)
    .map((part) => {
      const [head, body] = part.split('\r\n\r\n') as [string, string];
      return { head, body: Buffer.from(body, 'base64') };
    });
}

describe('EST over HTTPS', () => {
  it('serves the CA chain from /cacerts as a certs-only PKCS#7, by label, by path prefix and by default', async () => {
    for (const path of ['/.well-known/est/cacerts', '/.well-known/est/est-basic/cacerts', '/est-basic/.well-known/est/cacerts']) {
      const reply = await env.call(path);
      expect(reply.status, reply.text).toBe(200);
      expect(reply.headers['content-type']).toBe('application/pkcs7-mime; smime-type=certs-only');
      expect(reply.headers['content-transfer-encoding']).toBe('base64');
      expect(certsOf(reply).map((pem) => new X509Certificate(pem).subject)).toEqual([new X509Certificate(env.issuingPem).subject, new X509Certificate(env.rootPem).subject]);
      // One line by default (RFC 7030 erratum 5904).
      expect(reply.text).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    }
    const unknown = await env.call('/.well-known/est/no-such-product/cacerts');
    expect(unknown.status).toBe(404);
    expect(unknown.headers['content-type']).toMatch(/^text\/plain/);
    expect(unknown.text).toMatch(/no EST label "no-such-product"/);
  });

  it('enrolls P-256, P-384 and RSA requests with Basic auth; the certificates verify against certgate\'s chain', async () => {
    for (const key of ['ec-p256', 'ec-p384', 'rsa-2048'] as KeySpec[]) {
      const { csrPem } = makeCsr(env.dir, { key, subject: '/CN=host1.test', san: ['DNS:host1.test', 'DNS:www.host1.test'] });
      const reply = await enroll('/.well-known/est/simpleenroll', csrPem);
      expect(reply.status, reply.text).toBe(200);
      expect(reply.headers['content-type']).toBe('application/pkcs7-mime; smime-type=certs-only');
      const certs = certsOf(reply);
      expect(certs).toHaveLength(1);
      expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, certs[0] as string)).toMatch(/: OK/);
      const cert = new X509Certificate(certs[0] as string);
      expect(cert.subject).toBe('CN=host1.test');
      expect(cert.subjectAltName).toBe('DNS:host1.test, DNS:www.host1.test');
    }
  });

  it('writes base64 on one line by default, or wrapped at 64 or 76 as the product says', async () => {
    const lines = async (product: string, headers: Record<string, string> = { authorization: basic(env.users.dev1!) }, tls = {}, csrPem = makeCsr(env.dir).csrPem) => {
      const reply = await enroll(`/${product}/.well-known/est/simpleenroll`, csrPem, headers, tls);
      expect(reply.status, reply.text).toBe(200);
      return reply.text;
    };
    expect((await lines('est-oneline')).includes('\n')).toBe(false);
    expect(await lines('est-basic')).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    const wrapped = (await lines('est-wrapped')).split('\r\n');
    expect(wrapped[0]).toHaveLength(64);
    expect(wrapped.at(-1)).toBe('');
    const device = await clientCertificate('est-cert');
    expect((await lines('est-cert', {}, { cert: device.cert, key: device.key }, makeCsr(env.dir, { subject: '/CN=device.test' }).csrPem)).split('\r\n')[0]).toHaveLength(76);
  });

  it('reads requests as base64 with or without line breaks, PEM, and binary DER', async () => {
    const { csrPem } = makeCsr(env.dir);
    const der = csrDer(csrPem);
    const b64 = der.toString('base64');
    const bodies: [string | Buffer, Record<string, string>][] = [
      [b64, {}],
      [b64.replace(/.{64}/g, '$&\r\n'), { 'content-transfer-encoding': 'base64' }],
      [b64.replace(/.{76}/g, '$&\n'), {}],
      [csrPem, {}],
      [der, { 'content-transfer-encoding': 'binary' }],
      [der, {}],
    ];
    let serial: string | null = null;
    for (const [body, headers] of bodies) {
      const reply = await env.call('/.well-known/est/simpleenroll', { body, headers: { ...PKCS10, ...headers, authorization: basic(env.users.dev1!) } });
      expect(reply.status, reply.text).toBe(200);
      // The same CSR is the same request, however it was encoded: one certificate.
      const s = new X509Certificate(certsOf(reply)[0] as string).serialNumber;
      serial ??= s;
      expect(s).toBe(serial);
    }
  });

  it('answers a missing or wrong credential with 401 and a Basic challenge, and records the refusal', async () => {
    const { csrPem } = makeCsr(env.dir);
    const dev1Refusals = async () => (await env.server.rt.store.audit.list({ actor: env.users.dev1!.id, action: 'auth.refused' }, { limit: 100, offset: 0 })).entries;
    const before = (await dev1Refusals()).length;
    const challenges = [
      await enroll('/est-basic/.well-known/est/simpleenroll', csrPem, {}),
      await enroll('/est-basic/.well-known/est/simpleenroll', csrPem, { authorization: basic({ username: 'dev1', password: 'wrong' }) }),
      await enroll('/est-basic/.well-known/est/simpleenroll', csrPem, { authorization: basic({ username: 'nobody', password: 'x' }) }),
      await enroll('/est-basic/.well-known/est/simpleenroll', csrPem, { authorization: 'Basic !!!' }),
      // Bound to est-basic only.
      await enroll('/est-oneline/.well-known/est/simpleenroll', csrPem, { authorization: basic(env.users.basiconly!) }),
    ];
    for (const reply of challenges) {
      expect(reply.status, reply.text).toBe(401);
      expect(reply.headers['www-authenticate']).toBe('Basic realm="certgate EST"');
      expect(reply.headers['content-type']).toMatch(/^text\/plain/);
    }
    expect(challenges[1]?.text).toMatch(/invalid credential/);
    expect(challenges[4]?.text).toMatch(/may not issue under this product/);
    // Of these calls only the wrong password names dev1: exactly one refusal more, the newest.
    const refusals = await dev1Refusals();
    expect(refusals).toHaveLength(before + 1);
    expect(refusals[0]).toMatchObject({ actor: env.users.dev1!.id, protocol: 'est', action: 'auth.refused', outcome: 'refused', detail: { reason: 'wrongSecret', presented: 'est' } });
  });

  it('authenticates with a TLS client certificate from a CA the product trusts, for the certificate\'s own names, and only as the product says', async () => {
    const { csrPem } = makeCsr(env.dir, { subject: '/CN=other.test' });
    const own = makeCsr(env.dir, { subject: '/CN=device.test' }).csrPem;
    const device = await clientCertificate('est-cert');
    const foreign = await clientCertificate('est-oneline');
    expect((await enroll('/est-cert/.well-known/est/simpleenroll', own, {}, device)).status).toBe(200);
    // Its own names only.
    const wider = await enroll('/est-cert/.well-known/est/simpleenroll', csrPem, {}, device);
    expect(wider.status).toBe(403);
    expect(wider.text).toMatch(/own names only \(device\.test\); not authorized: other\.test/);
    // Basic alone does not do where the product wants a certificate.
    expect((await enroll('/est-cert/.well-known/est/simpleenroll', own)).status).toBe(401);
    // A product that trusts the issuing CA and lets names differ takes its own certificates for other
    // names; a certificate of another product under the same CA is no login there.
    expect((await enroll('/est-trusting/.well-known/est/simpleenroll', csrPem, {}, await clientCertificate('est-trusting'))).status).toBe(200);
    const crossing = await enroll('/est-trusting/.well-known/est/simpleenroll', csrPem, {}, foreign);
    expect(crossing.status).toBe(401);
    expect(crossing.text).toMatch(/issued under another product/);
    // A certificate alone does not do where the product wants Basic.
    expect((await enroll('/est-basic/.well-known/est/simpleenroll', own, {}, await clientCertificate('est-basic'))).status).toBe(401);
    // Nor where it takes either but trusts no CA: being certgate's is not enough.
    const untrusted = await enroll('/est-oneline/.well-known/est/simpleenroll', own, {}, device);
    expect(untrusted.status).toBe(401);
    expect(untrusted.text).toMatch(/not issued by a CA this product trusts/);
    // A certificate that is not certgate's.
    const self = makeCsr(env.dir, { subject: '/CN=self.test' });
    const selfSigned = readFileSync(self.keyPath, 'utf8');
    const { execFileSync } = await import('node:child_process');
    const selfCert = execFileSync('openssl', ['req', '-x509', '-key', self.keyPath, '-subj', '/CN=device.test', '-days', '1'], { encoding: 'utf8' });
    const stranger = await enroll('/est-cert/.well-known/est/simpleenroll', own, {}, { cert: selfCert, key: selfSigned });
    expect(stranger.status).toBe(401);
    expect(stranger.text).toMatch(/not issued by a CA this product trusts/);
  });

  it('re-enrolls with the certificate being renewed: same subject and names, a new key', async () => {
    const old = await clientCertificate('est-oneline', '/CN=renew.test');
    const { csrPem, keyPath } = makeCsr(env.dir, { subject: '/CN=renew.test', san: ['DNS:renew.test'] });
    const reply = await enroll('/est-oneline/.well-known/est/simplereenroll', csrPem, {}, old);
    expect(reply.status, reply.text).toBe(200);
    const renewed = new X509Certificate(certsOf(reply)[0] as string);
    const before = new X509Certificate(old.cert);
    expect(renewed.subject).toBe(before.subject);
    expect(renewed.subjectAltName).toBe(before.subjectAltName);
    expect(renewed.serialNumber).not.toBe(before.serialNumber);
    expect(renewed.publicKey.export({ format: 'der', type: 'spki' })).toEqual(createPublicKey(createPrivateKey(readFileSync(keyPath, 'utf8'))).export({ format: 'der', type: 'spki' }));
    expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, renewed.toString())).toMatch(/: OK/);

    // No certificate: nothing to renew.
    expect((await enroll('/est-oneline/.well-known/est/simplereenroll', csrPem)).status).toBe(401);
    // Other names: refused by the worker (exactNames), with the reason.
    const wider = await enroll('/est-oneline/.well-known/est/simplereenroll', makeCsr(env.dir, { subject: '/CN=renew.test', san: ['DNS:renew.test', 'DNS:more.test'] }).csrPem, {}, old);
    expect(wider.status).toBe(403);
    expect(wider.text).toMatch(/exactNames/);
    // Another subject.
    const moved = await enroll('/est-oneline/.well-known/est/simplereenroll', makeCsr(env.dir, { subject: '/CN=renew.test/O=Elsewhere', san: ['DNS:renew.test'] }).csrPem, {}, old);
    expect(moved.status).toBe(400);
    expect(moved.text).toMatch(/subject of the certificate it renews/);
    // Renewal stays in the product that issued the certificate.
    expect((await enroll('/est-basic/.well-known/est/simplereenroll', csrPem, { authorization: basic(env.users.dev1!) }, old)).status).toBe(401);
  });

  it('refuses a revoked client certificate', async () => {
    const device = await clientCertificate('est-cert', '/CN=revoked.test');
    const rt = env.server.rt;
    const record = await rt.store.certificates.getBySerial(env.products['est-cert']!.caId, device.serial);
    await rt.revocations.revoke(record!.id, { reason: 'keyCompromise' }, CLI_CONTEXT, () => undefined);
    const reply = await enroll('/est-cert/.well-known/est/simplereenroll', makeCsr(env.dir, { subject: '/CN=revoked.test', san: ['DNS:revoked.test'] }).csrPem, {}, device);
    expect(reply.status).toBe(401);
    expect(reply.text).toMatch(/revoked/);
  });

  it('refuses a client certificate outside its validity', async () => {
    const device = await clientCertificate('est-cert', '/CN=aging.test');
    const peer = new X509Certificate(device.cert);
    const certificates = new ClientCertificates(new QueryService(env.server.rt.store), EST_LOGIN_WORDING);
    expect(await certificates.identify(peer)).toMatchObject({ ok: true });
    expect(await certificates.identify(peer, Date.parse(peer.validTo) + 1000)).toEqual({ ok: false, reason: 'the TLS client certificate has expired' });
    expect(await certificates.identify(peer, Date.parse(peer.validFrom) - 1000)).toEqual({ ok: false, reason: 'the TLS client certificate is not valid yet' });
  });

  it('answers 202 with an integer Retry-After while approval is pending, then the certificate once approved, 403 once declined', async () => {
    const { csrPem } = makeCsr(env.dir, { subject: '/CN=approve.test' });
    const first = await enroll('/est-approval/.well-known/est/simpleenroll', csrPem);
    expect(first.status, first.text).toBe(202);
    expect(first.headers['retry-after']).toBe('7');
    const again = await enroll('/est-approval/.well-known/est/simpleenroll', csrPem);
    expect(again.status).toBe(202);
    // Sent twice, recorded once.
    const held = await env.server.rt.store.requests.listByStatus(['pending_approval'], 100).then((rs) => rs.filter((r) => r.productId === env.products['est-approval']!.id));
    expect(held).toHaveLength(1);
    const [pending] = held;
    expect(first.text).toContain(pending!.id);
    await env.server.rt.enrollments.approve(pending!.id, CLI_CONTEXT);
    // Sent again without the label (as strongSwan 5.9 does when it polls): the earlier request is found.
    let done: EstReply | undefined;
    await until(async () => (done = await enroll('/.well-known/est/simpleenroll', csrPem)).status === 200, 20_000, 'the approved certificate is delivered');
    expect(new X509Certificate(certsOf(done!)[0] as string).subject).toBe('CN=approve.test');

    const declinedCsr = makeCsr(env.dir, { subject: '/CN=decline.test' }).csrPem;
    expect((await enroll('/est-approval/.well-known/est/simpleenroll', declinedCsr)).status).toBe(202);
    const [toDecline] = (await env.server.rt.store.requests.listByStatus(['pending_approval'], 100)).filter((r) => r.productId === env.products['est-approval']!.id);
    await env.server.rt.enrollments.reject(toDecline!.id, 'not one of ours', CLI_CONTEXT);
    const declined = await enroll('/est-approval/.well-known/est/simpleenroll', declinedCsr);
    expect(declined.status).toBe(403);
    expect(declined.text).toMatch(/not one of ours/);
  });

  it('refuses what the product refuses with 403 and the rule', async () => {
    const reply = await enroll('/est-narrow/.well-known/est/simpleenroll', makeCsr(env.dir, { subject: '/CN=host1.test' }).csrPem);
    expect(reply.status).toBe(403);
    expect(reply.text).toBe('"host1.test" is outside this product\'s allowed DNS suffixes (allowed.test) [rule: allowedDnsSuffixes]\n');
  });

  it('generates the key for /serverkeygen: multipart/mixed with the PKCS#8 key and its certificate', async () => {
    for (const [product, type] of [['est-basic', 'ec'], ['est-rsa', 'rsa']] as const) {
      const { csrPem } = makeCsr(env.dir, { subject: '/CN=keygen.test/OU=Devices', san: ['DNS:keygen.test'] });
      const reply = await enroll(`/${product}/.well-known/est/serverkeygen`, csrPem);
      expect(reply.status, reply.text).toBe(200);
      const parts = multipartOf(reply);
      expect(parts).toHaveLength(2);
      const [keyPart, certPart] = parts as [{ head: string; body: Buffer }, { head: string; body: Buffer }];
      expect(keyPart.head).toMatch(/Content-Type: application\/pkcs8\r\nContent-Transfer-Encoding: base64/);
      expect(certPart.head).toMatch(/Content-Type: application\/pkcs7-mime; smime-type=certs-only\r\nContent-Transfer-Encoding: base64/);
      const key = createPrivateKey({ key: keyPart.body, format: 'der', type: 'pkcs8' });
      expect(key.asymmetricKeyType).toBe(type);
      const certPem = opensslCertsOf(certPart.body, env.dir)[0] as string;
      const cert = new X509Certificate(certPem);
      expect(cert.checkPrivateKey(key)).toBe(true);
      expect(cert.subjectAltName).toBe('DNS:keygen.test');
      expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, certPem)).toMatch(/: OK/);
      if (product === 'est-rsa') expect(x509Text(certPem)).toMatch(/OU = Devices/);
      // The same request again: the same key and certificate.
      const again = multipartOf(await enroll(`/${product}/.well-known/est/serverkeygen`, csrPem));
      expect(again.map((p) => p.body)).toEqual(parts.map((p) => p.body));
    }
  });

  it('keeps a server-generated key while its request waits for approval', async () => {
    const { csrPem } = makeCsr(env.dir, { subject: '/CN=keygen-approval.test' });
    const first = await enroll('/est-approval/.well-known/est/serverkeygen', csrPem);
    expect(first.status, first.text).toBe(202);
    const id = /request (\S+)/.exec(first.text)?.[1] as string;
    await env.server.rt.enrollments.approve(id, CLI_CONTEXT);
    let done: EstReply | undefined;
    await until(async () => (done = await enroll('/est-approval/.well-known/est/serverkeygen', csrPem)).status === 200, 20_000, 'the approved key and certificate are delivered');
    const [keyPart, certPart] = multipartOf(done!) as [{ head: string; body: Buffer }, { head: string; body: Buffer }];
    const cert = new X509Certificate(opensslCertsOf(certPart.body, env.dir)[0] as string);
    expect(cert.checkPrivateKey(createPrivateKey({ key: keyPart.body, format: 'der', type: 'pkcs8' }))).toBe(true);
  });

  it('serves /csrattrs from the product template, DER with asn1js', async () => {
    const reply = await env.call('/est-rsa/.well-known/est/csrattrs');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/csrattrs');
    const asn = asn1js.fromBER(Buffer.from(reply.text, 'base64'));
    expect(asn.offset).not.toBe(-1);
    const items = (asn.result as asn1js.Sequence).valueBlock.value;
    const oids = items.map((i) => (i instanceof asn1js.ObjectIdentifier ? i.valueBlock.toString() : ((i as asn1js.Sequence).valueBlock.value[0] as asn1js.ObjectIdentifier).valueBlock.toString()));
    expect(oids).toEqual(['1.2.840.113549.1.1.1', '1.2.840.113549.1.1.11', '1.2.840.113549.1.9.14', '2.5.4.3', '2.5.4.11']);
    const rsa = (items[0] as asn1js.Sequence).valueBlock.value[1] as asn1js.Set;
    expect(rsa.valueBlock.value.map((v) => (v as asn1js.Integer).valueBlock.valueDec)).toEqual([2048]);
  });

  it('answers bad input with 4xx and a plain-text reason, never 5xx', async () => {
    const auth = { authorization: basic(env.users.dev1!) };
    const { csrPem } = makeCsr(env.dir);
    const tampered = csrDer(csrPem);
    tampered.writeUInt8((tampered.at(-5) as number) ^ 0x01, tampered.length - 5);
    const cases: [string, { method?: string; body?: string | Buffer; headers?: Record<string, string> }, number, RegExp][] = [
      ['/.well-known/est/simpleenroll', { body: 'this is not base64!', headers: { ...PKCS10, ...auth } }, 400, /not base64/],
      ['/.well-known/est/simpleenroll', { body: Buffer.from('not a CSR at all').toString('base64'), headers: { ...PKCS10, ...auth } }, 400, /malformed CSR/],
      ['/.well-known/est/simpleenroll', { body: tampered.toString('base64'), headers: { ...PKCS10, ...auth } }, 400, /signature does not verify/],
      ['/.well-known/est/simpleenroll', { body: csrDer(csrPem).toString('base64'), headers: { 'content-type': 'application/json', ...auth } }, 415, /application\/pkcs10/],
      ['/.well-known/est/simpleenroll', { body: csrDer(csrPem).toString('base64'), headers: auth }, 415, /application\/pkcs10/],
      ['/.well-known/est/simpleenroll', { body: 'A'.repeat(70_000), headers: { ...PKCS10, ...auth } }, 413, /larger than/],
      ['/.well-known/est/simpleenroll', { body: '', headers: { ...PKCS10, ...auth } }, 400, /empty/],
      ['/.well-known/est/simpleenroll', { body: 'AAAA', headers: { ...PKCS10, ...auth, 'content-transfer-encoding': 'quoted-printable' } }, 400, /Content-Transfer-Encoding/],
      ['/.well-known/est/serverkeygen', { body: tampered.toString('base64'), headers: { ...PKCS10, ...auth } }, 400, /signature does not verify/],
      ['/.well-known/est/simpleenroll', { method: 'GET' }, 405, /takes POST/],
      ['/.well-known/est/cacerts', { method: 'POST', body: 'x' }, 405, /takes GET/],
      ['/.well-known/est/fullcmc', { method: 'POST', body: 'x' }, 404, /fullcmc is not supported/],
      ['/.well-known/est/enrol', {}, 404, /not an EST operation/],
      ['/.well-known/est/', {}, 404, /no EST operation/],
      ['/.well-known/est/%zz/cacerts', {}, 400, /percent-encoding/],
      ['/a/.well-known/est/b/cacerts', {}, 404, /two labels/],
      ['/est-broken/.well-known/est/cacerts', {}, 500, /invalid EST settings/],
    ];
    for (const [path, o, status, reason] of cases) {
      const reply = await env.call(path, o);
      expect(reply.status, `${path}: ${reply.text}`).toBe(status);
      expect(reply.headers['content-type']).toMatch(/^text\/plain/);
      expect(reply.text).toMatch(reason);
    }
  });

  it('is served over HTTPS only', async () => {
    const http = new URL(env.server.httpUrl as string);
    const status = await new Promise<number>((resolve, reject) => {
      httpRequest({ host: http.hostname, port: http.port, path: '/.well-known/est/cacerts' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(403);
  });

  it('answers with Content-Length, never chunked, in one write, over TLS 1.2 and 1.3', async () => {
    const request = (path: string, auth: boolean, body: string) =>
      `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/pkcs10\r\n${auth ? `Authorization: ${basic(env.users.dev1!)}\r\n` : ''}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      for (const [path, auth, status] of [
        ['/est-oneline/.well-known/est/simpleenroll', true, 200],
        ['/est-approval/.well-known/est/simpleenroll', true, 202],
        ['/est-oneline/.well-known/est/simpleenroll', false, 401],
      ] as const) {
        const body = csrDer(makeCsr(env.dir).csrPem).toString('base64');
        const chunks = await new Promise<Buffer[]>((resolve, reject) => {
          const out: Buffer[] = [];
          const socket = tlsConnect({ host: '127.0.0.1', port: env.port, servername: 'localhost', ca: env.rootPem, minVersion: version, maxVersion: version }, () => {
            expect(socket.getProtocol()).toBe(version);
            socket.write(request(path, auth, body));
          });
          socket.on('data', (c: Buffer) => out.push(c));
          socket.on('end', () => resolve(out));
          socket.on('error', reject);
        });
        const first = chunks[0]?.toString('latin1') ?? '';
        const [head, rest] = first.split('\r\n\r\n') as [string, string];
        expect(head.startsWith(`HTTP/1.1 ${status} `), head).toBe(true);
        expect(head).not.toMatch(/\r\ntransfer-encoding:/i);
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1]);
        expect(length).toBeGreaterThan(0);
        // The whole body came with the headers, in the first record.
        expect(Buffer.byteLength(rest, 'latin1')).toBe(length);
        if (status === 202) expect(head).toMatch(/\r\nretry-after: \d+(\r\n|$)/i);
      }
    }
  });

  it('says so when the same CSR is sent under another product', async () => {
    const { csrPem } = makeCsr(env.dir);
    expect((await enroll('/est-oneline/.well-known/est/simpleenroll', csrPem)).status).toBe(200);
    const again = await enroll('/est-basic/.well-known/est/simpleenroll', csrPem);
    expect(again.status).toBe(409);
    expect(again.text).toMatch(/sent before under product est-oneline/);
  });
});
