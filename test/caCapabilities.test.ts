// What a CA's backend can do decides what certgate offers for it. A CA backed by an upstream ACME CA
// (here a fake one: helpers/fakeUpstreamCa.ts) shows its backend and capabilities, refuses holds in
// words, revokes at the upstream before recording anything, and is not claimed by certgate's CRL,
// OCSP, status pointers or system signer, while the local CAs of the same deployment work as ever.
import { execFile } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acmeBaseUrl } from '../protocols/acme/baseUrl.js';
import { CrlScheduler } from '../src/ca/crlScheduler.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import { systemProductId } from '../src/core/systemProducts.js';
import type { CaRecord } from '../src/core/types.js';
import { encodeName } from '../src/pki/name.js';
import { OID } from '../src/pki/oids.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import type { JobQueue } from '../src/queue/types.js';
import { accountKeyFromPem, ACME_ERROR, AcmeTestClient, directTransport, newAccountKey, pemToB64url } from './helpers/acmeClient.js';
import { certgate } from './helpers/certgateCli.js';
import { fakeUpstreamCa, type FakeUpstreamCa } from './helpers/fakeUpstreamCa.js';
import { startGateway, TEST_MASTER_KEY, type Gateway } from './helpers/gateway.js';
import { httpRequest } from './helpers/http.js';
import { makeCsr, openssl, tempDir, x509Text } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestDeployment, type RestEnv } from './helpers/restEnv.js';

const run = promisify(execFile);

/** openssl ocsp against the in-process responder (asynchronous: it answers from this process); its verdicts on stdout, errors on stderr. */
async function ocspQuery(args: string[]): Promise<string> {
  const r = await run('openssl', ['ocsp', ...args], { encoding: 'utf8' }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }));
  return `${r.stdout}${r.stderr}`;
}

interface Cert {
  id: string;
  certificate_pem: string;
  serial_number: string;
  revoked_at: string | null;
  revocation_reason: string | null;
}

const UPSTREAM_CAPABILITIES = { sign_locally: false, crl: false, ocsp: false, revoke: 'upstream', suspend: false };
const LOCAL_CAPABILITIES = { sign_locally: true, crl: true, ocsp: true, revoke: 'local', suspend: true };
const CANNOT_SUSPEND = /CA "upstream-acme-ca" is backed by an upstream ACME CA and cannot suspend \(hold\) certificates/;

