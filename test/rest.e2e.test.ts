// The REST API as a Certman integrator scripts it, end to end on both deployments (embedded, and
// PostgreSQL + BullMQ with a separate worker): Certman's shapes field by field, managed and csr
// issuance checked with openssl, idempotency, the inventory list's filters and pages, renewal and
// rate limits.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa } from '../src/ca/createCa.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { makeCsr, openssl, opensslVerify, x509Text } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type ApiAnswer, type RestEnv } from './helpers/restEnv.js';
import { until } from './helpers/until.js';

const CERTMAN = { 'ec-p256': 'ECDSA-P256', 'ec-p384': 'ECDSA-P384', 'rsa-2048': 'RSA-2048' } as const;
type Json = Record<string, unknown>;
const certOf = (res: ApiAnswer) => res.json.certificate as Json & { id: string; certificate_pem: string; chain_pem: string };

for (const d of REST_DEPLOYMENTS) {
  describe.skipIf(d.skip)(`REST API, ${d.name}`, () => {
    let env: RestEnv;

    beforeAll(async () => {
      env = await startRestEnv(d);
    });

    afterAll(async () => {
      await env?.close();
    });

    it('reports health and readiness', async () => {
      expect((await env.api('GET', '/healthz', null)).status).toBe(200);
      const ready = await env.api('GET', '/readyz', null);
      expect(ready.status).toBe(200);
      expect(ready.json.status).toBe('ready');
    });

    it('answers whoami, CAs and the chain in Certman\'s shapes', async () => {
      const reader = await env.restKey('reader', [{ ca: env.issuingId, actions: ['read', 'issue'] }]);
      const who = await env.api('GET', '/v1/whoami', reader.token);
      expect(who.json).toMatchObject({
        user: { id: reader.credential.id, email: null },
        workspace: { id: 'certgate', name: 'certgate', slug: 'certgate' },
        apiKey: { id: reader.credential.id, name: 'reader', prefix: `cg_${reader.credential.id}` },
        permissions: { [env.issuingId]: { canRead: true, canIssue: true, canRevoke: false, canApprove: false } },
      });
      expect(Object.keys(who.json.permissions as Json)).toEqual([env.issuingId]);

      const cas = (await env.api('GET', '/v1/cas', env.adminToken)).json.cas as Json[];
      const root = cas.find((c) => c.id === env.rootId) as Json;
      const issuing = cas.find((c) => c.id === env.issuingId) as Json;
      for (const ca of [root, issuing]) {
        expect(Object.keys(ca)).toEqual(expect.arrayContaining(['id', 'name', 'common_name', 'organization', 'key_algorithm', 'valid_from', 'valid_to', 'created_at', 'parent_ca_id', 'depth', 'path_length']));
        expect(ca.key_algorithm).toMatch(/^(ECDSA-P(256|384)|RSA-\d+)$/);
      }
      expect(root).toMatchObject({ parent_ca_id: null, depth: 0, type: 'root' });
      expect(issuing).toMatchObject({ parent_ca_id: env.rootId, depth: 1, type: 'intermediate' });
      const x509 = new X509Certificate(env.issuingPem);
      expect(issuing.common_name).toBe(/CN=([^\n]+)/.exec(x509.subject)?.[1]);
      expect(issuing.valid_to).toBe(new Date(x509.validTo).toISOString());

      expect(((await env.api('GET', '/v1/cas?type=root', env.adminToken)).json.cas as Json[]).map((c) => c.id)).toEqual([env.rootId]);
      expect(((await env.api('GET', `/v1/cas?parentCaId=${env.rootId}&type=intermediate`, env.adminToken)).json.cas as Json[]).map((c) => c.id)).toEqual([env.issuingId]);
      expect(((await env.api('GET', '/v1/cas', reader.token)).json.cas as Json[]).map((c) => c.id)).toEqual([env.issuingId]);

      const detail = (await env.api('GET', `/v1/cas/${env.issuingId}`, env.adminToken)).json.ca as Json;
      expect(detail).toMatchObject({ id: env.issuingId, certificate_pem: env.issuingPem, serial_number: x509.serialNumber.toLowerCase(), has_passphrase: false, revoked_at: null, revocation_reason: null });
      expect(detail).toHaveProperty('country');
      expect(detail).toHaveProperty('locality');

      const chain = await env.api('GET', `/v1/cas/${env.issuingId}/chain`, env.adminToken);
      expect(chain.json).toEqual({ caId: env.issuingId, chainLength: 2, chain: [env.issuingPem, env.rootPem] });
      const bundle = await env.api('GET', `/v1/cas/${env.issuingId}/chain`, env.adminToken, undefined, { accept: 'application/pem-certificate-chain' });
      expect(bundle.headers.get('content-type')).toMatch(/application\/pem-certificate-chain/);
      expect(bundle.text).toBe(env.issuingPem + env.rootPem);
    });

    it('issues in managed mode: a key pair made here, returned once, with the names asked for', async () => {
      for (const [alg, certman, keyType] of [['ECDSA-P256', 'ECDSA-P256', 'ec'], ['ec-p384', 'ECDSA-P384', 'ec'], ['RSA-2048', 'RSA-2048', 'rsa']] as const) {
        const res = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, commonName: 'managed.host1.test', sanDns: ['www.managed.host1.test'], sanIp: ['192.0.2.9'], keyAlgorithm: alg, validityDays: 30 });
        expect(res.status, res.text).toBe(201);
        const cert = certOf(res);
        expect(Object.keys(cert)).toEqual(expect.arrayContaining(['id', 'common_name', 'certificate_pem', 'san_dns', 'san_ip', 'valid_from', 'valid_to', 'serial_number', 'created_at']));
        expect(cert).toMatchObject({ common_name: 'managed.host1.test', san_dns: ['managed.host1.test', 'www.managed.host1.test'], san_ip: ['192.0.2.9'], key_algorithm: certman });
        expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, cert.certificate_pem)).toMatch(/: OK/);
        const x509 = new X509Certificate(cert.certificate_pem);
        expect(x509.subjectAltName).toBe('DNS:managed.host1.test, DNS:www.managed.host1.test, IP Address:192.0.2.9');
        // The private key is PKCS#8, of the algorithm asked for, and belongs to the certificate.
        const keyPem = res.json.privateKey as string;
        expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
        const key = createPrivateKey(keyPem);
        expect(key.asymmetricKeyType).toBe(keyType);
        expect(x509.checkPrivateKey(key)).toBe(true);
        const keyFile = join(env.dir, `managed-${certman}.key`);
        writeFileSync(keyFile, keyPem);
        expect(openssl(['pkey', '-in', keyFile, '-pubout'])).toBe(createPublicKey(key).export({ type: 'spki', format: 'pem' }));
        // Returned once: never in a later read, and not kept (the product does not escrow keys).
        const again = await env.api('GET', `/v1/certificates/${cert.id}`, env.adminToken);
        expect(again.text).not.toContain('PRIVATE KEY');
        const request = await env.server.rt.store.requests.get(cert.request_id as string);
        expect(request?.details).toMatchObject({ keySource: 'managed', escrowedKey: null });
      }
    });

    it('keeps a managed key encrypted when the product escrows keys', async () => {
      const product = await createProduct(env.server.rt.store, { name: `escrow-${Math.random()}`, caId: env.issuingId, template: parseProductTemplate({ escrowKeys: true }) }, CLI_CONTEXT);
      const res = await env.api('POST', '/v1/certificates', env.adminToken, { productId: product.id, commonName: 'escrow.host1.test' });
      expect(res.status, res.text).toBe(201);
      const request = await env.server.rt.store.requests.get(certOf(res).request_id as string);
      const escrowed = request?.details.escrowedKey as string;
      expect(escrowed).toBeTypeOf('string');
      expect(escrowed).not.toContain((res.json.privateKey as string).split('\n')[1]);
      expect(escrowed).not.toContain('PRIVATE KEY');
    });

    it('refuses managed requests the product does not allow before making a key', async () => {
      const ecOnly = await createProduct(env.server.rt.store, { name: `ec-only-${Math.random()}`, caId: env.issuingId, template: parseProductTemplate({ keyAlgorithms: ['ec-p256'] }) }, CLI_CONTEXT);
      const rsa = await env.api('POST', '/v1/certificates', env.adminToken, { productId: ecOnly.id, commonName: 'x.host1.test', keyAlgorithm: 'RSA-4096' });
      expect(rsa.status).toBe(422);
      expect(rsa.json).toMatchObject({ code: 'badKey', rule: 'keyAlgorithms' });
      const unknown = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, commonName: 'x.host1.test', keyAlgorithm: 'DSA-1024' });
      expect(unknown.status).toBe(400);
      expect(unknown.json.error).toMatch(/keyAlgorithm/);
      const noName = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId });
      expect(noName.status).toBe(400);
      expect(noName.json.error).toMatch(/commonName/);
      const outside = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, commonName: 'bad name!' });
      expect(outside.status).toBe(422);
    });

    it('turns a CSR into a certificate that openssl verifies, with the names and validity asked for', async () => {
      for (const key of ['ec-p256', 'ec-p384', 'rsa-2048'] as const) {
        const { csrPem } = makeCsr(env.dir, { key, subject: '/CN=host1.test', san: ['DNS:host1.test', 'DNS:www.host1.test', 'IP:192.0.2.7'] });
        const res = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, csrPem, validityDays: 30 });
        expect(res.status, JSON.stringify(res.json)).toBe(201);
        const issued = res.json.certificate as Record<string, unknown>;
        const pem = issued.certificate_pem as string;
        expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, pem)).toMatch(/: OK/);
        const cert = new X509Certificate(pem);
        expect(cert.subjectAltName).toBe('DNS:host1.test, DNS:www.host1.test, IP Address:192.0.2.7');
        expect(cert.subject).toBe('CN=host1.test');
        const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
        expect(Math.round(days)).toBe(30);
        expect(issued.key_algorithm).toBe(CERTMAN[key]);
        expect(issued.common_name).toBe('host1.test');
        expect(issued.san_dns).toEqual(['host1.test', 'www.host1.test']);
        expect(issued.san_ip).toEqual(['192.0.2.7']);
        expect(issued.serial_number).toBe(cert.serialNumber.toLowerCase());
        expect(issued.ca_id).toBe(env.issuingId);
        expect(issued.revoked_at).toBeNull();
        const text = x509Text(pem);
        expect(text).toContain('TLS Web Server Authentication');
        expect(text).toMatch(/X509v3 Authority Key Identifier/);
        // Leaf plus chain: issuing then root.
        expect((issued.chain_pem as string).match(/BEGIN CERTIFICATE/g)).toHaveLength(2);

        const fetched = await env.api('GET', `/v1/certificates/${issued.id as string}`, env.adminToken);
        expect(fetched.status).toBe(200);
        expect(fetched.json.certificate_pem).toBe(pem);
      }
    });

    it('uses the product default validity and puts a DNS-like CN into the SAN', async () => {
      const { csrPem } = makeCsr(env.dir, { subject: '/CN=only-cn.host1.test' });
      const res = await env.api('POST', '/v1/certificates', env.adminToken, { productId: env.productId, csrPem });
      expect(res.status).toBe(201);
      const cert = new X509Certificate((res.json.certificate as { certificate_pem: string }).certificate_pem);
      expect(cert.subjectAltName).toBe('DNS:only-cn.host1.test');
      expect(Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000)).toBe(90);
    });

    it('answers bad CSRs with 400s that say what is wrong', async () => {
      const garbage = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, csrPem: 'not a csr' });
      expect(garbage.status).toBe(400);
      expect(garbage.json.error).toMatch(/malformed CSR/);

      const { csrPem } = makeCsr(env.dir);
      const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
      der.writeUInt8((der.at(-5) as number) ^ 0x01, der.length - 5); // flip a bit in the signature
      const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
      const bad = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, csrPem: tampered });
      expect(bad.status).toBe(400);
      expect(bad.json.error).toMatch(/signature does not verify/);

      // ecdsa-with-SHA256 (1.2.840.10045.4.3.2) made 1.2.840.10045.4.3.9, which nobody knows.
      const ecdsaSha256 = Buffer.from('06082a8648ce3d040302', 'hex');
      const unknownAlg = Buffer.from(der);
      const at = unknownAlg.lastIndexOf(ecdsaSha256);
      expect(at).toBeGreaterThan(0);
      unknownAlg[at + ecdsaSha256.length - 1] = 0x09;
      const strange = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, csrPem: `-----BEGIN CERTIFICATE REQUEST-----\n${unknownAlg.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n` });
      expect(strange.status, JSON.stringify(strange.json)).toBe(400);
      expect(strange.json.code).toBe('badCsr');

      const truncated = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, csrPem: csrPem.slice(0, 200) + '\n-----END CERTIFICATE REQUEST-----\n' });
      expect(truncated.status).toBe(400);

      const notJson = await env.api('POST', '/v1/certificates', env.adminToken, '{"caId":', {});
      expect(notJson.status).toBe(400);
      const noCsr = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, mode: 'csr' });
      expect(noCsr.status).toBe(400);
      expect(noCsr.json.error).toMatch(/csrPem/);
      const badValidity = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, csrPem, validityDays: -3 });
      expect(badValidity.status).toBe(400);
    });

    it('rejects a CSR that breaks the product with a reason naming the rule', async () => {
      const { csrPem } = makeCsr(env.dir, { san: ['DNS:host1.test'] });
      const tooLong = await env.api('POST', '/v1/certificates', env.adminToken, { productId: env.productId, csrPem, validityDays: 400 });
      expect(tooLong.status).toBe(422);
      expect(tooLong.json.error).toMatch(/maxValidityDays/);

      const weak = makeCsr(env.dir, { key: 'rsa-1024' });
      const res = await env.api('POST', '/v1/certificates', env.adminToken, { productId: env.productId, csrPem: weak.csrPem });
      expect(res.status).toBe(422);
      expect(res.json).toMatchObject({ code: 'badKey', rule: 'rsaModulusSize' });
      expect(res.json.error).toMatch(/1024 bits.*rsaModulusSize/);
    });


    it('checks permissions: 401 without a key, 403 without issue rights', async () => {
      const { csrPem } = makeCsr(env.dir);
      expect((await env.api('POST', '/v1/certificates', null, { caId: env.issuingId, csrPem })).status).toBe(401);
      expect((await env.api('GET', '/v1/cas', 'cg_0000000000000000_' + 'a'.repeat(43))).status).toBe(401);

      const readOnly = await env.restKey('read-only', [{ ca: env.issuingId, actions: ['read'] }]);
      const denied = await env.api('POST', '/v1/certificates', readOnly.token, { caId: env.issuingId, csrPem });
      expect(denied.status).toBe(403);
      expect(denied.json.error).toMatch(/may not issue/);
      const deniedManaged = await env.api('POST', '/v1/certificates', readOnly.token, { caId: env.issuingId, commonName: 'x.host1.test' });
      expect(deniedManaged.status).toBe(403);
      expect((await env.api('GET', `/v1/cas/${env.issuingId}`, readOnly.token)).status).toBe(200);
      expect((await env.api('GET', `/v1/cas/${env.rootId}`, readOnly.token)).status).toBe(403);

      const issuer = await env.restKey('issuer', [{ ca: env.issuingId, actions: ['issue'] }]);
      expect((await env.api('POST', '/v1/certificates', issuer.token, { caId: env.issuingId, csrPem })).status).toBe(201);
      await env.server.rt.credentials.revoke(issuer.credential.id, CLI_CONTEXT);
      expect((await env.api('POST', '/v1/certificates', issuer.token, { caId: env.issuingId, csrPem })).status).toBe(401);

      expect((await env.api('GET', '/v1/nope', env.adminToken)).status).toBe(404);
      expect((await env.api('GET', '/v1/cas/does-not-exist', env.adminToken)).status).toBe(404);
    });

    it('never answers arbitrary issuance bodies with a 5xx', async () => {
      const { csrPem } = makeCsr(env.dir);
      const csrDer = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
      const mutatedCsr = fc.tuple(fc.nat(csrDer.length - 1), fc.integer({ min: 0, max: 255 })).map(([pos, v]) => {
        const b = Buffer.from(csrDer);
        b[pos] = v;
        return `-----BEGIN CERTIFICATE REQUEST-----\n${b.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
      });
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.jsonValue().map((v) => JSON.stringify(v)),
            fc.string(),
            fc
              .record({
                caId: fc.oneof(fc.constant(env.issuingId), fc.string()),
                mode: fc.constantFrom('csr', 'managed', 'other'),
                csrPem: fc.oneof(mutatedCsr, fc.string()),
                commonName: fc.string(),
                keyAlgorithm: fc.oneof(fc.constantFrom('ECDSA-P256', 'rsa-2048', 'RSA-1'), fc.string()),
                validityDays: fc.oneof(fc.integer(), fc.double(), fc.string()),
              }, { requiredKeys: ['caId'] })
              .map((v) => JSON.stringify(v)),
          ),
          async (body) => {
            const res = await env.api('POST', '/v1/certificates', env.adminToken, body);
            expect(res.status, `${res.status} ${res.text} for ${body.slice(0, 200)}`).toBeLessThan(500);
            expect(res.json.error === undefined || typeof res.json.error === 'string').toBe(true);
          },
        ),
        { numRuns: 120 },
      );
    });

    it('lists the inventory with Certman\'s filters and pages, only what the key may read', async () => {
      const rt = env.server.rt;
      const other = await createCa(rt.store, { name: `other-${Math.random()}`, subject: 'CN=Other Issuing CA', keyAlgorithm: 'ec-p256', validityDays: 30, parentId: env.rootId }, rt.secrets, CLI_CONTEXT);
      await createProduct(rt.store, { name: `other-${Math.random()}`, caId: other.id, template: parseProductTemplate({}) }, CLI_CONTEXT);
      const tag = `lst${Math.floor(Math.random() * 1e9)}`;
      const issue = async (caId: string, cn: string, validityDays: number) => {
        const made = await env.api('POST', '/v1/certificates', env.adminToken, { caId, csrPem: makeCsr(env.dir, { subject: `/CN=${cn}` }).csrPem, validityDays });
        expect(made.status, made.text).toBe(201);
        return certOf(made).id;
      };
      // Newest first: the reader's CA's certificates sit between others' ones.
      const mine: string[] = [];
      for (const [i, ca] of [env.issuingId, other.id, env.issuingId, other.id, env.issuingId].entries()) {
        const id = await issue(ca, `${tag}-${i}.Host1.test`, i === 4 ? 5 : 60);
        if (ca === env.issuingId) mine.unshift(id);
      }
      const revoked = mine[2] as string;
      expect((await env.api('POST', `/v1/certificates/${revoked}/revoke`, env.adminToken, { reason: 'superseded' })).status).toBe(200);

      const reader = await env.restKey('lister', [{ ca: env.issuingId, actions: ['read'] }]);
      const list = async (query: string, token = reader.token) => {
        const res = await env.api('GET', `/v1/certificates?${query.includes('search=') ? '' : `search=${tag}&`}${query}`, token);
        expect(res.status, res.text).toBe(200);
        return res.json as { certificates: Json[]; total: number; page: number; pageSize: number; totalPages: number };
      };
      const all = await list('');
      expect(all.certificates.map((c) => c.id)).toEqual(mine);
      expect(all).toMatchObject({ total: 3, page: 1, pageSize: 20, totalPages: 1 });
      expect(Object.keys(all.certificates[0] as Json)).toEqual(expect.arrayContaining(['id', 'ca_id', 'common_name', 'san_dns', 'san_ip', 'key_algorithm', 'valid_from', 'valid_to', 'serial_number', 'revoked_at', 'revocation_reason', 'created_at']));
      expect(all.certificates[0]).not.toHaveProperty('certificate_pem');

      // Pages: edges included.
      const p1 = await list('pageSize=2&page=1');
      expect(p1).toMatchObject({ total: 3, page: 1, pageSize: 2, totalPages: 2 });
      expect(p1.certificates.map((c) => c.id)).toEqual(mine.slice(0, 2));
      expect((await list('pageSize=2&page=2')).certificates.map((c) => c.id)).toEqual(mine.slice(2));
      expect((await list('pageSize=2&page=3')).certificates).toEqual([]);
      expect((await list('pageSize=100')).pageSize).toBe(100);
      for (const bad of ['pageSize=101', 'pageSize=0', 'page=0', 'page=-1', 'page=x', 'status=gone', 'limit=5', 'expiringInDays=-1', 'createdFrom=yesterday']) {
        const res = await env.api('GET', `/v1/certificates?${bad}`, reader.token);
        expect(res.status, bad).toBe(400);
        expect(res.json.error).toBeTypeOf('string');
      }

      // Filters.
      expect((await list('status=revoked')).certificates.map((c) => c.id)).toEqual([revoked]);
      expect((await list('status=active')).certificates.map((c) => c.id)).toEqual(mine.filter((id) => id !== revoked));
      expect((await list('status=all')).total).toBe(3);
      expect((await list('expiringInDays=10')).certificates.map((c) => c.id)).toEqual([mine[0]]);
      expect((await list(`search=${tag}-4.HOST1`)).certificates.map((c) => c.id)).toEqual([mine[0]]);
      expect((await list(`search=${tag}%25`)).total).toBe(0); // a literal %, not a wildcard
      const newest = (all.certificates[0] as Json).created_at as string;
      expect((await list(`createdFrom=${encodeURIComponent(newest)}`)).certificates.map((c) => c.id)).toEqual([mine[0]]);
      expect((await list(`createdTo=${encodeURIComponent(newest)}`)).total).toBe(3);
      expect((await list(`createdTo=${encodeURIComponent(new Date(Date.parse(newest) - 1).toISOString())}`)).total).toBe(2);
      expect((await list(`caId=${env.issuingId}`)).total).toBe(3);
      expect((await env.api('GET', `/v1/certificates?caId=${other.id}`, reader.token)).status).toBe(403);
      expect((await list(`caId=${other.id}`, env.adminToken)).total).toBe(2);
      expect((await list('', env.adminToken)).total).toBe(5);
    });

    it('renews: same names and product; managed ones get a new key, csr-based ones need a CSR', async () => {
      const managed = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, commonName: 'renew.host1.test', sanDns: ['www.renew.host1.test'], keyAlgorithm: 'ECDSA-P384', owner: 'ops@example.com', notes: 'edge' });
      expect(managed.status, managed.text).toBe(201);
      const original = certOf(managed);
      const renewed = await env.api('POST', `/v1/certificates/${original.id}/renew`, env.adminToken, { validityDays: 10 });
      expect(renewed.status, renewed.text).toBe(201);
      expect(renewed.json.message).toBe('certificate renewed');
      const next = certOf(renewed);
      expect(next).toMatchObject({ common_name: 'renew.host1.test', san_dns: original.san_dns, key_algorithm: 'ECDSA-P384', supersedes: original.id, owner: 'ops@example.com', notes: 'edge' });
      expect(next.id).not.toBe(original.id);
      expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, next.certificate_pem)).toMatch(/: OK/);
      const newKey = createPrivateKey(renewed.json.privateKey as string);
      expect(new X509Certificate(next.certificate_pem).checkPrivateKey(newKey)).toBe(true);
      expect(new X509Certificate(original.certificate_pem).checkPrivateKey(newKey)).toBe(false);
      expect(Math.round((Date.parse(next.valid_to as string) - Date.parse(next.valid_from as string)) / 86_400_000)).toBe(10);

      const fromCsr = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, csrPem: makeCsr(env.dir, { san: ['DNS:csr-renew.host1.test'] }).csrPem });
      const csrCert = certOf(fromCsr);
      const noCsr = await env.api('POST', `/v1/certificates/${csrCert.id}/renew`, env.adminToken, {});
      expect(noCsr.status).toBe(422);
      expect(noCsr.json.error).toMatch(/csrPem/);
      const widened = await env.api('POST', `/v1/certificates/${csrCert.id}/renew`, env.adminToken, { csrPem: makeCsr(env.dir, { san: ['DNS:csr-renew.host1.test', 'DNS:extra.host1.test'] }).csrPem });
      expect(widened.status, widened.text).toBe(422);
      const ok = await env.api('POST', `/v1/certificates/${csrCert.id}/renew`, env.adminToken, { csrPem: makeCsr(env.dir, { san: ['DNS:csr-renew.host1.test'] }).csrPem });
      expect(ok.status, ok.text).toBe(201);
      expect(ok.json).not.toHaveProperty('privateKey');
      expect(certOf(ok).san_dns).toEqual(csrCert.san_dns);

      const reader = await env.restKey('renew-reader', [{ ca: env.issuingId, actions: ['read'] }]);
      expect((await env.api('POST', `/v1/certificates/${original.id}/renew`, reader.token, {})).status).toBe(403);
      expect((await env.api('POST', '/v1/certificates/nope/renew', env.adminToken, {})).status).toBe(404);
    });

    it('keeps an Idempotency-Key for 24 hours: same body, same answer; another body 422', async () => {
      const { csrPem } = makeCsr(env.dir);
      const key = `k-${Math.random()}`;
      const a = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, csrPem }, { 'idempotency-key': key });
      const b = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, csrPem }, { 'idempotency-key': key });
      expect(a.status).toBe(201);
      expect(b.status).toBe(201);
      expect(b.json).toEqual(a.json);
      const other = makeCsr(env.dir);
      const c = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, csrPem: other.csrPem }, { 'idempotency-key': key });
      expect(c.status).toBe(422);
      expect(c.json.error).toMatch(/idempotency key was already used for a different request/);
      // Managed mode ignores the key, as Certman does: two keys, two certificates.
      const m1 = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, commonName: 'idem.host1.test' }, { 'idempotency-key': `m-${key}` });
      const m2 = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, commonName: 'idem.host1.test' }, { 'idempotency-key': `m-${key}` });
      expect(certOf(m1).id).not.toBe(certOf(m2).id);
      expect((await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, csrPem }, { 'idempotency-key': 'x'.repeat(256) })).status).toBe(422);

      // A day later the key is free again: the old request is made 25 hours old.
      await sql`update enrollment_requests set created_at = created_at - ${25 * 3_600_000} where id = ${certOf(a).request_id as string}`.execute(env.server.rt.store.db);
      const later = await env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, csrPem: other.csrPem }, { 'idempotency-key': key });
      expect(later.status, later.text).toBe(201);
      expect(certOf(later).id).not.toBe(certOf(a).id);
    });

    it('races one Idempotency-Key: one certificate, and the loser hears 409 or the same answer', async () => {
      const { csrPem } = makeCsr(env.dir);
      const key = `race-${Math.random()}`;
      const answers = await Promise.all(Array.from({ length: 6 }, () => env.api('POST', '/v1/certificates', env.adminToken, { caId: env.issuingId, csrPem }, { 'idempotency-key': key })));
      const ok = answers.filter((a) => a.status === 201);
      expect(ok.length).toBeGreaterThanOrEqual(1);
      expect(new Set(ok.map((a) => certOf(a).id)).size).toBe(1);
      for (const a of answers) expect([201, 409], a.text).toContain(a.status);
      for (const a of answers.filter((x) => x.status === 409)) expect(a.json.error).toMatch(/still in progress/);
      const rows = await sql<{ n: number }>`select count(*) as n from enrollment_requests where idempotency_key = ${key}`.execute(env.server.rt.store.db);
      expect(Number(rows.rows[0]?.n)).toBe(1);
    });

    it('holds a request for approval (202), then issues it once approved', async () => {
      const product = await createProduct(
        env.server.rt.store,
        { name: `needs-approval-${Math.random()}`, caId: env.issuingId, template: parseProductTemplate({ requiresApproval: true }) },
        CLI_CONTEXT,
      );
      const res = await env.api('POST', '/v1/certificates', env.adminToken, { productId: product.id, commonName: 'approve.host1.test' });
      expect(res.status).toBe(202);
      expect(res.json.status).toBe('pending_approval');
      // Managed: the key of the certificate to come is handed over now, once.
      const key = createPrivateKey(res.json.privateKey as string);
      const requestId = res.json.request_id as string;
      expect(res.headers.get('location')).toBe(`/v1/requests/${requestId}`);

      // Four eyes: the admin that asked may not approve; another credential does.
      expect((await env.api('POST', `/v1/requests/${requestId}/approve`, env.adminToken, {})).status).toBe(403);
      const approver = await env.restKey(`approver-${Math.random().toString(36).slice(2, 8)}`, [{ ca: env.issuingId, actions: ['read', 'approve'] }]);
      expect((await env.api('POST', `/v1/requests/${requestId}/approve`, approver.token, {})).status).toBe(200);
      let certificateId: string | null = null;
      await until(
        async () => {
          const r = await env.api('GET', `/v1/requests/${requestId}`, env.adminToken);
          certificateId = r.json.certificate_id as string | null;
          return r.json.status === 'issued';
        },
        20_000,
        'the approved request is issued',
      );
      const cert = await env.api('GET', `/v1/certificates/${certificateId}`, env.adminToken);
      expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, cert.json.certificate_pem as string)).toMatch(/: OK/);
      expect(new X509Certificate(cert.json.certificate_pem as string).checkPrivateKey(key)).toBe(true);
      expect((await env.api('POST', `/v1/requests/${requestId}/approve`, approver.token, {})).status).toBe(409);
    });
  });
}

describe('REST rate limits', () => {
  let env: RestEnv;
  beforeAll(async () => {
    env = await startRestEnv(REST_DEPLOYMENTS[0]!, { rateLimitPerMinute: 8, issueRateLimitPerMinute: 2 });
  });
  afterAll(async () => {
    await env?.close();
  });

  it('answers 429 with Retry-After, issuance sooner than reads, per credential', async () => {
    const a = await env.restKey('limited', [{ ca: '*', actions: ['read', 'issue'] }]);
    const issue = () => env.api('POST', '/v1/certificates', a.token, { caId: env.issuingId, commonName: 'rl.host1.test' });
    expect((await issue()).status).toBe(201);
    expect((await issue()).status).toBe(201);
    const third = await issue();
    expect(third.status).toBe(429);
    expect(third.json.error).toMatch(/rate limit/);
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(third.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    // Reads still pass until their own, higher limit (3 issuance calls counted already).
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await env.api('GET', '/v1/whoami', a.token)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    // Another credential has counters of its own.
    const b = await env.restKey('other', [{ ca: '*', actions: ['read'] }]);
    expect((await env.api('GET', '/v1/whoami', b.token)).status).toBe(200);
  });
});
