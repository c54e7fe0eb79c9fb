// The published OpenAPI document is a valid OpenAPI 3.1 description whose schemas compile, and
// every operation in it answers as it says: each operation is exercised on a running server and
// every answer is validated against the document's schema for its method, path and status.
//
// EXERCISES is the table of how to call each operation. A route added without an entry here makes
// the last test fail, naming it: add an entry (call it through `call`, which checks the answer).
import { createSign, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiPath } from '../protocols/rest/openapi.js';
import { createApp } from '../src/app.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { startDnsServer, type StubDnsServer } from './helpers/dnsServer.js';
import { freePort } from './helpers/net.js';
import { checkedApi, OpenApiCheck } from './helpers/openapiCheck.js';
import { makeCsr, openssl } from './helpers/openssl.js';
import { REST_DEPLOYMENTS, startRestEnv, type ApiAnswer, type RestEnv } from './helpers/restEnv.js';
import { NOWHERE } from './helpers/webhookReceiver.js';

type Call = (method: string, path: string, token: string | null, body?: unknown, headers?: Record<string, string>) => Promise<ApiAnswer>;

interface Tools {
  env: RestEnv;
  /** The env's api, each answer checked against the document. */
  call: Call;
  admin: string;
  f: Fixtures;
}

type Exercise = (t: Tools) => Promise<void>;

const memo = <T>(make: () => Promise<T>): (() => Promise<T>) => {
  let p: Promise<T> | undefined;
  return () => (p ??= make());
};

/** What exercises need, made once on first use (through checked calls too). */
class Fixtures {
  constructor(private readonly t: () => Tools) {}

  private async issue(body: Record<string, unknown>): Promise<ApiAnswer> {
    const { call, admin, env } = this.t();
    const res = await call('POST', '/v1/certificates', admin, { caId: env.issuingId, ...body });
    expect(res.status, res.text).toBe(201);
    return res;
  }

  /** A managed certificate: its id, PEM and the private key POST returned. */
  readonly managed = memo(async () => {
    const res = await this.issue({ mode: 'managed', commonName: 'managed.openapi.test', sanDns: ['alt.openapi.test'], keyAlgorithm: 'ECDSA-P256' });
    const cert = res.json.certificate as { id: string; certificate_pem: string; request_id: string };
    return { id: cert.id, pem: cert.certificate_pem, requestId: cert.request_id, privateKey: res.json.privateKey as string };
  });

  /** A csr-mode certificate, to revoke or suspend. */
  readonly fromCsr = async (cn: string) => {
    const { csrPem } = makeCsr(this.t().env.dir, { subject: `/CN=${cn}`, san: [`DNS:${cn}`] });
    const res = await this.issue({ mode: 'csr', csrPem });
    return (res.json.certificate as { id: string }).id;
  };

  // The admin both asks and approves here: the product relaxes four eyes (selfApproval).
  readonly approvalProduct = memo(async () => {
    const { env } = this.t();
    return createProduct(env.server.rt.store, { name: `openapi-approval-${randomUUID()}`, caId: env.issuingId, template: parseProductTemplate({ requiresApproval: true, selfApproval: true }) }, CLI_CONTEXT);
  });

  /** A request waiting for an operator. */
  readonly pendingRequest = async (): Promise<string> => {
    const { call, admin, env } = this.t();
    const { csrPem } = makeCsr(env.dir, { subject: '/CN=pending.openapi.test' });
    const res = await call('POST', '/v1/certificates', admin, { productId: (await this.approvalProduct()).id, mode: 'csr', csrPem });
    expect(res.status, res.text).toBe(202);
    return res.json.request_id as string;
  };

  readonly escrowProduct = memo(async () => {
    const { env } = this.t();
    return createProduct(env.server.rt.store, { name: `openapi-escrow-${randomUUID()}`, caId: env.issuingId, template: parseProductTemplate({ escrowKeys: true }) }, CLI_CONTEXT);
  });

  /** A managed certificate whose key the product escrows. */
  readonly escrowed = async (): Promise<string> => {
    const res = await this.issue({ productId: (await this.escrowProduct()).id, commonName: 'escrowed.openapi.test' });
    return (res.json.certificate as { id: string }).id;
  };

  /** A self-signed certificate of nobody certgate knows, made with openssl, imported. */
  readonly imported = async (): Promise<{ id: string; serial: string; issuer: string }> => {
    const { call, admin, env } = this.t();
    const name = randomUUID();
    const key = join(env.dir, `${name}.key`);
    const pem = join(env.dir, `${name}.pem`);
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', pem, '-subj', `/CN=${name}.elsewhere.test`, '-days', '30']);
    const res = await call('POST', '/v1/certificates/import', admin, { certificatePem: readFileSync(pem, 'utf8'), owner: 'legacy team' });
    expect(res.status, res.text).toBe(201);
    const cert = res.json.certificate as { id: string; serial_number: string; issuer: string };
    return { id: cert.id, serial: cert.serial_number, issuer: cert.issuer };
  };

