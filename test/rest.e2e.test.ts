// One certificate end to end over REST, on both deployments: embedded (SQLite + in-process queue)
// and scaled out (PostgreSQL + BullMQ, front-end and worker in separate runtimes).
import { randomUUID, X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createCa } from '../src/ca/createCa.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { loadConfig, type Config } from '../src/config.js';
import { createProduct } from '../src/core/products.js';
import type { Permission } from '../src/core/types.js';
import { initialize } from '../src/init.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { startServer, type RunningServer } from '../src/httpServer.js';
import { PROTOCOLS } from '../protocols/index.js';
import { createTestDatabase } from './harness/postgres.js';
import { makeCsr, opensslVerify, tempDir, x509Text } from './helpers/openssl.js';
import { until } from './helpers/until.js';

interface Deployment {
  name: string;
  config: () => Promise<Partial<Config>>;
  /** Scaled out: a separate worker runtime. */
  separateWorker: boolean;
  skip?: boolean;
}

const redisUrl = inject('redisUrl');
const postgresUrl = inject('postgresUrl');

const deployments: Deployment[] = [
  { name: 'embedded (SQLite + in-process queue)', config: async () => ({}), separateWorker: false },
  {
    name: 'scaled out (PostgreSQL + BullMQ, separate worker)',
    skip: !redisUrl || !postgresUrl,
    separateWorker: true,
    config: async () => ({
      databaseUrl: await createTestDatabase(postgresUrl as string),
      redisUrl: redisUrl as string,
      // Suites share the harness Redis; with keys of their own they never take each other's jobs.
      queuePrefix: `rest-e2e-${randomUUID()}`,
    }),
  },
];