for (const d of REST_DEPLOYMENTS) {
  describe.skipIf(d.skip)(`CA capabilities, ${d.name}`, () => {
    let env: RestEnv;
    let fake: FakeUpstreamCa;
    let upstream: CaRecord;
    let upstreamProductId: string;
    let dir: string;
    let n = 0;

    const api = (method: string, path: string, body?: unknown) => env.api(method, path, env.adminToken, body);
    const issue = async (product: { productId: string } | { caId: string }): Promise<Cert> => {
      const res = await api('POST', '/v1/certificates', { mode: 'csr', ...product, csrPem: makeCsr(dir, { subject: `/CN=host${++n}.upstream.test`, san: [`DNS:host${n}.upstream.test`] }).csrPem });
      expect(res.status, res.text).toBe(201);
      return res.json.certificate as Cert;
    };
    const certificate = async (id: string): Promise<Cert> => (await api('GET', `/v1/certificates/${id}`)).json as unknown as Cert;
    const auditOf = async (action: string, target: string) => (await env.server.rt.core.audit.list({ action, target }, { limit: 10, offset: 0 })).entries;
    const write = (name: string, content: string): string => {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    };

    beforeAll(async () => {
      fake = fakeUpstreamCa();
      env = await startRestEnv(d, {}, undefined, fake.loaders);
      dir = env.dir;
      const rt = env.server.rt;
      upstream = await fake.register(rt.store, 'upstream-acme-ca');
      upstreamProductId = (await createProduct(rt.store, { name: 'upstream-tls', caId: upstream.id, template: parseProductTemplate({}) }, CLI_CONTEXT)).id;
      await rt.catalogue.changed();
    });
    afterAll(async () => {
      await env?.close();
    });

    it('lists each CA with its backend and what the backend can do', async () => {
      const list = await api('GET', '/v1/cas');
      expect(list.status, list.text).toBe(200);
      const byId = new Map((list.json.cas as { id: string }[]).map((ca) => [ca.id, ca]));
      expect(byId.get(upstream.id)).toMatchObject({ name: 'upstream-acme-ca', backend: 'upstream-acme', capabilities: UPSTREAM_CAPABILITIES });
      expect(byId.get(env.issuingId)).toMatchObject({ backend: 'local', capabilities: LOCAL_CAPABILITIES });
      const one = await api('GET', `/v1/cas/${upstream.id}`);
      expect(one.status, one.text).toBe(200);
      expect(one.json.ca).toMatchObject({ backend: 'upstream-acme', capabilities: UPSTREAM_CAPABILITIES, certificate_pem: fake.certificatePem });
    });

    it("issues under the upstream's chain, without certgate's CRL and OCSP pointers; a local CA's certificates keep them", async () => {
      const cert = await issue({ productId: upstreamProductId });
      const leaf = write('upstream-leaf.pem', cert.certificate_pem);
      expect(openssl(['verify', '-CAfile', write('upstream-ca.pem', fake.certificatePem), leaf])).toMatch(/: OK/);
      const text = x509Text(cert.certificate_pem);
      expect(text).not.toMatch(/CRL Distribution Points|Authority Information Access/);
      expect(text).not.toContain('/crl/');
      const local = x509Text((await issue({ caId: env.issuingId })).certificate_pem);
      expect(local).toContain(`/crl/${env.issuingId}.crl`);
      expect(local).toMatch(/OCSP - URI:.*\/ocsp/);
    });

    it('refuses to suspend or reinstate a certificate of the upstream CA, in words, and leaves it as it was', async () => {
      const cert = await issue({ productId: upstreamProductId });
      for (const [path, body] of [
        [`/v1/certificates/${cert.id}/suspend`, {}],
        [`/v1/certificates/${cert.id}/revoke`, { reason: 'certificateHold' }],
        [`/v1/certificates/${cert.id}/reinstate`, undefined],
      ] as const) {
        const refused = await api('POST', path, body);
        expect(refused.status, `${path}: ${refused.text}`).toBe(409);
        expect(refused.json.error).toMatch(CANNOT_SUSPEND);
      }
      expect(await certificate(cert.id)).toMatchObject({ revoked_at: null, revocation_reason: null });
      expect(fake.calls.filter((c) => c.serialHex === cert.serial_number)).toEqual([]);
      expect(await auditOf('certificate.revoke', cert.id)).toEqual([]);
      expect(await auditOf('certificate.reinstate', cert.id)).toEqual([]);
    });

    it('revokes at the upstream first: a refusal or an unreachable upstream leaves the certificate unrevoked; once accepted it is recorded and audited', async () => {
      const cert = await issue({ productId: upstreamProductId });
      const callsFor = () => fake.calls.filter((c) => c.serialHex === cert.serial_number);

      fake.answer = 'refuse';
      const refused = await api('POST', `/v1/certificates/${cert.id}/revoke`, { reason: 'keyCompromise' });
      expect(refused.status, refused.text).toBe(409);
      expect(refused.json.error).toMatch(/upstream CA of "upstream-acme-ca" refused to revoke the certificate \(unauthorized\): this account may not revoke that certificate/);
      expect((await certificate(cert.id)).revoked_at).toBeNull();

      fake.answer = 'unreachable';
      const down = await api('POST', `/v1/certificates/${cert.id}/revoke`, { reason: 'keyCompromise' });
      expect(down.status, down.text).toBe(503);
      expect(down.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
      expect((await certificate(cert.id)).revoked_at).toBeNull();
      expect(await auditOf('certificate.revoke', cert.id)).toEqual([]);

      fake.answer = 'accept';
      const revoked = await api('POST', `/v1/certificates/${cert.id}/revoke`, { reason: 'keyCompromise' });
      expect(revoked.status, revoked.text).toBe(200);
      expect(revoked.json.certificate).toMatchObject({ id: cert.id, revocation_reason: 'keyCompromise' });
      expect(callsFor()).toHaveLength(3);
      expect(callsFor()[2]).toMatchObject({ serialHex: cert.serial_number, reason: 'keyCompromise', certificatePem: cert.certificate_pem });
      expect(fake.revoked.has(cert.serial_number)).toBe(true);
      expect(await auditOf('certificate.revoke', cert.id)).toEqual([expect.objectContaining({ outcome: 'success', detail: expect.objectContaining({ ca: upstream.id, reason: 'keyCompromise', upstream: 'revoked' }) })]);

      // Revoked here already: the upstream is not asked again.
      expect((await api('POST', `/v1/certificates/${cert.id}/revoke`, {})).status).toBe(409);
      expect(callsFor()).toHaveLength(3);
    });

    it('records a revocation the upstream already holds (a retry after a crash between the two steps)', async () => {
      const cert = await issue({ productId: upstreamProductId });
      fake.answer = 'accept';
      fake.revoked.add(cert.serial_number);
      const revoked = await api('POST', `/v1/certificates/${cert.id}/revoke`, { reason: 'superseded' });
      expect(revoked.status, revoked.text).toBe(200);
      expect(await certificate(cert.id)).toMatchObject({ revocation_reason: 'superseded' });
      expect(await auditOf('certificate.revoke', cert.id)).toEqual([expect.objectContaining({ outcome: 'success', detail: expect.objectContaining({ upstream: 'alreadyRevoked' }) })]);
    });

    it("publishes no CRL and answers no OCSP for the upstream CA, and issues it no OCSP signer; the local CA's still work", async () => {
      const cert = await issue({ productId: upstreamProductId });
      const crl = await fetch(`${env.base}/crl/${upstream.id}.crl`);
      expect(crl.status).toBe(404);
      expect(await crl.text()).toMatch(/certgate publishes no CRL for CA "upstream-acme-ca": it is backed by an upstream ACME CA/);
      expect((await fetch(`${env.base}/crl/${env.issuingId}.crl`)).status).toBe(200);

      const upstreamAnswer = await ocspQuery(['-issuer', write('upstream-ca.pem', fake.certificatePem), '-cert', write('ocsp-upstream.pem', cert.certificate_pem), '-url', `${env.base}/ocsp`, '-noverify']);
      expect(upstreamAnswer).toMatch(/Responder Error: unauthorized/);
      const local = await issue({ caId: env.issuingId });
      const localAnswer = await ocspQuery(['-issuer', write('issuing.pem', env.issuingPem), '-cert', write('ocsp-local.pem', local.certificate_pem), '-url', `${env.base}/ocsp`, '-noverify']);
      expect(localAnswer).toMatch(/ocsp-local\.pem: good/);

      const rt = env.server.rt;
      expect(await rt.store.ocspSigners.latest(upstream.id)).toBeUndefined();
      expect(await rt.store.crls.latestHeader(upstream.id)).toBeUndefined();
      await expect(rt.crls.publish(upstream.id)).rejects.toThrow(/cannot have its CRL published by certgate/);
      // The CRL job a revocation on that CA queues is a no-op, not a failure retried until exhausted.
      const scheduler = new CrlScheduler({} as JobQueue, 1000, rt.log);
      await scheduler.handler(rt.crls).process(upstream.id, 1);
      expect(await rt.store.crls.latestHeader(upstream.id)).toBeUndefined();
    });

    it('stays ready with the upstream CA, and reports CRL metrics only for the CAs certgate publishes for', async () => {
      const ready = await fetch(`${env.base}/readyz`);
      expect(ready.status, await ready.text()).toBe(200);
      // A local CA's CRL exists once it was asked for; the upstream CA never has one.
      expect((await fetch(`${env.base}/crl/${env.issuingId}.crl`)).status).toBe(200);
      const metrics = await fetch(`${env.base}/metrics`);
      const text = await metrics.text();
      expect(metrics.status, text).toBe(200);
      expect(text).toMatch(/certgate_crl_age_seconds\{ca="certgate-issuing"\}/);
      expect(text).not.toMatch(/certgate_crl_\w+\{ca="upstream-acme-ca"\}/);
    });

    it('refuses, in words, system certificates (SCEP RA, OCSP signer, TLS) from the upstream CA, and makes it no system product', async () => {
      const rt = env.server.rt;
      const request = {
        caId: upstream.id,
        purpose: 'ocsp-signer' as const,
        commonName: 'upstream OCSP',
        subjectDer: encodeName([{ type: OID.commonName, value: 'upstream OCSP' }]),
        publicKey: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey,
        notBefore: new Date(),
        notAfter: new Date(Date.now() + 86_400_000),
      };
      await expect(rt.signer.issue(request)).rejects.toThrow(/CA "upstream-acme-ca" is backed by an upstream ACME CA and cannot sign with a key certgate drives/);
      await expect(rt.protocolCore('scep').signer.issue({ ...request, purpose: 'scep-ra' })).rejects.toThrow(/cannot sign with a key certgate drives/);
      expect(await rt.store.products.get(systemProductId(upstream.id))).toBeUndefined();
    });

    it('refuses products on the upstream CA that ask for what it would leave out, and takes a plain TLS product', async () => {
      const rt = env.server.rt;
      const attempt = (name: string, template: unknown) => createProduct(rt.store, { name, caId: upstream.id, template: parseProductTemplate(template) }, CLI_CONTEXT);
      await expect(attempt('with-o', { subject: { attributes: { O: { fixed: 'Example Inc' } } } })).rejects.toThrow(
        /CA "upstream-acme-ca" is backed by an upstream ACME CA, which cannot honour this product: subject.attributes \(O\)/,
      );
      await expect(attempt('validated-o', { subject: { organization: 'validated' } })).rejects.toThrow(/subject.organization "validated"/);
      await expect(attempt('code-signing', { extendedKeyUsages: ['codeSigning'], maxValidityDays: 365 })).rejects.toThrow(/extendedKeyUsages \(codeSigning\)/);
      await expect(attempt('client-only', { extendedKeyUsages: ['clientAuth'] })).rejects.toThrow(/extendedKeyUsages without serverAuth/);
      for (const name of ['with-o', 'validated-o', 'code-signing', 'client-only']) expect(await rt.store.products.getByName(name)).toBeUndefined();
      const plain = await attempt('upstream-server-only', { extendedKeyUsages: ['serverAuth'], requiresApproval: true, dcv: { mode: 'required' } });
      expect(plain.caId).toBe(upstream.id);
      // The same template on a local CA is the operator's choice.
      await expect(createProduct(rt.store, { name: 'local-with-o', caId: env.issuingId, template: parseProductTemplate({ subject: { attributes: { O: { fixed: 'Example Inc' } } } }) }, CLI_CONTEXT)).resolves.toMatchObject({ caId: env.issuingId });
    });
  });
}

describe('the CLI and a CA backed by an upstream ACME CA', () => {
  const env = { CERTGATE_MASTER_KEY: TEST_MASTER_KEY };
  let dir: string;
  let upstream: CaRecord;
  let certificateId: string;

  beforeAll(async () => {
    // A certificate of the upstream CA issued by an embedded gateway, which then stops: the CLI
    // works on its data directory as an operator's would.
    const fake = fakeUpstreamCa();
    const gateway = await startRestEnv(REST_DEPLOYMENTS[0] as RestDeployment, {}, undefined, fake.loaders);
    try {
      dir = gateway.dir;
      const rt = gateway.server.rt;
      upstream = await fake.register(rt.store, 'upstream-acme-ca');
      const product = await createProduct(rt.store, { name: 'upstream-tls', caId: upstream.id, template: parseProductTemplate({}) }, CLI_CONTEXT);
      await rt.catalogue.changed();
      const res = await gateway.api('POST', '/v1/certificates', gateway.adminToken, { mode: 'csr', productId: product.id, csrPem: makeCsr(dir, { subject: '/CN=cli.upstream.test' }).csrPem });
      expect(res.status, res.text).toBe(201);
      const cert = res.json.certificate as Cert;
      expect(new X509Certificate(cert.certificate_pem).checkIssued(new X509Certificate(fake.certificatePem))).toBe(true);
      certificateId = cert.id;
    } finally {
      await gateway.close();
    }
  });

  it('shows the backend in ca list and the capabilities in ca show', () => {
    const list = certgate(dir, ['ca', 'list', '--json'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.json()).toEqual(expect.arrayContaining([expect.objectContaining({ id: upstream.id, backend: 'upstream-acme' }), expect.objectContaining({ type: 'issuing', backend: 'local' })]));
    const show = certgate(dir, ['ca', 'show', 'upstream-acme-ca', '--json'], env);
    expect(show.code, show.stderr).toBe(0);
    expect(show.json()).toMatchObject({ id: upstream.id, backend: 'upstream-acme', capabilities: UPSTREAM_CAPABILITIES });
    const human = certgate(dir, ['ca', 'show', upstream.id], env);
    expect(human.stdout).toMatch(/backend: +upstream-acme \(an upstream ACME CA\)/);
    expect(human.stdout).toMatch(/suspend: +no/);
  });

  it('prints the refusal of a hold, a reinstatement and a product the upstream cannot honour', () => {
    for (const args of [
      ['cert', 'revoke', certificateId, '--reason', 'certificateHold'],
      ['cert', 'reinstate', certificateId],
    ]) {
      const r = certgate(dir, args, env);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(CANNOT_SUSPEND);
    }
    const product = certgate(dir, ['product', 'create', '--name', 'with-o', '--ca', 'upstream-acme-ca', '--subject-fixed', 'O=Example Inc'], env);
    expect(product.code).not.toBe(0);
    expect(product.stderr).toMatch(/cannot honour this product: subject.attributes \(O\)/);
  });
});

describe('ACME revokeCert on a certificate of an upstream CA', () => {
  let gateway: Gateway;
  let fake: FakeUpstreamCa;
  let client: AcmeTestClient;
  let productId: string;
  const dir = tempDir('certgate-capabilities-acme-');

  beforeAll(async () => {
    fake = fakeUpstreamCa();
    gateway = await startGateway({ https: true, caLoaders: fake.loaders });
    const rt = gateway.rt;
    const upstream = await fake.register(rt.store, 'upstream-acme-ca');
    productId = (await createProduct(rt.store, { name: 'upstream-tls', caId: upstream.id, template: parseProductTemplate({}) }, CLI_CONTEXT)).id;
    await rt.catalogue.changed();
    client = new AcmeTestClient(`${acmeBaseUrl(gateway.config)}/acme/directory`, await newAccountKey('ES256'), directTransport({ ca: gateway.root.certificatePem }));
  });
  afterAll(async () => {
    await gateway?.close();
  });

  /** A certificate of the upstream CA (issued over REST), and its key as an ACME signing key. */
  const upstreamCertificate = async (name: string) => {
    const csr = makeCsr(dir, { subject: `/CN=${name}`, san: [`DNS:${name}`], name });
    const res = await httpRequest(`${gateway.baseUrl}/v1/certificates`, { method: 'POST', bearer: gateway.adminToken, json: { mode: 'csr', productId, csrPem: csr.csrPem } });
    expect(res.status, res.text).toBe(201);
    const cert = res.json.certificate as Cert;
    return { cert, key: await accountKeyFromPem(readFileSync(csr.keyPath)) };
  };

  it("keeps the upstream's refusal in words (not alreadyRevoked), then revokes at the upstream once signed by the certificate's key", async () => {
    const { revokeCert } = await client.directory();
    const { cert, key } = await upstreamCertificate('acme-revoke.upstream.test');
    const certificate = pemToB64url(cert.certificate_pem);

    fake.answer = 'refuse';
    const refused = await client.post(revokeCert, { certificate, reason: 1 }, { key, useJwk: true });
    expect(refused.status, refused.text).toBe(400);
    expect(refused.problem.type).toBe(ACME_ERROR('malformed'));
    expect(refused.problem.detail).toMatch(/upstream CA of "upstream-acme-ca" refused to revoke the certificate \(unauthorized\)/);
    expect((await gateway.rt.core.queries.certificateById(cert.id))?.revokedAt).toBeNull();

    fake.answer = 'accept';
    const revoked = await client.post(revokeCert, { certificate, reason: 1 }, { key, useJwk: true });
    expect(revoked.status, revoked.text).toBe(200);
    expect(fake.calls.filter((c) => c.serialHex === cert.serial_number).map((c) => c.reason)).toEqual(['keyCompromise', 'keyCompromise']);
    expect(await gateway.rt.core.queries.certificateById(cert.id)).toMatchObject({ revocationReason: 'keyCompromise' });
    const again = await client.post(revokeCert, { certificate }, { key, useJwk: true });
    expect(again.problem.type, again.text).toBe(ACME_ERROR('alreadyRevoked'));
    expect(fake.calls.filter((c) => c.serialHex === cert.serial_number)).toHaveLength(2);
  });
});
