// GET /v1/reports/inventory on both deployments: the counts a compliance reviewer reads, in JSON
// and CSV, equal to what the inventory list says for the same questions, and narrowed to what a
// credential may read exactly as the list is.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { openssl, tempDir } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from './helpers/restEnv.js';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';

interface Report {
  generated_at: string;
  total: number;
  expiry_buckets: string;
  by_product: { product_id: string | null; product_name: string | null; count: number }[];
  by_ca: { ca_id: string | null; ca_name: string | null; count: number }[];
  by_status: Record<'active' | 'revoked' | 'expired', number>;
  by_key_algorithm: { key_algorithm: string; count: number }[];
  by_expiry: Record<'expired' | 'within_7_days' | 'within_30_days' | 'within_90_days' | 'beyond_90_days', number>;
}

/** RFC 4180 as the report writes it (no quoted newlines in these fixtures). */
function parseCsv(text: string): string[][] {
  expect(text.endsWith('\r\n')).toBe(true);
  return text
    .slice(0, -2)
    .split('\r\n')
    .map((line) => [...line.matchAll(/(?:^|,)("(?:[^"]|"")*"|[^,]*)/g)].map((m) => ((m[1] as string).startsWith('"') ? (m[1] as string).slice(1, -1).replaceAll('""', '"') : (m[1] as string))));
}

for (const d of REST_DEPLOYMENTS) {
  describe.skipIf(d.skip)(`inventory report over REST, ${d.name}`, () => {
    let env: RestEnv;
    let rsaProduct: { id: string; name: string };
    const dir = tempDir();

    const report = async (token: string, query = ''): Promise<Report> => {
      const res = await env.api('GET', `/v1/reports/inventory${query}`, token);
      expect(res.status, res.text).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      return res.json as unknown as Report;
    };
    const listTotal = async (token: string, query: string): Promise<number> => {
      const res = await env.api('GET', `/v1/certificates?pageSize=1&${query}`, token);
      expect(res.status, res.text).toBe(200);
      return res.json.total as number;
    };

    beforeAll(async () => {
      env = await startRestEnv(d);
      // A product of its own (a name a spreadsheet must not run as a formula), RSA only, 20 days.
      rsaProduct = await createProduct(
        env.server.rt.store,
        { name: `=rsa, "devices" ${randomUUID().slice(0, 8)}`, caId: env.issuingId, template: parseProductTemplate({ keyAlgorithms: ['rsa-2048'], defaultValidityDays: 20, maxValidityDays: 20 }) },
        CLI_CONTEXT,
      );
      const issue = async (body: Record<string, unknown>) => {
        const res = await env.api('POST', '/v1/certificates', env.adminToken, body);
        expect(res.status, res.text).toBe(201);
        return (res.json.certificate as { id: string }).id;
      };
      for (let i = 0; i < 3; i++) await issue({ productId: env.productId, commonName: `web${i}.report.test`, validityDays: 5 + i * 40 });
      for (let i = 0; i < 2; i++) await issue({ productId: rsaProduct.id, commonName: `dev${i}.report.test`, keyAlgorithm: 'RSA-2048' });
      const revoked = await issue({ productId: env.productId, commonName: 'gone.report.test', validityDays: 3 });
      const res = await env.api('POST', `/v1/certificates/${revoked}/revoke`, env.adminToken, { reason: 'superseded' });
      expect(res.status, res.text).toBe(200);
      // One from another company's CA, imported: it has no product or CA here.
      const key = join(dir, 'elsewhere.key');
      const pem = join(dir, 'elsewhere.pem');
      openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', pem, '-subj', '/CN=legacy.elsewhere.test', '-days', '200']);
      const imported = await env.api('POST', '/v1/certificates/import', env.adminToken, { certificatePem: readFileSync(pem, 'utf8') });
      expect(imported.status, imported.text).toBe(201);
    });
    afterAll(async () => env?.close());

    it('counts by product, CA, status, key algorithm and expiry bucket, each equal to the list total for the same question', async () => {
      const admin = env.adminToken;
      const r = await report(admin);
      expect(r.total).toBe(await listTotal(admin, 'status=all'));
      expect(r.total).toBeGreaterThanOrEqual(7);
      for (const s of ['active', 'revoked', 'expired'] as const) expect(r.by_status[s], s).toBe(await listTotal(admin, `status=${s}`));
      for (const p of r.by_product) {
        if (p.product_id === null) expect(p.count).toBe(await listTotal(admin, 'source=imported'));
        else expect(p.count, p.product_name ?? '').toBe(await listTotal(admin, `productId=${p.product_id}`));
      }
      expect(r.by_product.find((p) => p.product_id === rsaProduct.id)).toEqual({ product_id: rsaProduct.id, product_name: rsaProduct.name, count: 2 });
      for (const c of r.by_ca.filter((c) => c.ca_id !== null)) expect(c.count).toBe(await listTotal(admin, `caId=${c.ca_id}`));
      expect(r.by_ca.find((c) => c.ca_id === null)?.count).toBe(1);
      const within = async (days: number) => listTotal(admin, `expiringInDays=${days}`);
      const [e7, e30, e90] = [await within(7), await within(30), await within(90)];
      expect(r.by_expiry).toEqual({ expired: r.by_status.expired, within_7_days: e7, within_30_days: e30 - e7, within_90_days: e90 - e30, beyond_90_days: r.by_status.active - e90 });
      expect(r.by_expiry.within_7_days).toBeGreaterThanOrEqual(1);
      expect(r.by_expiry.within_30_days).toBeGreaterThanOrEqual(2);
      expect(r.expiry_buckets).toMatch(/revoked certificates are in no bucket/);
      // Key algorithms as the list spells them, tallied from every listed certificate.
      const listed = await env.api('GET', '/v1/certificates?status=all&pageSize=100', admin);
      const tally: Record<string, number> = {};
      for (const c of listed.json.certificates as { key_algorithm: string }[]) tally[c.key_algorithm] = (tally[c.key_algorithm] ?? 0) + 1;
      expect(Object.fromEntries(r.by_key_algorithm.map((k) => [k.key_algorithm, k.count]))).toEqual(tally);
      expect(tally['RSA-2048']).toBeGreaterThanOrEqual(2);
    });

    it('answers CSV for Accept: text/csv or format=csv: a header row, then the same counts as the JSON', async () => {
      const json = await report(env.adminToken);
      for (const ask of [{ query: '?format=csv', headers: {} as Record<string, string> }, { query: '', headers: { accept: 'text/csv' } }]) {
        const res = await env.api('GET', `/v1/reports/inventory${ask.query}`, env.adminToken, undefined, ask.headers);
        expect(res.status, res.text).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
        expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="certgate-inventory-\d{4}-\d{2}-\d{2}\.csv"$/);
        const [header, ...rows] = parseCsv(res.text);
        expect(header).toEqual(['dimension', 'value', 'name', 'count']);
        const count = (dimension: string, value: string) => Number(rows.find((row) => row[0] === dimension && row[1] === value)?.[3]);
        expect(count('total', '')).toBe(json.total);
        for (const s of ['active', 'revoked', 'expired'] as const) expect(count('status', s)).toBe(json.by_status[s]);
        for (const [bucket, n] of Object.entries(json.by_expiry)) expect(count('expiry', bucket)).toBe(n);
        for (const k of json.by_key_algorithm) expect(count('key_algorithm', k.key_algorithm)).toBe(k.count);
        const product = rows.find((row) => row[0] === 'product' && row[1] === rsaProduct.id);
        // The name keeps its comma and quotes, and cannot start a formula.
        expect(product).toEqual(['product', rsaProduct.id, `'${rsaProduct.name}`, '2']);
        expect(rows.find((row) => row[0] === 'product' && row[1] === '')?.[2]).toMatch(/imported/);
      }
      // JSON stays the default, and an explicit format wins over Accept.
      expect((await env.api('GET', '/v1/reports/inventory?format=json', env.adminToken, undefined, { accept: 'text/csv' })).headers.get('content-type')).toMatch(/^application\/json/);
      const bad = await env.api('GET', '/v1/reports/inventory?format=xlsx', env.adminToken);
      expect(bad.status).toBe(400);
      expect(bad.json.error).toMatch(/format/);
    });

    it('a credential bound to one product sees only that product\'s certificates, as its list does', async () => {
      const { token } = await env.restKey(`report-${randomUUID()}`, [{ ca: env.issuingId, actions: ['read'] }], [rsaProduct.id]);
      const r = await report(token);
      expect(r.total).toBe(2);
      expect(r.total).toBe(await listTotal(token, 'status=all'));
      expect(r.by_product).toEqual([{ product_id: rsaProduct.id, product_name: rsaProduct.name, count: 2 }]);
      expect(r.by_ca).toEqual([{ ca_id: env.issuingId, ca_name: expect.any(String), count: 2 }]);
      expect(r.by_key_algorithm).toEqual([{ key_algorithm: 'RSA-2048', count: 2 }]);
      // Bound to the other product, the same CA: none of these, and the same numbers as its list.
      const { token: web } = await env.restKey(`report-web-${randomUUID()}`, [{ ca: env.issuingId, actions: ['read'] }], [env.productId]);
      const other = await report(web);
      expect(other.by_product.map((p) => p.product_id)).toEqual([env.productId]);
      expect(other.total).toBe(await listTotal(web, 'status=all'));
      expect(other.by_key_algorithm.map((k) => k.key_algorithm)).not.toContain('RSA-2048');
      expect((await env.api('GET', '/v1/reports/inventory', null)).status).toBe(401);
    });

    it('a credential scoped to its own counts only the certificates it requested', async () => {
      const made = await env.api('POST', '/v1/credentials', env.adminToken, { type: 'rest', name: `report-own-${randomUUID()}`, products: [rsaProduct.id], permissions: [`issue,read:${env.issuingId}`], scope: 'own' });
      expect(made.status, made.text).toBe(201);
      const own = made.json.secret as string;
      expect((await report(own)).total).toBe(0);
      const issued = await env.api('POST', '/v1/certificates', own, { productId: rsaProduct.id, commonName: 'mine.report.test', keyAlgorithm: 'RSA-2048' });
      expect(issued.status, issued.text).toBe(201);
      const r = await report(own);
      expect(r.total).toBe(1);
      expect(r.total).toBe(await listTotal(own, 'status=all'));
      expect(r.by_product).toEqual([{ product_id: rsaProduct.id, product_name: rsaProduct.name, count: 1 }]);
      // The product holds three now; the admin sees them all.
      expect((await report(env.adminToken)).by_product.find((p) => p.product_id === rsaProduct.id)?.count).toBe(3);
    });
  });
}