  /** A request waiting on domain validation (a product with dcv: required). */
  readonly pendingDcv = memo(async () => {
    const { call, admin, env } = this.t();
    const product = await createProduct(env.server.rt.store, { name: `openapi-dcv-${randomUUID()}`, caId: env.issuingId, template: parseProductTemplate({ dcv: { mode: 'required' } }) }, CLI_CONTEXT);
    const { csrPem } = makeCsr(env.dir, { subject: '/CN=dcv.openapi.test', san: ['DNS:dcv.openapi.test'] });
    const res = await call('POST', '/v1/certificates', admin, { productId: product.id, mode: 'csr', csrPem });
    expect(res.status, res.text).toBe(202);
    expect(res.json.status).toBe('pending_dcv');
    return res.json.request_id as string;
  });

  /** A domain record the admin added. */
  readonly domain = async (label: string): Promise<string> => {
    const { call, admin } = this.t();
    const res = await call('POST', '/v1/domains', admin, { name: `${label}-${randomUUID().slice(0, 8)}.openapi.test` });
    expect(res.status, res.text).toBe(201);
    return res.json.id as string;
  };

  /** A rest credential made over the API: its id and secret. */
  readonly credential = memo(async () => {
    const { call, admin, env } = this.t();
    const res = await call('POST', '/v1/credentials', admin, { type: 'rest', name: `openapi-${randomUUID()}`, products: '*', permissions: [`read:${env.issuingId}`] });
    expect(res.status, res.text).toBe(201);
    return { id: res.json.id as string, secret: res.json.secret as string };
  });
}

const ok = (res: ApiAnswer, status = 200): void => expect(res.status, res.text).toBe(status);

