// EST authentication that cannot widen names (issue 19, findings 1, 11 and the EST items of 14): a
// certificate certgate issued is no EST login merely because certgate issued it; a certificate
// from a CA the product trusts (a bootstrap CA) logs in for its own names only; a revoked
// credential and its certificates stop; server-generated keys belong to a credential id; a
// request sent again after its certificate was revoked does not get that certificate back.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { basic, csrDer, opensslCertsOf, startEstEnv, type EstEnv, type EstReply } from './helpers/est.js';
import { makeCsr, openssl, tempDir } from './helpers/openssl.js';

const PKCS10 = { 'content-type': 'application/pkcs10' };

let env: EstEnv;
let bootstrap: { caPem: string; caKey: string; dir: string };

/** A manufacturer's CA (IDevID style), made with openssl as a manufacturer would. */
function makeBootstrapCa(): { caPem: string; caKey: string; dir: string } {
  const dir = tempDir('certgate-est-bootstrap-');
  const caKey = join(dir, 'ca.key');
  const caPem = openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-subj', '/O=Maker/CN=Maker Device CA', '-days', '30',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { caPem, caKey, dir };
}

/** A device certificate the bootstrap CA (or a CA below it) issued, with its key. */
function deviceCertificate(name: string, issuer = { pem: join(bootstrap.dir, 'ca.pem'), key: bootstrap.caKey }): { cert: string; key: string } {
  const { csrPem, keyPath } = makeCsr(bootstrap.dir, { subject: `/CN=${name}`, san: [`DNS:${name}`] });
  const cert = openssl(['x509', '-req', '-CA', issuer.pem, '-CAkey', issuer.key, '-CAcreateserial', '-days', '10', '-copy_extensions', 'copy'], csrPem);
  return { cert, key: readFileSync(keyPath, 'utf8') };
}

