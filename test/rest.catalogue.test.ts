// The catalogue's REST writes and the dashboard's series: products made and edited by an admin
// (400 for a bad template, 403 for anyone else, 409 for a taken name, audited), local CAs made,
// and /v1/reports/timeline counting what each credential may read, on both deployments.
import { X509Certificate } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa } from '../src/ca/createCa.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { opensslVerify } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from './helpers/restEnv.js';

const DAY_MS = 86_400_000;
const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

interface Timeline {
  issued_per_day: { day: string; count: number }[];
  expiring_per_week: { from: string; to: string; count: number }[];
}
const total = (series: { count: number }[]) => series.reduce((n, e) => n + e.count, 0);

describe.each(REST_DEPLOYMENTS)('catalogue over REST ($name)', (d) => {
  let env: RestEnv;
  /** Moves the gateway's clock (one test looks two days ahead). */
  let offsetMs = 0;
  beforeAll(async () => {
    if (!d.skip) env = await startRestEnv(d, {}, () => Date.now() + offsetMs);
  }, 120_000);
  afterAll(async () => {
    await env?.close();
  });
  const admin = (method: string, path: string, body?: unknown) => env.api(method, path, env.adminToken, body);
  const auditOf = async (action: string, target: string) => {
    const res = await admin('GET', `/v1/audit?action=${action}&target=${target}&pageSize=10`);
    expect(res.status, res.text).toBe(200);
    return res.json.entries as { action: string; actor: string; outcome: string; detail: Record<string, unknown> }[];
  };

  it.skipIf(d.skip)('makes an issuing CA and a product on it, edits the product, and issues under the edit', async () => {
    const caRes = await admin('POST', '/v1/cas', { name: unique('issuing'), subject: 'CN=Catalogue Test Issuing CA, O=certgate tests', key_algorithm: 'ECDSA-P256', validity_days: 400, parent_ca_id: env.rootId });
    expect(caRes.status, caRes.text).toBe(201);
    const ca = caRes.json.ca as { id: string; name: string; type: string; parent_ca_id: string; certificate_pem: string; common_name: string };
    expect(ca).toMatchObject({ type: 'intermediate', parent_ca_id: env.rootId, common_name: 'Catalogue Test Issuing CA' });
    expect((await auditOf('ca.create', ca.id))[0]).toMatchObject({ outcome: 'success', detail: { name: ca.name, parent: env.rootId } });
    // Seen at once by the lists every request reads.
    expect(((await admin('GET', '/v1/cas')).json.cas as { id: string }[]).map((c) => c.id)).toContain(ca.id);
    const dup = await admin('POST', '/v1/cas', { name: ca.name });
    expect(dup.status, dup.text).toBe(409);
    expect((await admin('POST', '/v1/cas', { name: unique('orphan'), parent_ca_id: 'no-such-ca' })).status).toBe(400);
    expect((await admin('POST', '/v1/cas', { name: unique('badsubject'), subject: 'not a DN' })).status).toBe(400);
    // A parent whose key is under a passphrase the gateway does not hold cannot certify: said, not a 500.
    const rt = env.server.rt;
    const locked = await createCa(rt.store, { name: unique('locked-root'), keyAlgorithm: 'ec-p256', validityDays: 30, passphrase: 'not configured anywhere' }, rt.secrets, CLI_CONTEXT);
    const underLocked = await admin('POST', '/v1/cas', { name: unique('under-locked'), parent_ca_id: locked.id });
    expect(underLocked.status, underLocked.text).toBe(409);
    expect(underLocked.json.error).toMatch(/protected by a passphrase and none is configured/);
    // An issuing CA signs end entities only (path length 0), and a parent about to expire would make a CA never valid.
    const underIssuing = await admin('POST', '/v1/cas', { name: unique('under-issuing'), parent_ca_id: env.issuingId });
    expect(underIssuing.status, underIssuing.text).toBe(409);
    expect(underIssuing.json.error).toMatch(/is an issuing CA: it may sign only end-entity certificates/);
    const dying = await createCa(rt.store, { name: unique('dying-root'), keyAlgorithm: 'ec-p256', validityDays: 1 }, rt.secrets, CLI_CONTEXT);
    const underDying = await admin('POST', '/v1/cas', { name: unique('under-dying'), parent_ca_id: dying.id });
    expect(underDying.status, underDying.text).toBe(409);
    expect(underDying.json.error).toMatch(/would not be valid for a day/);

    const name = unique('web');
    const made = await admin('POST', '/v1/products', { name, ca_id: ca.id, template: { keyAlgorithms: ['ec-p256'], defaultValidityDays: 90, maxValidityDays: 200, allowedDnsSuffixes: ['catalogue.test'] } });
    expect(made.status, made.text).toBe(201);
    const product = made.json.product as { id: string; ca_id: string; max_validity_days: number; allowed_dns_suffixes: string[] };
    expect(product).toMatchObject({ ca_id: ca.id, max_validity_days: 200, allowed_dns_suffixes: ['catalogue.test'] });
    expect((await auditOf('product.create', product.id))[0]).toMatchObject({ outcome: 'success', detail: { name } });

    const taken = await admin('POST', '/v1/products', { name, ca_id: ca.id, template: {} });
    expect(taken.status, taken.text).toBe(409);
    const bad = await admin('POST', '/v1/products', { name: unique('bad'), ca_id: ca.id, template: { maxValidityDays: 500 } });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/template\.maxValidityDays: TLS server products may issue for at most 397 days/);
    expect((await admin('POST', '/v1/products', { name: unique('bad'), ca_id: ca.id, template: { protocols: { nosuch: { x: 1 } } } })).status).toBe(400);
    const misspelt = await admin('POST', '/v1/products', { name: unique('bad'), ca_id: ca.id, template: { maxValidity: 30 } });
    expect(misspelt.status).toBe(400);
    expect(misspelt.json.error).toMatch(/template\.maxValidity: not a template field/);

    // Issued once before the edit, so that the worker holds the product as it was.
    const before = await admin('POST', '/v1/certificates', { productId: product.id, commonName: 'before.catalogue.test' });
    expect(before.status, before.text).toBe(201);
    const template = (await admin('GET', `/v1/products/${product.id}`)).json.template as Record<string, unknown>;
    const edited = await admin('PUT', `/v1/products/${product.id}`, { name, template: { ...template, defaultValidityDays: 30, maxValidityDays: 30 } });
    expect(edited.status, edited.text).toBe(200);
    expect(edited.json.product).toMatchObject({ id: product.id, default_validity_days: 30, max_validity_days: 30 });
    expect((await auditOf('product.update', product.id))[0]).toMatchObject({
      outcome: 'success',
      detail: { changed: { defaultValidityDays: { from: 90, to: 30 }, maxValidityDays: { from: 200, to: 30 } } },
    });
    const badEdit = await admin('PUT', `/v1/products/${product.id}`, { name, template: { ...template, defaultValidityDays: 60, maxValidityDays: 30 } });
    expect(badEdit.status).toBe(400);
    expect(badEdit.json.error).toMatch(/defaultValidityDays: must not exceed maxValidityDays/);
    expect((await admin('PUT', '/v1/products/no-such-product', { name: unique('x'), template: {} })).status).toBe(404);
    const other = (await admin('POST', '/v1/products', { name: unique('other'), ca_id: ca.id, template: {} })).json.product as { id: string; name: string };
    expect((await admin('PUT', `/v1/products/${product.id}`, { name: other.name, template })).status).toBe(409);
    // "default" is where clients naming no product enrol: neither renamed away nor taken by a rename.
    const toDefault = await admin('PUT', `/v1/products/${product.id}`, { name: 'default', template });
    expect(toDefault.status, toDefault.text).toBe(409);
    expect(toDefault.json.error).toMatch(/clients that name no product/);
    const fromDefault = await admin('PUT', `/v1/products/${env.productId}`, { name: unique('not-default'), template: {} });
    expect(fromDefault.status, fromDefault.text).toBe(409);

    const issued = await admin('POST', '/v1/certificates', { productId: product.id, commonName: 'www.catalogue.test' });
    expect(issued.status, issued.text).toBe(201);
    const pem = (issued.json.certificate as { certificate_pem: string }).certificate_pem;
    const x509 = new X509Certificate(pem);
    expect(Math.round((Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / DAY_MS)).toBe(30);
    expect(opensslVerify(env.dir, env.rootPem, ca.certificate_pem, pem)).toMatch(/OK/);
  }, 60_000);

  it.skipIf(d.skip)('refuses the catalogue\'s writes to a credential that is not an admin, and audits the refusal', async () => {
    const { credential, token } = await env.restKey(unique('reader'), [{ ca: '*', actions: ['read', 'issue', 'revoke', 'approve'] }]);
    const attempts = [
      await env.api('POST', '/v1/cas', token, { name: unique('nope') }),
      await env.api('POST', '/v1/products', token, { name: unique('nope'), ca_id: env.issuingId, template: {} }),
      await env.api('PUT', `/v1/products/${env.productId}`, token, { name: unique('nope'), template: {} }),
    ];
    expect(attempts.map((a) => a.status)).toEqual([403, 403, 403]);
    // Each refusal is recorded under the action it tried.
    const entries = (await admin('GET', `/v1/audit?actor=${credential.id}&pageSize=10`)).json.entries as { action: string; outcome: string }[];
    expect(entries.filter((e) => e.outcome === 'refused').map((e) => e.action).sort()).toEqual(['ca.create', 'product.create', 'product.update']);
  });

  it.skipIf(d.skip)('counts issuance per day and expiry per week over what the credential may read', async () => {
    const caB = (await admin('POST', '/v1/cas', { name: unique('tenant-b'), parent_ca_id: env.rootId, validity_days: 400 })).json.ca as { id: string };
    const onB = (await admin('POST', '/v1/products', { name: unique('b'), ca_id: caB.id, template: { defaultValidityDays: 20 } })).json.product as { id: string };
    const readerA = await env.restKey(unique('reader-a'), [{ ca: env.issuingId, actions: ['read'] }]);
    const readerB = await env.restKey(unique('reader-b'), [{ ca: caB.id, actions: ['read'] }]);
    const timeline = async (token: string): Promise<Timeline> => {
      const res = await env.api('GET', '/v1/reports/timeline?days=30&weeks=12', token);
      expect(res.status, res.text).toBe(200);
      return res.json as unknown as Timeline;
    };
    const beforeA = await timeline(readerA.token);
    for (let i = 0; i < 3; i++) expect((await admin('POST', '/v1/certificates', { productId: onB.id, commonName: `h${i}.tenant-b.test` })).status).toBe(201);
    const revoked = await admin('POST', '/v1/certificates', { productId: onB.id, commonName: 'gone.tenant-b.test' });
    expect((await admin('POST', `/v1/certificates/${(revoked.json.certificate as { id: string }).id}/revoke`, {})).status).toBe(200);

    const b = await timeline(readerB.token);
    expect(b.issued_per_day).toHaveLength(30);
    expect(b.expiring_per_week).toHaveLength(12);
    // Today is the last day; all four were issued today, three (unrevoked, 20 days) expire in the third week.
    expect(b.issued_per_day.at(-1)).toEqual({ day: new Date().toISOString().slice(0, 10), count: 4 });
    expect(total(b.issued_per_day)).toBe(4);
    expect(b.expiring_per_week.map((w) => w.count)).toEqual([0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // A reader of the other CA sees none of them.
    const afterA = await timeline(readerA.token);
    expect(afterA.issued_per_day).toEqual(beforeA.issued_per_day);
    expect(afterA.expiring_per_week.map((w) => w.count)).toEqual(beforeA.expiring_per_week.map((w) => w.count));
    expect((await env.api('GET', '/v1/reports/timeline?days=0', env.adminToken)).status).toBe(400);
  }, 60_000);

  it.skipIf(d.skip)('counts the certificates that expired and were neither renewed nor marked renewed', async () => {
    const ca = (await admin('POST', '/v1/cas', { name: unique('short-lived'), parent_ca_id: env.rootId, validity_days: 400 })).json.ca as { id: string };
    const product = (await admin('POST', '/v1/products', { name: unique('one-day'), ca_id: ca.id, template: { defaultValidityDays: 1, maxValidityDays: 5 } })).json.product as { id: string };
    const reader = await env.restKey(unique('reader-short'), [{ ca: ca.id, actions: ['read'] }]);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await admin('POST', '/v1/certificates', { productId: product.id, commonName: `s${i}.short.test` });
      expect(res.status, res.text).toBe(201);
      ids.push((res.json.certificate as { id: string }).id);
    }
    const unreplaced = async () => (await env.api('GET', '/v1/reports/timeline', reader.token)).json.expired_unreplaced;
    expect(await unreplaced()).toBe(0);
    offsetMs = 2 * DAY_MS;
    try {
      expect(await unreplaced()).toBe(3);
      expect((await admin('POST', `/v1/certificates/${ids[0]}/mark-renewed`, {})).status).toBe(200);
      expect(await unreplaced()).toBe(2);
      // Signed by the real clock: five days keeps the renewal itself unexpired two days ahead.
      const renewed = await admin('POST', `/v1/certificates/${ids[1]}/renew`, { validityDays: 5 });
      expect(renewed.status, renewed.text).toBe(201);
      expect(await unreplaced()).toBe(1);
    } finally {
      offsetMs = 0;
    }
  }, 60_000);
});