/** How to exercise each operation of the document, by `METHOD /path/{template}`. */
const EXERCISES: Record<string, Exercise> = {
  'GET /v1/openapi': async ({ call }) => ok(await call('GET', '/v1/openapi', null)),

  'POST /v1/auth/token': async ({ call, f }) => {
    const { id, secret } = await f.credential();
    const res = await call('POST', '/v1/auth/token', null, { clientId: id, secret });
    ok(res);
    ok(await call('GET', '/v1/whoami', res.json.token as string));
    expect((await call('POST', '/v1/auth/token', null, { clientId: id, secret: `${secret}x` })).status).toBe(401);
  },

  'GET /v1/whoami': async ({ call, admin }) => ok(await call('GET', '/v1/whoami', admin)),

  'GET /v1/cas': async ({ call, admin, env }) => {
    ok(await call('GET', '/v1/cas', admin));
    const roots = await call('GET', `/v1/cas?type=root`, admin);
    ok(roots);
    expect((roots.json.cas as { id: string }[]).map((c) => c.id)).toEqual([env.rootId]);
  },

  'GET /v1/cas/{id}': async ({ call, admin, env }) => {
    ok(await call('GET', `/v1/cas/${env.issuingId}`, admin));
    expect((await call('GET', `/v1/cas/${randomUUID()}`, admin)).status).toBe(404);
  },

  'GET /v1/cas/{id}/chain': async ({ call, admin, env }) => {
    const res = await call('GET', `/v1/cas/${env.issuingId}/chain`, admin);
    ok(res);
    expect(res.json.chainLength).toBe(2);
    const pem = await call('GET', `/v1/cas/${env.issuingId}/chain`, admin, undefined, { accept: 'application/pem-certificate-chain' });
    ok(pem);
    expect(pem.headers.get('content-type')).toMatch(/^application\/pem-certificate-chain/);
  },

  'POST /v1/certificates': async ({ call, admin, env, f }) => {
    await f.managed();
    await f.fromCsr('csr.openapi.test');
    // A refusal by policy: the error's shape, with the rule beside it.
    const weak = makeCsr(env.dir, { key: 'rsa-1024', subject: '/CN=weak.openapi.test' });
    const refused = await call('POST', '/v1/certificates', admin, { caId: env.issuingId, mode: 'csr', csrPem: weak.csrPem });
    expect(refused.status, refused.text).toBe(422);
    expect(refused.json).toMatchObject({ code: 'badKey', rule: 'rsaModulusSize', error: 'the RSA modulus is 1024 bits; it must be 2048 to 8192 bits [rule: rsaModulusSize]' });
    expect((await call('POST', '/v1/certificates', admin, { caId: env.issuingId, commonName: 'x.openapi.test', keyAlgorithm: 'RSA-1024' })).status).toBe(400);
    const pending = await f.pendingRequest();
    expect(pending).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  },

  'GET /v1/certificates': async ({ call, admin, env, f }) => {
    await f.managed();
    const res = await call('GET', `/v1/certificates?caId=${env.issuingId}&status=active&search=openapi&pageSize=5`, admin);
    ok(res);
    expect(res.json.total).toBeGreaterThan(0);
    await f.fromCsr('second.openapi.test');
    const first = await call('GET', '/v1/certificates?pageSize=1&sort=oldest', admin);
    ok(first);
    const next = await call('GET', `/v1/certificates?pageSize=1&after=${first.json.nextCursor as string}`, admin);
    ok(next);
    expect(next.json.certificates).toHaveLength(1);
    expect((await call('GET', '/v1/certificates?after=nonsense', admin)).status).toBe(400);
    ok(await call('GET', '/v1/certificates?sort=-expires&page=1&pageSize=2', admin));
    const csv = await call('GET', '/v1/certificates?sort=commonName&format=csv', admin);
    ok(csv);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
  },

  'GET /v1/certificates/{id}': async ({ call, admin, f }) => {
    const { id } = await f.managed();
    ok(await call('GET', `/v1/certificates/${id}`, admin));
    expect((await call('GET', `/v1/certificates/${randomUUID()}`, admin)).status).toBe(404);
  },

  'POST /v1/certificates/{id}/renew': async ({ call, admin, f }) => {
    const { id } = await f.managed();
    const res = await call('POST', `/v1/certificates/${id}/renew`, admin, {});
    ok(res, 201);
    expect(res.json.privateKey).toMatch(/BEGIN PRIVATE KEY/);
  },

  'POST /v1/certificates/{id}/revoke': async ({ call, admin, f }) => {
    const id = await f.fromCsr('revoke.openapi.test');
    const res = await call('POST', `/v1/certificates/${id}/revoke`, admin, { reason: 'keyCompromise' });
    ok(res);
    expect((await call('POST', `/v1/certificates/${id}/revoke`, admin, { reason: 'no-such-reason' })).status).toBe(400);
  },

  'POST /v1/certificates/{id}/reinstate': async ({ call, admin, f }) => {
    const id = await f.fromCsr('hold.openapi.test');
    ok(await call('POST', `/v1/certificates/${id}/revoke`, admin, { reason: 'certificateHold' }));
    const res = await call('POST', `/v1/certificates/${id}/reinstate`, admin);
    ok(res);
    expect((res.json.certificate as { revoked_at: unknown }).revoked_at).toBeNull();
  },

  'GET /v1/requests/{id}': async ({ call, admin, f }) => {
    const { requestId } = await f.managed();
    ok(await call('GET', `/v1/requests/${requestId}`, admin));
  },

  'POST /v1/requests/{id}/approve': async ({ call, admin, f }) => {
    const id = await f.pendingRequest();
    ok(await call('POST', `/v1/requests/${id}/approve`, admin));
  },

  'POST /v1/requests/{id}/reject': async ({ call, admin, f }) => {
    const id = await f.pendingRequest();
    const res = await call('POST', `/v1/requests/${id}/reject`, admin, { reason: 'not this one' });
    ok(res);
    expect(res.json.status).toBe('rejected');
  },

  'GET /v1/products': async ({ call, admin }) => ok(await call('GET', '/v1/products', admin)),

  'GET /v1/products/{id}': async ({ call, admin, f }) => ok(await call('GET', `/v1/products/${(await f.escrowProduct()).id}`, admin)),

  'GET /v1/requests': async ({ call, admin, f }) => {
    await f.pendingRequest();
    const res = await call('GET', '/v1/requests?status=pending_approval&pageSize=5', admin);
    ok(res);
    expect((res.json.requests as unknown[]).length).toBeGreaterThan(0);
  },

  'POST /v1/requests/{id}/decline': async ({ call, admin, f }) => ok(await call('POST', `/v1/requests/${await f.pendingRequest()}/decline`, admin, { comment: 'not this one' })),

  'POST /v1/certificates/{id}/suspend': async ({ call, admin, f }) => ok(await call('POST', `/v1/certificates/${await f.fromCsr('suspend.openapi.test')}/suspend`, admin, {})),

  'POST /v1/certificates/serial/{serial}/revoke': async ({ call, admin, f }) => {
    const id = await f.fromCsr('serial.openapi.test');
    const serial = ((await call('GET', `/v1/certificates/${id}`, admin)).json.serial_number as string).toUpperCase();
    ok(await call('POST', `/v1/certificates/serial/${serial}/revoke`, admin, { reason: 'keyCompromise' }));
  },

  'POST /v1/certificates/{id}/rekey': async ({ call, admin, f }) => ok(await call('POST', `/v1/certificates/${(await f.managed()).id}/rekey`, admin, {}), 201),

  'POST /v1/certificates/{id}/replace': async ({ call, admin, env, f }) => {
    const id = await f.fromCsr('replace.openapi.test');
    const { csrPem } = makeCsr(env.dir, { subject: '/CN=replace.openapi.test', san: ['DNS:replace.openapi.test'] });
    ok(await call('POST', `/v1/certificates/${id}/replace`, admin, { csrPem, revokeOriginal: true }), 201);
  },

  'GET /v1/certificates/{id}/download': async ({ call, admin, f }) => {
    const { id } = await f.managed();
    for (const format of ['pem', 'der', 'chain', 'pkcs7']) ok(await call('GET', `/v1/certificates/${id}/download?format=${format}`, admin));
  },

  'GET /v1/certificates/{id}/audit': async ({ call, admin, f }) => ok(await call('GET', `/v1/certificates/${(await f.managed()).id}/audit?pageSize=10`, admin)),

  'POST /v1/certificates/{id}/download': async ({ call, admin, f }) => ok(await call('POST', `/v1/certificates/${await f.escrowed()}/download`, admin, { format: 'pkcs12', password: 'correct horse battery' })),

  'POST /v1/certificates/import': async ({ f }) => {
    await f.imported();
  },

  'POST /v1/certificates/imported/revoke': async ({ call, admin, f }) => {
    const { serial, issuer } = await f.imported();
    ok(await call('POST', '/v1/certificates/imported/revoke', admin, { issuer, serialNumber: serial, reason: 'superseded' }));
  },

  'PUT /v1/certificates/{id}': async ({ call, admin, f }) => ok(await call('PUT', `/v1/certificates/${(await f.managed()).id}`, admin, { owner: 'web team', notes: 'behind the load balancer' })),

  'POST /v1/certificates/{id}/mark-renewed': async ({ call, admin, f }) => ok(await call('POST', `/v1/certificates/${(await f.imported()).id}/mark-renewed`, admin, { renewedBy: 'renewed by the vendor' })),

  'DELETE /v1/certificates/{id}': async ({ call, admin, f }) => ok(await call('DELETE', `/v1/certificates/${(await f.imported()).id}`, admin), 204),

  'GET /v1/certificates/{id}/locations': async ({ call, admin, f }) => ok(await call('GET', `/v1/certificates/${(await f.managed()).id}/locations`, admin)),

  'POST /v1/certificates/{id}/locations': async ({ call, admin, f }) => ok(await call('POST', `/v1/certificates/${(await f.managed()).id}/locations`, admin, { host: 'web1.openapi.test', port: 443, kind: 'server' }), 201),

  'PUT /v1/certificates/{id}/locations/{locationId}': async ({ call, admin, f }) => {
    const { id } = await f.managed();
    const made = await call('POST', `/v1/certificates/${id}/locations`, admin, { host: 'web2.openapi.test', kind: 'server' });
    const locationId = ((made.json.location ?? made.json) as { id: string }).id;
    ok(await call('PUT', `/v1/certificates/${id}/locations/${locationId}`, admin, { host: 'web3.openapi.test', port: 8443, kind: 'server' }));
  },

  'DELETE /v1/certificates/{id}/locations/{locationId}': async ({ call, admin, f }) => {
    const { id } = await f.managed();
    const made = await call('POST', `/v1/certificates/${id}/locations`, admin, { host: 'web4.openapi.test', kind: 'server' });
    const locationId = ((made.json.location ?? made.json) as { id: string }).id;
    const res = await call('DELETE', `/v1/certificates/${id}/locations/${locationId}`, admin);
    expect(res.status, res.text).toBe(204);
  },

  'POST /v1/credentials': async ({ f }) => {
    await f.credential();
  },

  'GET /v1/credentials': async ({ call, admin }) => ok(await call('GET', '/v1/credentials?type=rest&pageSize=2', admin)),

  'GET /v1/credentials/{id}': async ({ call, admin, f }) => ok(await call('GET', `/v1/credentials/${(await f.credential()).id}`, admin)),

  'POST /v1/credentials/{id}/rotate': async ({ call, admin, f }) => ok(await call('POST', `/v1/credentials/${(await f.credential()).id}/rotate`, admin, { graceSeconds: 60 })),

  'POST /v1/credentials/{id}/revoke': async ({ call, admin }) => {
    const made = await call('POST', '/v1/credentials', admin, { type: 'est', products: '*' });
    ok(made, 201);
    ok(await call('POST', `/v1/credentials/${made.json.id as string}/revoke`, admin));
  },

  'GET /v1/audit': async ({ call, admin }) => ok(await call('GET', '/v1/audit?pageSize=10', admin)),

  // SCEP's admin route, served and documented by REST.
  'POST /v1/scep/challenges': async ({ call, admin, env }) => {
    const res = await call('POST', '/v1/scep/challenges', admin, { productId: env.productId, subject: 'CN=Device.openapi.test', ttlSeconds: 60 });
    ok(res, 201);
    expect(res.json.subject).toBe('device.openapi.test');
    expect((await call('POST', '/v1/scep/challenges', admin, { productId: 'no-such-product' })).status).toBe(400);
  },

  'GET /v1/audit/verify': async ({ call, admin }) => {
    const res = await call('GET', '/v1/audit/verify', admin);
    ok(res);
    expect(res.json.ok).toBe(true);
  },

  'POST /v1/verify': async ({ call, admin, env, f }) => {
    const res = await call('POST', '/v1/verify', admin, { certificatePem: (await f.managed()).pem });
    ok(res);
    expect(res.json.valid).toBe(true);
    ok(await call('POST', '/v1/verify', admin, { certificatePem: env.issuingPem }));
    expect((await call('POST', '/v1/verify', admin, { certificatePem: 'not a PEM' })).status).toBe(400);
  },

  'GET /v1/reports/inventory': async ({ call, admin, f }) => {
    await f.managed();
    const res = await call('GET', '/v1/reports/inventory', admin);
    ok(res);
    expect(res.json.total).toBeGreaterThan(0);
    const csv = await call('GET', '/v1/reports/inventory?format=csv', admin);
    ok(csv);
    expect(csv.text).toMatch(/^dimension,value,name,count\r\n/);
  },

  'GET /v1/reports/timeline': async ({ call, admin, f }) => {
    await f.managed();
    const res = await call('GET', '/v1/reports/timeline?days=7&weeks=4', admin);
    ok(res);
    expect((res.json.issued_per_day as { count: number }[]).at(-1)?.count).toBeGreaterThan(0);
    expect(res.json.expiring_per_week).toHaveLength(4);
  },

  'POST /v1/cas': async ({ call, admin, env }) => {
    ok(await call('POST', '/v1/cas', admin, { name: 'openapi-issuing', parent_ca_id: env.rootId, validity_days: 365 }), 201);
  },

  'POST /v1/products': async ({ call, admin, env }) => {
    ok(await call('POST', '/v1/products', admin, { name: 'openapi-made', ca_id: env.issuingId, template: { maxValidityDays: 90 } }), 201);
  },

  'PUT /v1/products/{id}': async ({ call, admin, env }) => {
    const made = await call('POST', '/v1/products', admin, { name: 'openapi-edited', ca_id: env.issuingId, template: {} });
    ok(made, 201);
    ok(await call('PUT', `/v1/products/${(made.json.product as { id: string }).id}`, admin, { name: 'openapi-edited', template: { maxValidityDays: 60, defaultValidityDays: 30 } }));
  },

  'GET /healthz': async ({ call }) => ok(await call('GET', '/healthz', null)),

  'GET /readyz': async ({ call }) => ok(await call('GET', '/readyz', null)),

  'GET /metrics': async ({ call }) => {
    const res = await call('GET', '/metrics', null);
    ok(res);
    expect(res.text).toMatch(/^# (HELP|TYPE) certgate_/m);
  },

  'POST /v1/verify/signature': async ({ call, admin, f }) => {
    const { id, privateKey } = await f.managed();
    const data = Buffer.from('signed by the managed key');
    const signature = createSign('sha256').update(data).sign(privateKey);
    const res = await call('POST', '/v1/verify/signature', admin, { certificateId: id, data: data.toString('base64'), signature: signature.toString('base64') });
    ok(res);
    expect(res.json.valid).toBe(true);
  },

  'POST /v1/webhooks': async ({ call, admin }) => {
    const res = await call('POST', '/v1/webhooks', admin, { url: `${NOWHERE}/certgate`, events: ['certificate.issued'] });
    ok(res, 201);
    expect(res.json.secret).toMatch(/^whsec_/);
    expect((await call('POST', '/v1/webhooks', admin, { url: 'ftp://hooks.example.com/', events: ['certificate.issued'] })).status).toBe(400);
  },

  'GET /v1/webhooks': async ({ call, admin }) => ok(await call('GET', '/v1/webhooks', admin)),

  'GET /v1/webhooks/{id}': async ({ call, admin }) => {
    const made = await call('POST', '/v1/webhooks', admin, { url: `${NOWHERE}/one`, events: ['certificate.revoked'] });
    ok(await call('GET', `/v1/webhooks/${made.json.id as string}`, admin));
    expect((await call('GET', `/v1/webhooks/${randomUUID()}`, admin)).status).toBe(404);
  },

  'GET /v1/webhooks/{id}/deliveries': async ({ call, admin }) => {
    const made = await call('POST', '/v1/webhooks', admin, { url: `${NOWHERE}/log`, events: ['certificate.revoked'] });
    ok(await call('GET', `/v1/webhooks/${made.json.id as string}/deliveries`, admin));
  },

  'POST /v1/domains': async ({ call, admin, f }) => {
    const id = await f.domain('add');
    const name = (await call('GET', `/v1/domains/${id}`, admin)).json.name as string;
    ok(await call('POST', '/v1/domains', admin, { name }));
    expect((await call('POST', '/v1/domains', admin, { name: 'not a name' })).status).toBe(400);
  },

  'GET /v1/domains': async ({ call, admin, f }) => {
    await f.domain('list');
    const res = await call('GET', '/v1/domains?name=.openapi.test&pageSize=1', admin);
    ok(res);
    ok(await call('GET', `/v1/domains?after=${res.json.nextCursor as string}`, admin));
  },

  'GET /v1/domains/{id}': async ({ call, admin, f }) => {
    ok(await call('GET', `/v1/domains/${await f.domain('one')}`, admin));
    expect((await call('GET', `/v1/domains/${randomUUID()}`, admin)).status).toBe(404);
  },

  // No answerer publishes the token: the check fails, on loopback (the stub DNS server's address).
  'POST /v1/domains/{id}/validate': async ({ call, admin, f }) => {
    ok(await call('POST', `/v1/domains/${await f.domain('queued')}/validate`, admin, { method: 'dns-01' }), 202);
    const waited = await call('POST', `/v1/domains/${await f.domain('waited')}/validate?wait=20`, admin, {});
    ok(waited);
    expect(waited.json.status).toBe('failed');
  },

  'DELETE /v1/domains/{id}': async ({ call, admin, f }) => {
    const id = await f.domain('gone');
    ok(await call('DELETE', `/v1/domains/${id}`, admin), 204);
    expect((await call('DELETE', `/v1/domains/${id}`, admin)).status).toBe(404);
  },

  'GET /v1/requests/{id}/dcv': async ({ call, admin, f }) => {
    const res = await call('GET', `/v1/requests/${await f.pendingDcv()}/dcv`, admin);
    ok(res);
    expect(res.json.names).toEqual([expect.objectContaining({ name: 'dcv.openapi.test', covered: false })]);
  },

  'POST /v1/requests/{id}/dcv/recheck': async ({ call, admin, f }) => ok(await call('POST', `/v1/requests/${await f.pendingDcv()}/dcv/recheck`, admin, {}), 202),

  'GET /v1/certificates/{id}/dcv': async ({ call, admin, f }) => {
    const res = await call('GET', `/v1/certificates/${(await f.managed()).id}/dcv`, admin);
    ok(res);
    expect(res.json.names).toEqual([]);
  },

  'DELETE /v1/webhooks/{id}': async ({ call, admin }) => {
    const made = await call('POST', '/v1/webhooks', admin, { url: `${NOWHERE}/gone`, events: ['dcv.failed'] });
    ok(await call('DELETE', `/v1/webhooks/${made.json.id as string}`, admin));
    expect((await call('DELETE', `/v1/webhooks/${made.json.id as string}`, admin)).status).toBe(404);
  },

  // Organizations made by the console, so that the admin is not their maker (four eyes).
  'POST /v1/organizations': async ({ call, admin }) => {
    ok(await call('POST', '/v1/organizations', admin, { name: 'OpenAPI Corp', country: 'DE', holder: '*' }), 201);
    expect((await call('POST', '/v1/organizations', admin, { name: 'OpenAPI Corp', country: 'Germany' })).status).toBe(400);
  },

  'GET /v1/organizations': async ({ call, admin }) => ok(await call('GET', '/v1/organizations?status=pending&pageSize=5', admin)),

  'GET /v1/organizations/{id}': async ({ call, admin, env }) => {
    const made = await env.server.rt.organizations.create({ name: 'OpenAPI Read Co', holder: '*' }, 'cli', CLI_CONTEXT);
    ok(await call('GET', `/v1/organizations/${made.id}`, admin));
    expect((await call('GET', `/v1/organizations/${randomUUID()}`, admin)).status).toBe(404);
  },

  'POST /v1/organizations/{id}/approve': async ({ call, admin, env }) => {
    const made = await env.server.rt.organizations.create({ name: 'OpenAPI Approved Co', holder: '*' }, 'cli', CLI_CONTEXT);
    ok(await call('POST', `/v1/organizations/${made.id}/approve`, admin));
    expect((await call('POST', `/v1/organizations/${made.id}/approve`, admin)).status).toBe(409);
  },

  'POST /v1/organizations/{id}/decline': async ({ call, admin, env }) => {
    const made = await env.server.rt.organizations.create({ name: 'OpenAPI Declined Co', holder: '*' }, 'cli', CLI_CONTEXT);
    expect((await call('POST', `/v1/organizations/${made.id}/decline`, admin, {})).status).toBe(400);
    ok(await call('POST', `/v1/organizations/${made.id}/decline`, admin, { reason: 'not in the register' }));
  },

  'DELETE /v1/organizations/{id}': async ({ call, admin, env }) => {
    const made = await env.server.rt.organizations.create({ name: 'OpenAPI Removed Co', holder: '*' }, 'cli', CLI_CONTEXT);
    ok(await call('DELETE', `/v1/organizations/${made.id}`, admin));
    expect((await call('DELETE', `/v1/organizations/${made.id}`, admin)).status).toBe(404);
  },
};

/** The host's own routes (src/app.ts), outside /v1. */
const HOST_OPERATIONS = ['GET /healthz', 'GET /readyz', 'GET /metrics'];

/**
 * Front-ends the document leaves out, and why: each speaks a standard's wire format to that
 * standard's clients (certbot, strongSwan, sscep), and its RFC is its description. A protocol
 * mounted with a router and not named here must be REST's or be added here with its reason.
 */
const NOT_IN_THE_DOCUMENT: Record<string, string> = {
  acme: 'RFC 8555',
  est: 'RFC 7030',
  scep: 'RFC 8894',
  cmp: 'RFC 9483 (lightweight CMP) over RFC 9811 HTTP',
  status: 'CRLs and OCSP, RFC 5280 and RFC 6960',
  docs: 'the viewer of this document',
  console: 'the web console\'s pages and its sign-in; everything the console reads or changes goes through this document\'s API',
  mcp: 'the Model Context Protocol over Streamable HTTP: its tools describe themselves (tools/list)',
};
/** Wire endpoints the host itself serves, for the same reason as the protocols above. */
const HOST_WIRE_ROUTES: Record<string, string> = {
  'GET /.well-known/acme-challenge/{token}': 'RFC 8555 §8.3: an upstream ACME CA validating the orders certgate placed there',
};

/** `GET /v1/certificates/{id}` for every route an express router (and the routers it mounts) serves, with where each came from. */
function servedRoutes(stack: RouterLayer[], prefix: string, owner: (handle: unknown) => string | undefined, from = 'host'): { key: string; from: string }[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const methods = Object.keys(layer.route.methods).filter((m) => m !== '_all');
      const paths = [layer.route.path].flat();
      return methods.flatMap((m) => paths.map((path) => ({ key: `${m.toUpperCase()} ${openApiPath(`${prefix}${path}`)}`, from })));
    }
    const inner = (layer.handle as { stack?: RouterLayer[] }).stack;
    if (!inner) return [];
    const mount = layer.rawPath === '/' || layer.rawPath === undefined ? '' : String(layer.rawPath);
    return servedRoutes(inner, `${prefix}${mount}`, owner, owner(layer.handle) ?? from);
  });
}