for (const d of deployments) {
  describe.skipIf(d.skip)(`REST issuance, ${d.name}`, () => {
    const dir = tempDir();
    let server: RunningServer;
    let worker: Runtime | undefined;
    let base: string;
    let admin: string;
    let rootPem: string;
    let issuingPem: string;
    let issuingId: string;
    let productId: string;

    /** A REST API key, made as `certgate apikey create` makes one: its record and its bearer secret. */
    const restKey = async (name: string, permissions: Permission[]) => {
      const { credential, secret } = await server.rt.credentials.create({ type: 'rest', name, products: '*', permissions, admin: false }, CLI_CONTEXT);
      return { credential, token: secret };
    };

    const api = async (method: string, path: string, token: string | null, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        /* PEM or empty */
      }
      return { status: res.status, json, text, headers: res.headers };
    };

    beforeAll(async () => {
      const config = loadConfig({
        env: {},
        overrides: {
          dataDir: dir,
          httpPort: 0,
          httpsPort: 0,
          masterKey: 'test-master-key-0123456789',
          logLevel: 'silent',
          issueWaitMs: 15_000,
          queueBackoffMs: 50,
          ...(await d.config()),
        },
      });
      let token = '';
      server = await startServer(config, {
        worker: !d.separateWorker,
        json: true,
        protocols: PROTOCOLS,
        initFirst: async (rt) => {
          token = (await initialize(rt)).adminToken as string;
        },
      });
      if (d.separateWorker) {
        worker = await openRuntime(config);
        await worker.startWorker();
      }
      admin = token;
      base = server.httpUrl as string;
      const cas = (await api('GET', '/v1/cas', admin)).json.cas as { id: string; type: string }[];
      const root = cas.find((c) => c.type === 'root')!;
      const issuing = cas.find((c) => c.type === 'issuing')!;
      issuingId = issuing.id;
      rootPem = (await api('GET', `/v1/cas/${root.id}`, admin)).json.certificate_pem as string;
      issuingPem = (await api('GET', `/v1/cas/${issuing.id}`, admin)).json.certificate_pem as string;
      productId = ((await api('GET', '/v1/products', admin)).json.products as { id: string }[])[0]!.id;
    });

    afterAll(async () => {
      await server?.close();
      await worker?.close();
    });

    it('reports health and readiness', async () => {
      expect((await api('GET', '/healthz', null)).status).toBe(200);
      const ready = await api('GET', '/readyz', null);
      expect(ready.status).toBe(200);
      expect(ready.json.status).toBe('ready');
    });

    it('turns a CSR into a certificate that openssl verifies, with the names and validity asked for', async () => {
      for (const key of ['ec-p256', 'ec-p384', 'rsa-2048'] as const) {
        const { csrPem } = makeCsr(dir, { key, subject: '/CN=host1.test', san: ['DNS:host1.test', 'DNS:www.host1.test', 'IP:192.0.2.7'] });
        const res = await api('POST', '/v1/certificates', admin, { caId: issuingId, csrPem, validityDays: 30 });
        expect(res.status, JSON.stringify(res.json)).toBe(201);
        const pem = res.json.certificate_pem as string;
        expect(opensslVerify(dir, rootPem, issuingPem, pem)).toMatch(/: OK/);
        const cert = new X509Certificate(pem);
        expect(cert.subjectAltName).toBe('DNS:host1.test, DNS:www.host1.test, IP Address:192.0.2.7');
        expect(cert.subject).toBe('CN=host1.test');
        const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
        expect(Math.round(days)).toBe(30);
        expect(res.json.key_algorithm).toBe(key);
        expect(res.json.common_name).toBe('host1.test');
        expect(res.json.san_dns).toEqual(['host1.test', 'www.host1.test']);
        expect(res.json.san_ip).toEqual(['192.0.2.7']);
        expect(res.json.serial_number).toBe(cert.serialNumber.toLowerCase());
        expect(res.json.ca_id).toBe(issuingId);
        expect(res.json.revoked_at).toBeNull();
        const text = x509Text(pem);
        expect(text).toContain('TLS Web Server Authentication');
        expect(text).toMatch(/X509v3 Authority Key Identifier/);
        // Leaf plus chain: issuing then root.
        expect((res.json.chain_pem as string).match(/BEGIN CERTIFICATE/g)).toHaveLength(2);

        const fetched = await api('GET', `/v1/certificates/${res.json.id as string}`, admin);
        expect(fetched.status).toBe(200);
        expect(fetched.json.certificate_pem).toBe(pem);
      }
    });

    it('uses the product default validity and puts a DNS-like CN into the SAN', async () => {
      const { csrPem } = makeCsr(dir, { subject: '/CN=only-cn.host1.test' });
      const res = await api('POST', '/v1/certificates', admin, { productId, csrPem });
      expect(res.status).toBe(201);
      const cert = new X509Certificate(res.json.certificate_pem as string);
      expect(cert.subjectAltName).toBe('DNS:only-cn.host1.test');
      expect(Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000)).toBe(90);
    });

    it('answers bad CSRs with 400s that say what is wrong', async () => {
      const garbage = await api('POST', '/v1/certificates', admin, { caId: issuingId, csrPem: 'not a csr' });
      expect(garbage.status).toBe(400);
      expect(garbage.json.error).toMatch(/malformed CSR/);

      const { csrPem } = makeCsr(dir);
      const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
      der.writeUInt8((der.at(-5) as number) ^ 0x01, der.length - 5); // flip a bit in the signature
      const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
      const bad = await api('POST', '/v1/certificates', admin, { caId: issuingId, csrPem: tampered });
      expect(bad.status).toBe(400);
      expect(bad.json.error).toMatch(/signature does not verify/);

      // ecdsa-with-SHA256 (1.2.840.10045.4.3.2) made 1.2.840.10045.4.3.9, which nobody knows.
      const ecdsaSha256 = Buffer.from('06082a8648ce3d040302', 'hex');
      const unknownAlg = Buffer.from(der);
      const at = unknownAlg.lastIndexOf(ecdsaSha256);
      expect(at).toBeGreaterThan(0);
      unknownAlg[at + ecdsaSha256.length - 1] = 0x09;
      const strange = await api('POST', '/v1/certificates', admin, { caId: issuingId, csrPem: `-----BEGIN CERTIFICATE REQUEST-----\n${unknownAlg.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n` });
      expect(strange.status, JSON.stringify(strange.json)).toBe(400);
      expect(strange.json.code).toBe('badCsr');

      const truncated = await api('POST', '/v1/certificates', admin, { caId: issuingId, csrPem: csrPem.slice(0, 200) + '\n-----END CERTIFICATE REQUEST-----\n' });
      expect(truncated.status).toBe(400);

      const notJson = await api('POST', '/v1/certificates', admin, '{"caId":', {});
      expect(notJson.status).toBe(400);
      const noCsr = await api('POST', '/v1/certificates', admin, { caId: issuingId });
      expect(noCsr.status).toBe(400);
      expect(noCsr.json.error).toMatch(/csrPem/);
      const badValidity = await api('POST', '/v1/certificates', admin, { caId: issuingId, csrPem, validityDays: -3 });
      expect(badValidity.status).toBe(400);
    });

    it('rejects a CSR that breaks the product with a reason naming the rule', async () => {
      const { csrPem } = makeCsr(dir, { san: ['DNS:host1.test'] });
      const tooLong = await api('POST', '/v1/certificates', admin, { productId, csrPem, validityDays: 400 });
      expect(tooLong.status).toBe(422);
      expect(tooLong.json.error).toMatch(/maxValidityDays/);

      const weak = makeCsr(dir, { key: 'rsa-1024' });
      const res = await api('POST', '/v1/certificates', admin, { productId, csrPem: weak.csrPem });
      expect(res.status).toBe(422);
      expect(res.json).toMatchObject({ code: 'badKey', rule: 'rsaModulusSize' });
      expect(res.json.error).toMatch(/1024 bits.*rsaModulusSize/);
    });

    it('checks permissions on every route: 401 without a key, 403 without issue rights', async () => {
      const { csrPem } = makeCsr(dir);
      expect((await api('POST', '/v1/certificates', null, { caId: issuingId, csrPem })).status).toBe(401);
      expect((await api('GET', '/v1/cas', 'cg_0000000000000000_' + 'a'.repeat(43))).status).toBe(401);

      const rt = server.rt;
      const readOnly = await restKey('reader', [{ ca: issuingId, actions: ['read'] }]);
      const denied = await api('POST', '/v1/certificates', readOnly.token, { caId: issuingId, csrPem });
      expect(denied.status).toBe(403);
      expect(denied.json.error).toMatch(/may not issue/);
      expect((await api('GET', `/v1/cas/${issuingId}`, readOnly.token)).status).toBe(200);
      const cas = (await api('GET', '/v1/cas', readOnly.token)).json.cas as unknown[];
      expect(cas).toHaveLength(1);

      const issuer = await restKey('issuer', [{ ca: issuingId, actions: ['issue'] }]);
      expect((await api('POST', '/v1/certificates', issuer.token, { caId: issuingId, csrPem })).status).toBe(201);
      await rt.credentials.revoke(issuer.credential.id, CLI_CONTEXT);
      expect((await api('POST', '/v1/certificates', issuer.token, { caId: issuingId, csrPem })).status).toBe(401);

      const whoami = await api('GET', '/v1/whoami', readOnly.token);
      expect(whoami.json).toMatchObject({ id: readOnly.credential.id, type: 'rest', name: 'reader', admin: false, permissions: [{ ca: issuingId, actions: ['read'] }] });
      expect((await api('GET', '/v1/nope', admin)).status).toBe(404);
      expect((await api('GET', '/v1/cas/does-not-exist', admin)).status).toBe(404);
    });

    it('never answers arbitrary bodies with a 5xx', async () => {
      const { csrPem } = makeCsr(dir);
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
            fc.record({ caId: fc.oneof(fc.constant(issuingId), fc.string()), csrPem: fc.oneof(mutatedCsr, fc.string()), validityDays: fc.oneof(fc.integer(), fc.double(), fc.string()) }).map((v) => JSON.stringify(v)),
          ),
          async (body) => {
            const res = await api('POST', '/v1/certificates', admin, body);
            expect(res.status, `${res.status} ${res.text} for ${body.slice(0, 200)}`).toBeLessThan(500);
            expect(res.json.error === undefined || typeof res.json.error === 'string').toBe(true);
          },
        ),
        { numRuns: 150 },
      );
    });

    it('lists only the certificates a key may read, and pages through exactly those', async () => {
      const rt = server.rt;
      const cas = (await api('GET', '/v1/cas', admin)).json.cas as { id: string; type: string }[];
      const rootId = cas.find((c) => c.type === 'root')!.id;
      const other = await createCa(rt.store, { name: `other-${Date.now()}`, subject: 'CN=Other Issuing CA', keyAlgorithm: 'ec-p256', validityDays: 30, parentId: rootId }, rt.secrets, CLI_CONTEXT);
      await createProduct(rt.store, { name: `other-${Date.now()}`, caId: other.id, template: parseProductTemplate({}) }, CLI_CONTEXT);
      // Newest first: the reader's CA's certificates sit between others' ones.
      const mine: string[] = [];
      for (const ca of [issuingId, other.id, issuingId, other.id, other.id]) {
        const made = await api('POST', '/v1/certificates', admin, { caId: ca, csrPem: makeCsr(dir, { subject: '/CN=list.host1.test' }).csrPem });
        expect(made.status).toBe(201);
        if (ca === issuingId) mine.unshift(made.json.id as string);
      }
      const reader = await restKey('lister', [{ ca: issuingId, actions: ['read'] }]);
      const page = async (limit: number, offset: number) =>
        ((await api('GET', `/v1/certificates?limit=${limit}&offset=${offset}`, reader.token)).json.certificates as { id: string; ca_id: string }[]);
      const first = await page(2, 0);
      expect(first.map((c) => c.id)).toEqual(mine);
      expect(first.every((c) => c.ca_id === issuingId)).toBe(true);
      expect((await page(1, 1)).map((c) => c.id)).toEqual([mine[1]]);
      expect((await api('GET', `/v1/certificates?ca_id=${other.id}`, reader.token)).status).toBe(403);
    });

    it('serves the CA chain', async () => {
      const res = await api('GET', `/v1/cas/${issuingId}/chain`, admin);
      expect(res.status).toBe(200);
      expect(res.text.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
      expect(res.text.startsWith(issuingPem.trim().slice(0, 40))).toBe(true);
    });

    it('issues once for one idempotency key', async () => {
      const { csrPem } = makeCsr(dir);
      const headers = { 'idempotency-key': `k-${Math.random()}` };
      const a = await api('POST', '/v1/certificates', admin, { caId: issuingId, csrPem }, headers);
      const b = await api('POST', '/v1/certificates', admin, { caId: issuingId, csrPem }, headers);
      expect(a.status).toBe(201);
      expect(b.status).toBe(201);
      expect(b.json.id).toBe(a.json.id);
      const other = makeCsr(dir);
      const c = await api('POST', '/v1/certificates', admin, { caId: issuingId, csrPem: other.csrPem }, headers);
      expect(c.status).toBe(422);
      expect(c.json.error).toMatch(/idempotency key was already used for a different request/);
    });

    it('holds a request for approval (202), then issues it once approved', async () => {
      const rt = server.rt;
      const product = await createProduct(
        rt.store,
        { name: `needs-approval-${Math.random()}`, caId: issuingId, template: parseProductTemplate({ requiresApproval: true }) },
        CLI_CONTEXT,
      );
      const { csrPem } = makeCsr(dir);
      const res = await api('POST', '/v1/certificates', admin, { productId: product.id, csrPem });
      expect(res.status).toBe(202);
      expect(res.json.status).toBe('pending_approval');
      const requestId = res.json.request_id as string;
      expect(res.headers.get('location')).toBe(`/v1/requests/${requestId}`);

      const approved = await api('POST', `/v1/requests/${requestId}/approve`, admin, {});
      expect(approved.status).toBe(200);
      let certificateId: string | null = null;
      await until(
        async () => {
          const r = await api('GET', `/v1/requests/${requestId}`, admin);
          certificateId = r.json.certificate_id as string | null;
          return r.json.status === 'issued';
        },
        20_000,
        'the approved request is issued',
      );
      const cert = await api('GET', `/v1/certificates/${certificateId}`, admin);
      expect(opensslVerify(dir, rootPem, issuingPem, cert.json.certificate_pem as string)).toMatch(/: OK/);
      expect((await api('POST', `/v1/requests/${requestId}/approve`, admin, {})).status).toBe(409);
    });
  });
}