/** A production-line CA below the bootstrap CA, as a manufacturer's chain has. */
function intermediateCa(): { pem: string; key: string; certPem: string } {
  const { csrPem, keyPath } = makeCsr(bootstrap.dir, { subject: '/O=Maker/CN=Maker Line 1 CA' });
  const ext = join(bootstrap.dir, 'intermediate.ext');
  writeFileSync(ext, 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  const certPem = openssl(['x509', '-req', '-CA', join(bootstrap.dir, 'ca.pem'), '-CAkey', bootstrap.caKey, '-CAcreateserial', '-days', '20', '-extfile', ext], csrPem);
  const pem = join(bootstrap.dir, 'intermediate.pem');
  writeFileSync(pem, certPem);
  return { pem, key: keyPath, certPem };
}

beforeAll(async () => {
  bootstrap = makeBootstrapCa();
  writeFileSync(join(bootstrap.dir, 'ca.pem'), bootstrap.caPem);
  // A device certificate listed by mistake where a CA belongs.
  const leaf = deviceCertificate('leaf.a.test').cert;
  env = await startEstEnv({
    products: {
      // The product of finding 1: REST (or ACME) and EST under one product, EST settings left alone.
      shop: { allowWildcards: true },
      'shop-either': { allowWildcards: true, protocols: { est: { auth: 'either' } } },
      'shop-trusting': { allowWildcards: true, protocols: { est: { auth: 'either', trustedCas: ['certgate-issuing'] } } },
      'shop-wide': { allowWildcards: true, protocols: { est: { auth: 'certificate', trustedCas: [{ ca: 'certgate-issuing', namesMayDiffer: true }] } } },
      devices: { protocols: { est: { auth: 'certificate', trustedCas: [{ ca: bootstrap.caPem }] } } },
      'devices-wide': { allowWildcards: true, protocols: { est: { auth: 'certificate', trustedCas: [{ ca: bootstrap.caPem, namesMayDiffer: true }] } } },
      'devices-leaf': { protocols: { est: { auth: 'certificate', trustedCas: [leaf] } } },
      keys: {},
    },
    users: { owner: '*', k1: ['keys'], replay: '*' },
  });
});

afterAll(async () => {
  await env?.close();
});

function enroll(path: string, csrPem: string, o: { auth?: { username: string; password: string }; tls?: { cert: string; key: string } } = {}): Promise<EstReply> {
  return env.call(path, { body: csrDer(csrPem).toString('base64'), headers: { ...PKCS10, ...(o.auth ? { authorization: basic(o.auth) } : {}) }, ...o.tls });
}

/** A certificate issued over REST under `product` (as finding 1's ACME certificate was), with its key. */
async function restCertificate(product: string, name: string): Promise<{ cert: string; key: string; serial: string }> {
  const { csrPem, keyPath } = makeCsr(env.dir, { subject: `/CN=${name}`, san: [`DNS:${name}`] });
  const res = await fetch(`${env.server.httpUrl as string}/v1/certificates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ productId: env.products[product]!.id, csrPem }),
  });
  const json = (await res.json()) as { certificate: { certificate_pem: string; serial_number: string } };
  expect(res.status, JSON.stringify(json)).toBe(201);
  return { cert: json.certificate.certificate_pem, key: readFileSync(keyPath, 'utf8'), serial: json.certificate.serial_number };
}

const csrFor = (...names: string[]): string => makeCsr(env.dir, { subject: `/CN=${names[0]}`, san: names.map((n) => `DNS:${n}`) }).csrPem;
const issuedFor = async (name: string): Promise<number> => (await env.server.rt.store.certificates.list({ limit: 1000, offset: 0 })).filter((c) => c.sanDns.includes(name)).length;
const certificateRefusals = async () =>
  (await env.server.rt.store.audit.list({ action: 'auth.refused' }, { limit: 1000, offset: 0 })).entries.filter((e) => e.protocol === 'est' && e.detail.presented === 'tls-client-certificate');

describe('EST certificate logins', () => {
  it('a REST-issued certificate for www.a.test does not enroll bank.a.test, under any auth setting; nothing is issued; the refusal is audited', async () => {
    // Issued under the product that trusts certgate's issuing CA: a certificate logs in for its own product only.
    const www = await restCertificate('shop-trusting', 'www.a.test');
    const before = (await certificateRefusals()).length;
    for (const product of ['shop', 'shop-either']) {
      const reply = await enroll(`/${product}/.well-known/est/simpleenroll`, csrFor('bank.a.test'), { tls: www });
      expect(reply.status, `${product}: ${reply.text}`).toBe(401);
    }
    // A product that trusts certgate's issuing CA for logins still binds the names.
    const trusting = await enroll('/shop-trusting/.well-known/est/simpleenroll', csrFor('bank.a.test'), { tls: www });
    expect(trusting.status, trusting.text).toBe(403);
    expect(trusting.text).toMatch(/own names only \(www\.a\.test\); not authorized: bank\.a\.test/);
    const wider = await enroll('/shop-trusting/.well-known/est/simpleenroll', csrFor('www.a.test', 'bank.a.test'), { tls: www });
    expect(wider.status, wider.text).toBe(403);
    expect(await issuedFor('bank.a.test')).toBe(0);
    const refusals = await certificateRefusals();
    // shop (auth basic) never looks at the certificate; shop-either and the two at shop-trusting refuse it.
    expect(refusals.length - before).toBe(3);
    expect(refusals[0]?.target).toMatch(/^tls-client-certificate:/);
    // Its own names, under the product that trusts the CA: a new certificate for the same names.
    const same = await enroll('/shop-trusting/.well-known/est/simpleenroll', csrFor('www.a.test'), { tls: www });
    expect(same.status, same.text).toBe(200);
    expect(new X509Certificate(opensslCertsOf(Buffer.from(same.text, 'base64'), env.dir)[0] as string).subjectAltName).toBe('DNS:www.a.test');
    // Another product trusting the same CA does not take it, even for its own names.
    const elsewhere = await enroll('/shop-wide/.well-known/est/simpleenroll', csrFor('www.a.test'), { tls: www });
    expect(elsewhere.status, elsewhere.text).toBe(401);
    expect(elsewhere.text).toMatch(/issued under another product/);
  });

  it('a certificate for y.w.test never enrolls *.w.test, even where names may differ', async () => {
    const y = await restCertificate('shop-wide', 'y.w.test');
    for (const product of ['shop', 'shop-either', 'shop-trusting', 'shop-wide']) {
      const reply = await enroll(`/${product}/.well-known/est/simpleenroll`, csrFor('*.w.test'), { tls: y });
      expect([401, 403], `${product}: ${reply.status} ${reply.text}`).toContain(reply.status);
    }
    expect((await enroll('/shop-wide/.well-known/est/simpleenroll', csrFor('*.w.test'), { tls: y })).text).toMatch(/wildcard it does not carry \(\*\.w\.test\)/);
    expect(await issuedFor('*.w.test')).toBe(0);
    // Where names may differ, other (non-wildcard) names are the operator's choice.
    expect((await enroll('/shop-wide/.well-known/est/simpleenroll', csrFor('z.w.test'), { tls: y })).status).toBe(200);
  });

  it('a certificate from a trusted bootstrap CA enrolls its own names; other names only where the entry allows; never elsewhere', async () => {
    const device = deviceCertificate('device1.a.test');
    const own = await enroll('/devices/.well-known/est/simpleenroll', csrFor('device1.a.test'), { tls: device });
    expect(own.status, own.text).toBe(200);
    const issued = new X509Certificate(opensslCertsOf(Buffer.from(own.text, 'base64'), env.dir)[0] as string);
    expect(issued.subjectAltName).toBe('DNS:device1.a.test');
    expect(issued.checkIssued(new X509Certificate(env.issuingPem))).toBe(true);

    const other = await enroll('/devices/.well-known/est/simpleenroll', csrFor('bank.a.test'), { tls: device });
    expect(other.status).toBe(403);
    expect(other.text).toMatch(/not authorized: bank\.a\.test/);
    const keygen = await enroll('/devices/.well-known/est/serverkeygen', csrFor('bank.a.test'), { tls: device });
    expect(keygen.status).toBe(403);
    expect(keygen.text).not.toMatch(/PRIVATE|pkcs8/i);

    expect((await enroll('/devices-wide/.well-known/est/simpleenroll', csrFor('gateway.a.test'), { tls: device })).status).toBe(200);
    expect((await enroll('/devices-wide/.well-known/est/simpleenroll', csrFor('*.a.test'), { tls: device })).status).toBe(403);
    // Products that do not list the bootstrap CA.
    expect((await enroll('/shop-trusting/.well-known/est/simpleenroll', csrFor('device1.a.test'), { tls: device })).status).toBe(401);
    expect((await enroll('/shop/.well-known/est/simpleenroll', csrFor('device1.a.test'), { tls: device })).status).toBe(401);
    // A certificate the bootstrap CA did not sign, with the same subject and names.
    const selfKey = makeCsr(env.dir, { subject: '/CN=device1.a.test' }).keyPath;
    const forged = openssl(['req', '-x509', '-key', selfKey, '-subj', '/O=Maker/CN=Maker Device CA', '-days', '1', '-addext', 'subjectAltName=DNS:device1.a.test']);
    const refused = await enroll('/devices/.well-known/est/simpleenroll', csrFor('device1.a.test'), { tls: { cert: forged, key: readFileSync(selfKey, 'utf8') } });
    expect(refused.status).toBe(401);
    expect(refused.text).toMatch(/not issued by a CA this product trusts/);
    expect(await issuedFor('bank.a.test')).toBe(0);
  });

  it('a device certificate below the trusted CA logs in with the chain it sends, and not without it', async () => {
    const line = intermediateCa();
    const device = deviceCertificate('device3.a.test', line);
    const withChain = await enroll('/devices/.well-known/est/simpleenroll', csrFor('device3.a.test'), { tls: { cert: device.cert + line.certPem, key: device.key } });
    expect(withChain.status, withChain.text).toBe(200);
    const alone = await enroll('/devices/.well-known/est/simpleenroll', csrFor('device3.a.test'), { tls: device });
    expect(alone.status).toBe(401);
    expect(alone.text).toMatch(/not issued by a CA this product trusts/);
    expect((await enroll('/devices/.well-known/est/simpleenroll', csrFor('bank.a.test'), { tls: { cert: device.cert + line.certPem, key: device.key } })).status).toBe(403);
  });

  it('an entry that is not a CA certificate is an invalid EST setting, answered without a stack', async () => {
    const reply = await enroll('/devices-leaf/.well-known/est/simpleenroll', csrFor('x.a.test'));
    expect(reply.status).toBe(500);
    expect(reply.text).toMatch(/invalid EST settings \(est\.trustedCas\.0: .*leaf\.a\.test is not a CA certificate/);
    expect(reply.text).not.toMatch(/\n\s+at /);
  });

  it('a revoked EST credential, and each certificate it got, enroll no new names', async () => {
    const rt = env.server.rt;
    const { credential, secret } = await rt.credentials.create({ type: 'est', name: 'leaver', products: '*' }, CLI_CONTEXT);
    const user = { username: 'leaver', password: secret };
    const { csrPem, keyPath } = makeCsr(env.dir, { subject: '/CN=leaver.a.test', san: ['DNS:leaver.a.test'] });
    const got = await enroll('/shop/.well-known/est/simpleenroll', csrPem, { auth: user });
    expect(got.status, got.text).toBe(200);
    const tls = { cert: opensslCertsOf(Buffer.from(got.text, 'base64'), env.dir)[0] as string, key: readFileSync(keyPath, 'utf8') };
    await rt.credentials.revoke(credential.id, CLI_CONTEXT);

    const answers: string[] = [];
    for (const product of ['shop', 'shop-either', 'shop-trusting']) {
      for (const op of ['simpleenroll', 'serverkeygen']) {
        const refused = await enroll(`/${product}/.well-known/est/${op}`, csrFor('new.a.test'), { tls });
        answers.push(`${product} ${op}: ${refused.status} ${refused.text}`);
      }
      expect((await enroll(`/${product}/.well-known/est/simpleenroll`, csrFor('new.a.test'), { auth: user, tls })).status, product).toBe(401);
    }
    // Each refused, and for the reason its product gives. (None of these reasons is the revocation
    // itself: each product would refuse this certificate from a live credential as well.)
    const basicOnly = '401 product shop requires HTTP Basic credentials (an est credential)\n';
    const untrusted = '401 the TLS client certificate was not issued by a CA this product trusts for EST logins (est.trustedCas)\n';
    const otherProduct = '401 the TLS client certificate was issued under another product: a certgate certificate is an EST login for its own product only\n';
    expect(answers).toEqual([
      `shop simpleenroll: ${basicOnly}`,
      `shop serverkeygen: ${basicOnly}`,
      `shop-either simpleenroll: ${untrusted}`,
      `shop-either serverkeygen: ${untrusted}`,
      `shop-trusting simpleenroll: ${otherProduct}`,
      `shop-trusting serverkeygen: ${otherProduct}`,
    ]);
    // Renewal under the product that needs Basic: the revoked credential does not do.
    const renew = makeCsr(env.dir, { subject: '/CN=leaver.a.test', san: ['DNS:leaver.a.test'] }).csrPem;
    expect((await enroll('/shop/.well-known/est/simplereenroll', renew, { auth: user, tls })).status).toBe(401);
    expect((await enroll('/shop/.well-known/est/simplereenroll', renew, { tls })).status).toBe(401);
    expect(await issuedFor('new.a.test')).toBe(0);
  });

  it('simplereenroll takes a current certificate of the same product only, for the same names', async () => {
    const other = await restCertificate('shop-either', 'moved.a.test');
    const csr = csrFor('moved.a.test');
    const elsewhere = await enroll('/shop/.well-known/est/simplereenroll', csr, { auth: env.users.owner!, tls: other });
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.text).toMatch(/another product/);
    // The bootstrap CA's certificate is not certgate's: nothing to renew.
    const device = deviceCertificate('device2.a.test');
    expect((await enroll('/devices/.well-known/est/simplereenroll', csrFor('device2.a.test'), { tls: device })).status).toBe(401);
    const own = await enroll('/shop-either/.well-known/est/simplereenroll', csr, { tls: other });
    expect(own.status, own.text).toBe(200);
    // Under the default (basic): the certificate it renews and the Basic credential, as strongSwan's
    // `pki --est --cert --key --userpass` sends them; the certificate alone does not do.
    const { csrPem, keyPath } = makeCsr(env.dir, { subject: '/CN=router.a.test', san: ['DNS:router.a.test'] });
    const got = await enroll('/shop/.well-known/est/simpleenroll', csrPem, { auth: env.users.owner! });
    expect(got.status, got.text).toBe(200);
    const router = { cert: opensslCertsOf(Buffer.from(got.text, 'base64'), env.dir)[0] as string, key: readFileSync(keyPath, 'utf8') };
    expect((await enroll('/shop/.well-known/est/simplereenroll', csrFor('router.a.test'), { tls: router })).status).toBe(401);
    const renewed = await enroll('/shop/.well-known/est/simplereenroll', csrFor('router.a.test'), { auth: env.users.owner!, tls: router });
    expect(renewed.status, renewed.text).toBe(200);
    expect(new X509Certificate(opensslCertsOf(Buffer.from(renewed.text, 'base64'), env.dir)[0] as string).subjectAltName).toBe('DNS:router.a.test');
    expect((await enroll('/shop/.well-known/est/simplereenroll', csrFor('router.a.test', 'more.a.test'), { auth: env.users.owner!, tls: router })).status).toBe(403);
    const revoked = await restCertificate('shop-either', 'gone.a.test');
    const record = await env.server.rt.store.certificates.getBySerial(env.products['shop-either']!.caId, revoked.serial);
    await env.server.rt.revocations.revoke(record!.id, { reason: 'keyCompromise' }, CLI_CONTEXT, () => undefined);
    const refused = await enroll('/shop-either/.well-known/est/simplereenroll', csrFor('gone.a.test'), { tls: revoked });
    expect(refused.status).toBe(401);
    expect(refused.text).toMatch(/revoked/);
  });
});

/** The PKCS#8 key of a serverkeygen answer. */
function keyOf(reply: EstReply): Buffer {
  const boundary = /boundary=(\S+)/.exec(reply.headers['content-type'] as string)?.[1] as string;
  const part = reply.text.split(`--${boundary}`)[1] as string;
  return Buffer.from(part.split('\r\n\r\n')[1] as string, 'base64');
}

describe('EST server-generated keys and replays', () => {
  it('keeps a server-generated key per credential id: a new credential under a revoked one\'s name never receives it; re-delivery is audited', async () => {
    const rt = env.server.rt;
    const k1 = env.users.k1!;
    const csr = csrFor('kept.a.test');
    const first = await enroll('/keys/.well-known/est/serverkeygen', csr, { auth: k1 });
    expect(first.status, first.text).toBe(200);
    const key = keyOf(first);
    expect(createPrivateKey({ key, format: 'der', type: 'pkcs8' }).asymmetricKeyType).toBe('ec');
    const redeliveries = async (actor: string) => (await rt.store.audit.list({ actor, action: 'certificate.key_redeliver' }, { limit: 10, offset: 0 })).entries;
    expect(await redeliveries(k1.id)).toHaveLength(0);
    const again = await enroll('/keys/.well-known/est/serverkeygen', csr, { auth: k1 });
    expect(again.status).toBe(200);
    expect(keyOf(again)).toEqual(key);
    const [entry] = await redeliveries(k1.id);
    expect(entry).toMatchObject({ protocol: 'est', outcome: 'success', detail: { operation: 'serverkeygen' } });
    expect(JSON.stringify(entry)).not.toContain(key.toString('base64').slice(0, 40));

    await rt.credentials.revoke(k1.id, CLI_CONTEXT);
    const { credential, secret } = await rt.credentials.create({ type: 'est', name: 'k1', products: [env.products.keys!.id] }, CLI_CONTEXT);
    const heir = await enroll('/keys/.well-known/est/serverkeygen', csr, { auth: { username: 'k1', password: secret } });
    expect(heir.status).toBe(409);
    expect(heir.text).toMatch(/sent before .*earlier credential of the same name/);
    expect(heir.body.includes(key.toString('base64').slice(0, 40))).toBe(false);
    expect(await redeliveries(credential.id)).toHaveLength(0);
    // A request of its own gets a key of its own.
    const fresh = await enroll('/keys/.well-known/est/serverkeygen', csrFor('kept.a.test'), { auth: { username: 'k1', password: secret } });
    expect(fresh.status, fresh.text).toBe(200);
    expect(keyOf(fresh)).not.toEqual(key);
  });

  it('a request sent again after its certificate was revoked gets neither that certificate nor its key', async () => {
    const rt = env.server.rt;
    const user = env.users.replay!;
    for (const op of ['simpleenroll', 'serverkeygen']) {
      const csr = csrFor(`${op}.replay.a.test`);
      const first = await enroll(`/keys/.well-known/est/${op}`, csr, { auth: user });
      expect(first.status, first.text).toBe(200);
      const [issued] = (await rt.store.certificates.list({ limit: 1000, offset: 0 })).filter((c) => c.sanDns.includes(`${op}.replay.a.test`));
      await rt.revocations.revoke(issued!.id, { reason: 'keyCompromise' }, CLI_CONTEXT, () => undefined);
      const refusals = async () => (await rt.store.audit.list({ actor: user.id, action: 'auth.refused' }, { limit: 100, offset: 0 })).entries;
      const before = (await refusals()).length;
      const replay = await enroll(`/keys/.well-known/est/${op}`, csr, { auth: user });
      expect(replay.status, replay.text).toBe(403);
      expect(replay.text).toMatch(new RegExp(`certificate ${issued!.serialNumber}, which has since been revoked`));
      expect(replay.headers['content-type']).toMatch(/^text\/plain/);
      expect(await issuedFor(`${op}.replay.a.test`)).toBe(1);
      // This replay, and only it, is the newest refusal.
      const audited = await refusals();
      expect(audited).toHaveLength(before + 1);
      expect(audited[0]).toMatchObject({ actor: user.id, protocol: 'est', outcome: 'refused', detail: { presented: 'est-replay', reason: expect.stringContaining(`certificate ${issued!.serialNumber}, which has since been revoked`) } });
    }
  });
});