interface RouterLayer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle: unknown;
  rawPath?: unknown;
}

const d = REST_DEPLOYMENTS[0];

describe.skipIf(!d || d.skip)('the OpenAPI document at /v1/openapi', () => {
  let env: RestEnv;
  let check: OpenApiCheck;
  let tools: Tools;
  // Domain validation's checks stay on loopback: names resolve here, to 127.0.0.1.
  let dns: StubDnsServer;

  beforeAll(async () => {
    dns = await startDnsServer();
    env = await startRestEnv(d as (typeof REST_DEPLOYMENTS)[number], { webhookAllowPrivate: true, dnsServer: dns.address, http01Port: await freePort() });
    check = await OpenApiCheck.load(env.base);
    tools = { env, call: checkedApi(check, env.api), admin: env.adminToken, f: new Fixtures(() => tools) };
  });
  afterAll(async () => {
    await env?.close();
    await dns?.stop();
  });

  /** Whether the host serves GET /metrics (not its "not found" for a path nothing owns). */
  const metricsServed = async (): Promise<boolean> => (await env.api('GET', '/metrics', null)).status !== 404;

  it('is OpenAPI 3.1 whose every schema compiles (ajv, JSON Schema 2020-12)', () => {
    expect(check.document.openapi).toMatch(/^3\.1\.\d+$/);
    expect(check.operations.length).toBeGreaterThan(20);
    const pointers = check.schemaPointers();
    expect(pointers.length).toBeGreaterThan(check.operations.length);
    for (const pointer of pointers) expect(() => check.validator(pointer), pointer).not.toThrow();
  });

  it('uses OpenAPI path templates, documents the error answers, and asks for a bearer credential except where none is needed', () => {
    const schemes = (check.document.components as { securitySchemes: Record<string, { scheme?: string; description?: string }> }).securitySchemes;
    expect(schemes.bearer?.scheme).toBe('bearer');
    expect(check.document.security).toEqual([{ bearer: [] }]);
    for (const op of check.operations) {
      if (HOST_OPERATIONS.includes(op.key)) continue;
      expect(op.path, op.key).toMatch(/^\/v1\//);
      expect(op.path, op.key).not.toMatch(/:/);
      const responses = op.operation.responses as Record<string, { content?: Record<string, { schema: unknown }> }>;
      for (const status of ['400', '401', '403', '404', '409', '422', '429', '503']) {
        expect(responses[status]?.content?.['application/json']?.schema, `${op.key} ${status}`).toEqual({ $ref: '#/components/schemas/Error' });
      }
      const isPublic = op.key === 'POST /v1/auth/token' || op.key === 'GET /v1/openapi';
      expect(op.operation.security, op.key).toEqual(isPublic ? [] : undefined);
      for (const param of (op.operation.parameters ?? []) as { in: string; name: string }[]) {
        if (param.in === 'path') expect(op.path, op.key).toContain(`{${param.name}}`);
      }
    }
    // The host's probes are open; /metrics is open unless CERTGATE_METRICS_TOKEN is set.
    const security = (key: string) => check.operations.find((o) => o.key === key)?.operation.security;
    expect(security('GET /healthz')).toEqual([]);
    expect(security('GET /readyz')).toEqual([]);
    expect(security('GET /metrics')).toEqual([{}, { metricsToken: [] }]);
    expect(schemes.bearer?.description).toContain('POST /v1/auth/token');
    const cert = check.operations.find((o) => o.key === 'GET /v1/certificates/{id}');
    expect(cert).toBeDefined();
    // Shared schemas are components, referenced.
    expect(JSON.stringify(cert?.operation.responses)).toContain('"#/components/schemas/CertificateDetail"');
    const issue = check.operations.find((o) => o.key === 'POST /v1/certificates');
    expect((issue?.operation.parameters as { name: string; in: string }[]).map((p) => `${p.in}:${p.name}`)).toEqual(['header:Idempotency-Key']);
  });

  it('is served without a credential, and answers without one are 401 {error} as documented', async () => {
    for (const op of check.operations) {
      if (op.operation.security) continue;
      const path = op.path.replace(/\{[^}]+\}/g, randomUUID());
      const res = await env.api(op.method.toUpperCase(), path, null, op.method === 'get' ? undefined : {});
      expect(res.status, `${op.key}: ${res.text}`).toBe(401);
      check.check(op.method, path, res);
    }
  });

  it('is browsable at /docs: Swagger UI from the package, no CDN, no inline script, pointed at the document', async () => {
    const bare = await fetch(`${env.base}/docs`, { redirect: 'manual' });
    expect(bare.status).toBe(301);
    const pageUrl = new URL(bare.headers.get('location') as string, `${env.base}/docs`);
    expect(pageUrl.pathname).toBe('/docs/');
    const page = await fetch(pageUrl);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    const html = await page.text();
    // Every script is loaded from a file; nothing comes from another host.
    for (const m of html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)) {
      expect(m[1]).toMatch(/src="/);
      expect((m[2] as string).trim()).toBe('');
    }
    expect(html).not.toMatch(/https?:\/\//);
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => new URL(m[1] as string, pageUrl));
    expect(assets.map((a) => a.pathname)).toContain('/docs/swagger-ui-bundle.js');
    for (const asset of assets) {
      const res = await fetch(asset);
      expect(res.status, asset.pathname).toBe(200);
      expect(res.headers.get('content-type'), asset.pathname).toMatch(/javascript|css|png/);
    }
    const initializer = await (await fetch(new URL('swagger-initializer.js', pageUrl))).text();
    const documentUrl = /url: "([^"]+)"/.exec(initializer)?.[1];
    expect(documentUrl).toBeDefined();
    const document = await fetch(new URL(documentUrl as string, pageUrl));
    expect(document.status).toBe(200);
    expect(((await document.json()) as { openapi: string }).openapi).toBe(check.document.openapi);
    // The package's other files are not served.
    const other = await fetch(`${env.base}/docs/package.json`);
    expect(other.status).toBe(404);
    expect(((await other.json()) as { error: string }).error).toMatch(/not found/);
  });

  it('documents every route the gateway serves over HTTP, but the enrollment protocols\' wire endpoints', () => {
    const { rt } = env.server;
    for (const p of rt.protocols) expect(p.module.name === 'rest' || p.module.name in NOT_IN_THE_DOCUMENT, `protocol ${p.module.name}: document it, or say in NOT_IN_THE_DOCUMENT why not`).toBe(true);
    const owner = (handle: unknown) => rt.protocols.find((p) => p.mounted.router === handle)?.module.name;
    const app = createApp(rt) as unknown as { router: { stack: RouterLayer[] } };
    const served = servedRoutes(app.router.stack, '', owner);
    const documented = check.operations.map((o) => o.key);
    const fromRest = served.filter((r) => r.from === 'rest');
    // The walk sees what it should: REST's routes, SCEP's admin route among them, and the host's.
    expect(fromRest.length).toBeGreaterThan(40);
    expect(fromRest.map((r) => r.key)).toContain('POST /v1/scep/challenges');
    expect(served.filter((r) => r.from === 'acme').length).toBeGreaterThan(3);
    expect(served.map((r) => r.key)).toEqual(expect.arrayContaining(Object.keys(HOST_WIRE_ROUTES)));
    const missing = served.filter((r) => !(r.from in NOT_IN_THE_DOCUMENT) && !(r.key in HOST_WIRE_ROUTES) && !documented.includes(r.key)).map((r) => `${r.key} (${r.from})`);
    expect(missing, 'served but not in the OpenAPI document').toEqual([]);
    // And the other way: nothing documented that REST or the host does not serve (/metrics once the host serves it).
    const servedKeys = new Set(served.map((r) => r.key));
    expect(documented.filter((k) => !servedKeys.has(k) && k !== 'GET /metrics')).toEqual([]);
  });

  for (const [key, exercise] of Object.entries(EXERCISES)) {
    it(`${key} answers as the document says`, async (ctx) => {
      expect(check.operations.map((o) => o.key), `${key} is in the exercise table but not in the document`).toContain(key);
      // The metrics endpoint comes with the metrics work: until the host serves it, its exercise waits.
      if (key === 'GET /metrics' && !(await metricsServed())) ctx.skip();
      await exercise(tools);
      const statuses = [...(check.exercised.get(key) ?? [])];
      expect(statuses.some((s) => s >= 200 && s < 300), `${key} was never answered with a success (saw ${statuses.join(', ') || 'nothing'})`).toBe(true);
    });
  }

  it('has had every operation of the document exercised', async () => {
    const missing = check.operations.map((o) => o.key).filter((k) => !(k in EXERCISES));
    expect(missing, 'operations with no entry in EXERCISES (add one)').toEqual([]);
    const waiting = (await metricsServed()) ? [] : ['GET /metrics'];
    expect(check.unexercised().filter((k) => !waiting.includes(k)), 'operations no checked call reached').toEqual([]);
  });
});
