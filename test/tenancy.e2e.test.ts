// Issue 19, "Tests": the hostile tenant. One gateway, two products (a: a.test, b: b.test) on the SAME
// issuing CA, each open to REST, ACME, EST and SCEP, and a credential of every type bound to each.
// Tenant A then tries every action on B's objects over every protocol. Each attempt must be refused
// in its protocol's own form, audited as a refusal, and leave B with exactly what it had (no
// certificate, no request, its certificates still good). The same table run against A's own
// objects is the positive control: the refusals are decisions, not broken routes.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import type { AuditEntry, CredentialRecord, Permission, ProductRecord } from '../src/core/types.js';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { fromPem } from '../src/pki/pem.js';
import { MESSAGE_TYPE } from '../protocols/scep/algorithms.js';
import { AcmeTestClient, makeCsrFor, newAccountKey, pemToB64url, splitPem, type AcmeReply, type AuthzJson, type ChallengeJson, type RawReply, type Solver, type Transport } from './helpers/acmeClient.js';
import { startAcmeEnv, type AcmeEnv } from './helpers/acmeEnv.js';
import { eabBinding } from './helpers/eab.js';
import { basic, csrDer, opensslCertsOf } from './helpers/est.js';
import { httpRequest, loopbackTransport, restCall } from './helpers/http.js';
import { makeCsr } from './helpers/openssl.js';
import { buildRequest, getCaCert, readReply, rsaKey, selfSigned, type RaInfo } from './helpers/scepClient.js';
import { until } from './helpers/until.js';

type Protocol = 'rest' | 'acme' | 'est' | 'scep';

/** What came back, whatever the protocol: enough to tell its own refusal from anything else. */
interface Answer {
  status: number;
  text: string;
  json: Record<string, unknown>;
  contentType: string;
  /** SCEP: the CertRep's pkiStatus and failInfo. */
  scep?: { status: string; failInfo: string | null };
}

/** One tenant: its products, its credentials of every type, and objects it made with them. */
interface Tenant {
  name: 'a' | 'b';
  product: ProductRecord;
  /** Same suffix, but every request waits for an approver: where its pending requests live. */
  approvalProduct: ProductRecord;
  rest: { credential: CredentialRecord; token: string };
  /** A second REST key of the same tenant (issue only): the requester an approver is not. */
  rest2: { credential: CredentialRecord; token: string };
  /** A key officer's REST key: may export any key on the shared CA, within the tenant's products. */
  restAny: { credential: CredentialRecord; token: string };
  eab: { kid: string; hmacKey: string };
  acme: AcmeTestClient;
  est: { username: string; password: string; id: string };
  scep: { id: string; challenge: string };
  /** A good certificate (REST, CSR mode) and an escrowed-key one (REST, managed mode). */
  cert: { id: string; serial: string; pem: string };
  managed: { id: string; serial: string; pem: string };
  /** An EST certificate with its key: a TLS client certificate of this tenant. */
  estTls: { cert: string; key: string; name: string };
}

/** Whatever a row's attempt acts on, made (by the victim's own credentials) before B is counted. */
interface Target {
  id: string;
  serial?: string;
  pem?: string;
  /** ACME: the URL of the victim's object (certificate, order, finalize, challenge). */
  url?: string;
  names?: string[];
}

interface Row {
  protocol: Protocol;
  action: string;
  prepare?: (victim: Tenant) => Promise<Target>;
  /** Tenant A's attempt on the victim's object (or under the victim's product). */
  attempt: (victim: Tenant, target: Target) => Promise<Answer>;
  /** The protocol's documented refusal for this attempt, asserted exactly. */
  refused: (a: Answer, victim: Tenant, target: Target) => void;
  /** What the same attempt gets on A's own product. */
  allowed: (a: Answer, victim: Tenant, target: Target) => void;
  /** A refusal with nothing to refuse in the trail: a list answered without B's objects. */
  filtered?: true;
  /** The products the refusal's audit entry may name (default: the victim's): where the decision was taken. */
  auditProducts?: (victim: Tenant) => string[];
}

let env: AcmeEnv;
let httpsPort: number;
let trust: string;
let a: Tenant;
let b: Tenant;
let dir: string;
let n = 0;
/** The loopback address the attempt under way comes from (undefined: set-up, the system's choice). */
let source: string | undefined;
let transport: Transport;
const uniq = (): string => `${Date.now().toString(36)}${(n++).toString(36)}`;

// Protocol clients.

async function rest(token: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await httpRequest(`${env.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    ...(source ? { from: source } : {}),
  });
  const text = res.body.toString('latin1');
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // PEM, DER, PKCS#7, PKCS#12 or empty.
  }
  return { status: res.status, text, json, contentType: String(res.headers['content-type'] ?? '') };
}

const admin = (method: string, path: string, body?: unknown) => restCall(env.base, env.adminToken, method, path, body);

const acmeAnswer = (r: AcmeReply<unknown>): Answer => ({ status: r.status, text: r.text, json: r.json as Record<string, unknown>, contentType: r.contentType });

const estAnswer = (r: RawReply): Answer => ({ status: r.status, text: r.body.toString('latin1'), json: {}, contentType: String(r.headers['content-type'] ?? '') });

function est(path: string, csrPem: string, o: { headers?: Record<string, string>; cert?: string; key?: string } = {}): Promise<RawReply> {
  return httpRequest(`https://127.0.0.1:${httpsPort}${path}`, {
    ...o,
    ca: trust,
    body: csrDer(csrPem).toString('base64'),
    headers: { 'content-type': 'application/pkcs10', ...o.headers },
    ...(source ? { from: source } : {}),
  });
}

const csrFor = (...names: string[]): { csrPem: string; keyPath: string } => makeCsr(dir, { subject: `/CN=${names[0]}`, san: names.map((x) => `DNS:${x}`) });

const raOf = new Map<string, RaInfo>();
const scepKey = rsaKey();

async function scepEnroll(label: string, challenge: string, cn: string): Promise<Answer> {
  const url = `${env.base}/scep/${label}`;
  const ra = raOf.get(url) ?? (await getCaCert(url));
  raOf.set(url, ra);
  const requester = selfSigned(scepKey, `CN=${cn}`);
  const csr = fromPem(buildCsr(scepKey, `CN=${cn}`, {}, { challengePassword: challenge }), ['CERTIFICATE REQUEST']);
  const der = await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csr, transactionId: `tenancy-${uniq()}` });
  const res = await httpRequest(`${url}?operation=PKIOperation`, { method: 'POST', body: der, ...(source ? { from: source } : {}) });
  const reply = res.status === 200 ? readReply(res.body, requester) : undefined;
  return { status: res.status, text: reply ? reply.status : res.body.toString('latin1'), json: {}, contentType: String(res.headers['content-type'] ?? ''), ...(reply ? { scep: { status: reply.status, failInfo: reply.failInfo } } : {}) };
}

const http01: Solver = (challenge, keyAuthorization) => env.http01.set(challenge.token, keyAuthorization);

/**
 * openssl ocsp prints its verdicts on stdout and "Response verify OK" on stderr; it may exit 1.
 * Asynchronous: the responder runs in this very process.
 */
function ocspQuery(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile('openssl', ['ocsp', ...args], { encoding: 'utf8' }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
}

// Objects a tenant makes with its own credentials.

async function issueRest(t: Tenant, name: string, extra: Record<string, unknown> = {}, token = t.rest.token): Promise<{ id: string; serial: string; pem: string }> {
  const body = extra.mode === 'managed' ? { productId: t.product.id, commonName: name, ...extra } : { productId: t.product.id, csrPem: csrFor(name).csrPem, ...extra };
  const res = await restCall(env.base, token, 'POST', '/v1/certificates', body);
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  const c = res.json.certificate as { id: string; serial_number: string; certificate_pem: string };
  return { id: c.id, serial: c.serial_number, pem: c.certificate_pem };
}

/** A request of the tenant's that waits for an approver; made by its second key. */
async function pendingRequest(t: Tenant): Promise<Target> {
  const res = await restCall(env.base, t.rest2.token, 'POST', '/v1/certificates', { productId: t.approvalProduct.id, csrPem: csrFor(`wait-${uniq()}.${t.name}.test`).csrPem });
  expect(res.status, JSON.stringify(res.json)).toBe(202);
  return { id: res.json.request_id as string };
}

/** A fresh account of the tenant's own, bound to its EAB credential, at its product's directory. */
async function newAcmeAccount(t: Tenant, at: Tenant = t): Promise<{ client: AcmeTestClient; reply: AcmeReply }> {
  const client = new AcmeTestClient(`${env.acmeBase}/acme/${at.product.name}/directory`, await newAccountKey('ES256'), transport);
  const url = (await client.directory()).newAccount;
  const reply = await client.newAccount({ termsOfServiceAgreed: true, externalAccountBinding: await eabBinding(t.eab, client.key.jwk, url) });
  return { client, reply };
}

/** Tenant A's account, speaking to `victim`'s directory. */
function aAcmeAt(victim: Tenant): AcmeTestClient {
  const client = new AcmeTestClient(`${env.acmeBase}/acme/${victim.product.name}/directory`, a.acme.key, transport);
  client.kid = a.acme.kid;
  return client;
}

async function makeTenant(name: 'a' | 'b'): Promise<Tenant> {
  const rt = env.server.rt;
  const template = (requiresApproval: boolean) => ({
    allowedDnsSuffixes: [`${name}.test`],
    escrowKeys: true,
    requiresApproval,
    protocols: {
      acme: { eabRequired: true },
      // The worst case for a shared CA: each product takes certificates of the issuing CA as EST
      // logins, so only product binding keeps A's certificates out of B.
      est: { auth: 'either', trustedCas: ['certgate-issuing'] },
    },
  });
  const product = await env.product(name, template(false));
  const approvalProduct = await env.product(`${name}-approval`, template(true));
  const products = [product.id, approvalProduct.id];
  // Everything a tenant's operator holds on the shared CA, key export of its own requests included.
  const all: Permission = { ca: product.caId, actions: ['read', 'issue', 'revoke', 'approve', 'exportKeys'] };
  const mk = async (label: string, permissions: Permission[]) => {
    const { credential, secret } = await rt.credentials.create({ type: 'rest', name: `rest-${name}-${label}`, products, permissions, admin: false }, CLI_CONTEXT);
    return { credential, token: secret };
  };
  const restKey = await mk('1', [all]);
  const rest2 = await mk('2', [{ ca: product.caId, actions: ['issue'] }]);
  const restAny = await mk('any', [{ ca: product.caId, actions: ['read', 'exportAnyKeys'] }]);
  const eab = await env.eabCredential(products);
  const estCred = await rt.credentials.create({ type: 'est', name: `est-${name}`, products }, CLI_CONTEXT);
  const scepCred = await rt.credentials.create({ type: 'scep', products }, CLI_CONTEXT);
  const t = {
    name,
    product,
    approvalProduct,
    rest: restKey,
    rest2,
    restAny,
    eab,
    est: { username: estCred.credential.name, password: estCred.secret, id: estCred.credential.id },
    scep: { id: scepCred.credential.id, challenge: scepCred.secret },
  } as Tenant;
  const acct = await newAcmeAccount(t);
  expect(acct.reply.status, acct.reply.text).toBe(201);
  t.acme = acct.client;
  t.cert = await issueRest(t, `www.${name}.test`);
  t.managed = await issueRest(t, `key.${name}.test`, { mode: 'managed' });
  const dev = csrFor(`dev.${name}.test`);
  const enrolled = estAnswer(await est(`/${name}/.well-known/est/simpleenroll`, dev.csrPem, { headers: { authorization: basic(t.est) } }));
  expect(enrolled.status, enrolled.text).toBe(200);
  const certPem = opensslCertsOf(Buffer.from(enrolled.text.replace(/\s+/g, ''), 'base64'), dir)[0] as string;
  t.estTls = { cert: certPem, key: readFileSync(dev.keyPath, 'utf8'), name: `dev.${name}.test` };
  return t;
}

// Refusal forms, one per protocol, asserted exactly.

const REST_REFUSED = (a: Answer): void => {
  expect(a.status, a.text).toBe(403);
  expect(a.json.error, a.text).toEqual(expect.any(String));
};
const REST_OK =
  (...statuses: number[]) =>
  (a: Answer): void => {
    expect(statuses, `${a.status} ${a.text.slice(0, 300)}`).toContain(a.status);
  };
const acmeRefused =
  (type: string, status: number) =>
  (a: Answer): void => {
    expect(a.contentType, a.text).toMatch(/^application\/problem\+json/);
    expect({ status: a.status, type: a.json.type }, a.text).toEqual({ status, type: `urn:ietf:params:acme:error:${type}` });
  };
const EST_REFUSED =
  (...statuses: number[]) =>
  (a: Answer): void => {
    expect(statuses, `${a.status} ${a.text.slice(0, 300)}`).toContain(a.status);
    expect(a.contentType, a.text).toMatch(/^text\/plain/);
  };
const ESTOK = (a: Answer): void => expect(a.status, a.text.slice(0, 300)).toBe(200);
const SCEP_REFUSED = (a: Answer): void => {
  expect(a.status, a.text).toBe(200);
  expect(a.scep, a.text).toMatchObject({ status: 'FAILURE' });
};
const SCEP_OK = (a: Answer): void => expect(a.scep, a.text).toMatchObject({ status: 'SUCCESS' });

const freshCert = (suffix: string) => async (victim: Tenant) => issueRest(victim, `${suffix}-${uniq()}.${victim.name}.test`);

// The table: every cross-product action tenant A can try, over every protocol.

const ROWS: Row[] = [
  // REST, with A's key (read, issue, revoke and approve on the shared CA, bound to A's products).
  { protocol: 'rest', action: 'read a certificate', attempt: (v) => rest(a.rest.token, 'GET', `/v1/certificates/${v.cert.id}`), refused: REST_REFUSED, allowed: REST_OK(200) },
  {
    protocol: 'rest',
    action: 'read a request',
    prepare: pendingRequest,
    attempt: (_v, t) => rest(a.rest.token, 'GET', `/v1/requests/${t.id}`),
    refused: REST_REFUSED,
    allowed: REST_OK(200),
  },
  {
    protocol: 'rest',
    action: 'list certificates',
    filtered: true,
    attempt: () => rest(a.rest.token, 'GET', '/v1/certificates?pageSize=100'),
    refused: (ans, v) => {
      expect(ans.status, ans.text).toBe(200);
      const ids = (ans.json.certificates as { id: string }[]).map((c) => c.id);
      expect(ids).not.toContain(v.cert.id);
      expect(ids).not.toContain(v.managed.id);
      expect(ids).toContain(a.cert.id);
    },
    allowed: (ans, v) => expect((ans.json.certificates as { id: string }[]).map((c) => c.id)).toContain(v.cert.id),
  },
  {
    protocol: 'rest',
    action: 'list certificates of the victim product',
    filtered: true,
    attempt: (v) => rest(a.rest.token, 'GET', `/v1/certificates?pageSize=100&productId=${v.product.id}`),
    // A list is narrowed to the caller's products, not refused: asking for B's is an empty page.
    refused: (ans) => {
      expect(ans.status, ans.text).toBe(200);
      expect({ certificates: ans.json.certificates, total: ans.json.total }).toEqual({ certificates: [], total: 0 });
    },
    allowed: (ans, v) => expect((ans.json.certificates as { id: string }[]).map((c) => c.id)).toContain(v.cert.id),
  },
  {
    protocol: 'rest',
    action: 'list requests',
    filtered: true,
    prepare: pendingRequest,
    attempt: () => rest(a.rest.token, 'GET', '/v1/requests?pageSize=100'),
    refused: (ans, _v, t) => {
      expect(ans.status, ans.text).toBe(200);
      expect((ans.json.requests as { id: string; product_id?: string }[]).map((r) => r.id)).not.toContain(t.id);
      for (const r of ans.json.requests as { product_id?: string }[]) expect([a.product.id, a.approvalProduct.id]).toContain(r.product_id);
    },
    allowed: (ans, _v, t) => expect((ans.json.requests as { id: string }[]).map((r) => r.id)).toContain(t.id),
  },
  {
    protocol: 'rest',
    action: 'revoke a certificate',
    prepare: freshCert('revoke'),
    attempt: (_v, t) => rest(a.rest.token, 'POST', `/v1/certificates/${t.id}/revoke`, { reason: 'keyCompromise' }),
    refused: REST_REFUSED,
    allowed: REST_OK(200),
  },
  {
    protocol: 'rest',
    action: 'revoke by serial',
    prepare: freshCert('serial'),
    attempt: (v, t) => rest(a.rest.token, 'POST', `/v1/certificates/serial/${t.serial as string}/revoke`, { caId: v.product.caId, reason: 'keyCompromise' }),
    refused: REST_REFUSED,
    allowed: REST_OK(200),
  },
  {
    protocol: 'rest',
    action: 'suspend',
    prepare: freshCert('suspend'),
    attempt: (_v, t) => rest(a.rest.token, 'POST', `/v1/certificates/${t.id}/suspend`, {}),
    refused: REST_REFUSED,
    allowed: REST_OK(200),
  },
  {
    protocol: 'rest',
    action: 'reinstate a suspended certificate',
    prepare: async (v) => {
      const c = await issueRest(v, `held-${uniq()}.${v.name}.test`);
      const held = await restCall(env.base, v.rest.token, 'POST', `/v1/certificates/${c.id}/suspend`, {});
      expect(held.status, JSON.stringify(held.json)).toBe(200);
      return c;
    },
    attempt: (_v, t) => rest(a.rest.token, 'POST', `/v1/certificates/${t.id}/reinstate`, {}),
    refused: REST_REFUSED,
    allowed: REST_OK(200),
  },
  { protocol: 'rest', action: 'read locations', attempt: (v) => rest(a.rest.token, 'GET', `/v1/certificates/${v.cert.id}/locations`), refused: REST_REFUSED, allowed: REST_OK(200) },
  {
    protocol: 'rest',
    action: 'add a location',
    attempt: (v) => rest(a.rest.token, 'POST', `/v1/certificates/${v.cert.id}/locations`, { host: 'web1.tenant-a.internal', port: 443, kind: 'server' }),
    refused: REST_REFUSED,
    allowed: REST_OK(201),
  },
  { protocol: 'rest', action: 'PUT notes', attempt: (v) => rest(a.rest.token, 'PUT', `/v1/certificates/${v.cert.id}`, { notes: 'owned by A now' }), refused: REST_REFUSED, allowed: REST_OK(200) },
  { protocol: 'rest', action: 'PUT owner', attempt: (v) => rest(a.rest.token, 'PUT', `/v1/certificates/${v.cert.id}`, { owner: 'tenant-a' }), refused: REST_REFUSED, allowed: REST_OK(200) },
  {
    protocol: 'rest',
    action: 'mark renewed',
    prepare: freshCert('marked'),
    attempt: (_v, t) => rest(a.rest.token, 'POST', `/v1/certificates/${t.id}/mark-renewed`, {}),
    refused: REST_REFUSED,
    allowed: REST_OK(200),
  },
  {
    protocol: 'rest',
    action: 'renew (CSR)',
    attempt: (v) => rest(a.rest.token, 'POST', `/v1/certificates/${v.cert.id}/renew`, { csrPem: csrFor(`www.${v.name}.test`).csrPem }),
    refused: REST_REFUSED,
    allowed: REST_OK(201),
  },
  { protocol: 'rest', action: 'renew (managed key)', attempt: (v) => rest(a.rest.token, 'POST', `/v1/certificates/${v.managed.id}/renew`, {}), refused: REST_REFUSED, allowed: REST_OK(201) },
  { protocol: 'rest', action: 'rekey (managed key)', attempt: (v) => rest(a.rest.token, 'POST', `/v1/certificates/${v.managed.id}/rekey`, {}), refused: REST_REFUSED, allowed: REST_OK(201) },
  {
    protocol: 'rest',
    action: 'rekey with a CSR of the attacker',
    attempt: (v) => rest(a.rest.token, 'POST', `/v1/certificates/${v.cert.id}/rekey`, { csrPem: csrFor(`www.${v.name}.test`).csrPem }),
    refused: REST_REFUSED,
    allowed: REST_OK(201),
  },
  {
    protocol: 'rest',
    action: 'replace',
    attempt: (v) => rest(a.rest.token, 'POST', `/v1/certificates/${v.cert.id}/replace`, { csrPem: csrFor(`www.${v.name}.test`).csrPem }),
    refused: REST_REFUSED,
    allowed: REST_OK(201),
  },
  ...(['pem', 'der', 'chain', 'pkcs7'] as const).map(
    (format): Row => ({
      protocol: 'rest',
      action: `download ${format}`,
      attempt: (v) => rest(a.rest.token, 'GET', `/v1/certificates/${v.cert.id}/download?format=${format}`),
      refused: REST_REFUSED,
      allowed: REST_OK(200),
    }),
  ),
  {
    protocol: 'rest',
    action: 'PKCS#12 export of an escrowed key',
    attempt: (v) => rest(a.rest.token, 'POST', `/v1/certificates/${v.managed.id}/download`, { format: 'pkcs12', password: 'tenant-a-wants-it' }),
    refused: (ans) => {
      REST_REFUSED(ans);
      expect(ans.contentType).not.toMatch(/pkcs12/);
    },
    allowed: REST_OK(200),
  },
  {
    protocol: 'rest',
    action: 'PKCS#12 export with exportAnyKeys on the shared CA',
    // exportAnyKeys widens whose keys, never which products: B's keys stay B's.
    attempt: (v) => rest(a.restAny.token, 'POST', `/v1/certificates/${v.managed.id}/download`, { format: 'pkcs12', password: 'tenant-a-wants-it' }),
    refused: (ans) => {
      REST_REFUSED(ans);
      expect(ans.contentType).not.toMatch(/pkcs12/);
    },
    allowed: REST_OK(200),
  },
  {
    protocol: 'rest',
    action: 'delete',
    prepare: freshCert('gone'),
    attempt: (_v, t) => rest(a.rest.token, 'DELETE', `/v1/certificates/${t.id}`),
    refused: REST_REFUSED,
    // Nobody deletes a live certificate of certgate's; the owner gets past the decision to that rule.
    allowed: (ans) => {
      expect(ans.status, ans.text).toBe(409);
      expect(ans.json.error).toMatch(/leaves the inventory only once it has expired/);
    },
  },
  { protocol: 'rest', action: 'approve a pending request', prepare: pendingRequest, attempt: (_v, t) => rest(a.rest.token, 'POST', `/v1/requests/${t.id}/approve`, {}), refused: REST_REFUSED, allowed: REST_OK(200) },
  {
    protocol: 'rest',
    action: 'decline a pending request',
    prepare: pendingRequest,
    attempt: (_v, t) => rest(a.rest.token, 'POST', `/v1/requests/${t.id}/decline`, { comment: 'tenant A says no' }),
    refused: REST_REFUSED,
    allowed: REST_OK(200),
  },
  {
    protocol: 'rest',
    action: 'reject a pending request (the older route)',
    prepare: pendingRequest,
    attempt: (_v, t) => rest(a.rest.token, 'POST', `/v1/requests/${t.id}/reject`, { reason: 'tenant A says no' }),
    refused: REST_REFUSED,
    allowed: REST_OK(200),
  },
  {
    protocol: 'rest',
    action: 'issue under the victim product',
    attempt: (v) => rest(a.rest.token, 'POST', '/v1/certificates', { productId: v.product.id, csrPem: csrFor(`issued-${uniq()}.${v.name}.test`).csrPem }),
    refused: REST_REFUSED,
    allowed: REST_OK(201),
  },
  {
    protocol: 'rest',
    action: 'issue a managed key under the victim product',
    attempt: (v) => rest(a.rest.token, 'POST', '/v1/certificates', { productId: v.product.id, mode: 'managed', commonName: `m-${uniq()}.${v.name}.test` }),
    refused: REST_REFUSED,
    allowed: REST_OK(201),
  },

  // ACME, with an account bound to A's EAB credential.
  {
    protocol: 'acme',
    action: "newAccount at the victim's directory with A's EAB",
    attempt: async (v) => acmeAnswer((await newAcmeAccount(a, v)).reply),
    refused: acmeRefused('unauthorized', 403),
    allowed: (ans) => expect(ans.status, ans.text).toBe(201),
  },
  {
    protocol: 'acme',
    action: "newOrder at the victim's directory",
    attempt: async (v) => acmeAnswer(await aAcmeAt(v).newOrder([`order-${uniq()}.${v.name}.test`])),
    refused: acmeRefused('unauthorized', 403),
    allowed: (ans) => expect(ans.status, ans.text).toBe(201),
  },
  {
    protocol: 'acme',
    action: "newOrder at A's directory with the victim's profile",
    attempt: async (v) => acmeAnswer(await aAcmeAt(a).newOrder([`profile-${uniq()}.${v.name}.test`], { profile: v.product.name })),
    refused: acmeRefused('unauthorized', 403),
    allowed: (ans) => expect(ans.status, ans.text).toBe(201),
  },
  {
    protocol: 'acme',
    action: "newOrder at A's directory for a name of the victim",
    attempt: async (v) => acmeAnswer(await aAcmeAt(a).newOrder([`name-${uniq()}.${v.name}.test`])),
    // A's own product refuses the name: its entry names A's product, with the b.test name refused.
    auditProducts: () => [a.product.id],
    refused: acmeRefused('rejectedIdentifier', 400),
    allowed: (ans) => expect(ans.status, ans.text).toBe(201),
  },
  {
    protocol: 'acme',
    action: "revokeCert of the victim's ACME certificate with A's account key",
    prepare: async (v) => {
      const issued = await v.acme.issue([`acme-${uniq()}.${v.name}.test`], 'http-01', http01);
      const pem = splitPem(issued.chainPem)[0] as string;
      return { id: (issued.order.certificate as string).split('/').pop() as string, pem };
    },
    attempt: async (_v, t) => acmeAnswer(await aAcmeAt(a).post((await aAcmeAt(a).directory()).revokeCert, { certificate: pemToB64url(t.pem as string), reason: 1 })),
    refused: acmeRefused('unauthorized', 403),
    allowed: (ans) => expect(ans.status, ans.text).toBe(200),
  },

  {
    protocol: 'acme',
    action: "POST-as-GET the victim's certificate URL",
    prepare: async (v) => {
      const issued = await v.acme.issue([`cert-${uniq()}.${v.name}.test`], 'http-01', http01);
      const url = issued.order.certificate as string;
      return { id: url.split('/').pop() as string, pem: splitPem(issued.chainPem)[0] as string, url };
    },
    attempt: async (_v, t) => acmeAnswer(await aAcmeAt(a).post(t.url as string)),
    // Another account's object does not exist for this one: 404 malformed, as for an unknown id.
    refused: acmeRefused('malformed', 404),
    allowed: (ans) => expect(ans.status, ans.text).toBe(200),
  },
  {
    protocol: 'acme',
    action: "POST-as-GET the victim's order",
    prepare: async (v) => {
      const created = await v.acme.newOrder([`look-${uniq()}.${v.name}.test`]);
      expect(created.status, created.text).toBe(201);
      return { id: 'order', url: created.header('location') };
    },
    attempt: async (_v, t) => acmeAnswer(await aAcmeAt(a).post(t.url as string)),
    refused: acmeRefused('malformed', 404),
    allowed: (ans) => expect(ans.status, ans.text).toBe(200),
  },
  {
    protocol: 'acme',
    action: "answer the victim's challenge",
    prepare: async (v) => {
      const created = await v.acme.newOrder([`chall-${uniq()}.${v.name}.test`]);
      expect(created.status, created.text).toBe(201);
      const authz = (await v.acme.post<AuthzJson>(created.json.authorizations[0] as string)).json;
      return { id: 'challenge', url: (authz.challenges.find((c) => c.type === 'dns-01') as ChallengeJson).url };
    },
    attempt: async (_v, t) => acmeAnswer(await aAcmeAt(a).post(t.url as string, {})),
    refused: acmeRefused('malformed', 404),
    allowed: (ans) => expect(ans.status, ans.text).toBe(200),
  },
  {
    protocol: 'acme',
    action: "finalize the victim's ready order with A's CSR",
    prepare: async (v) => {
      const names = [`fin-${uniq()}.${v.name}.test`];
      const created = await v.acme.newOrder(names);
      expect(created.status, created.text).toBe(201);
      const ready = await v.acme.authorize(created.header('location'), created.json, 'http-01', http01);
      expect(ready.json.status, ready.text).toBe('ready');
      return { id: 'order', url: ready.json.finalize, names };
    },
    attempt: async (_v, t) => acmeAnswer(await aAcmeAt(a).post(t.url as string, { csr: (await makeCsrFor(t.names as string[])).csr })),
    refused: acmeRefused('malformed', 404),
    allowed: (ans) => expect(ans.status, ans.text).toBe(200),
  },

  // EST, with A's Basic credential and A's own certificate.
  {
    protocol: 'est',
    action: "simpleenroll on the victim's label with A's Basic credential",
    attempt: async (v) => estAnswer(await est(`/${v.name}/.well-known/est/simpleenroll`, csrFor(`e-${uniq()}.${v.name}.test`).csrPem, { headers: { authorization: basic(a.est) } })),
    refused: EST_REFUSED(401),
    allowed: ESTOK,
  },
  {
    protocol: 'est',
    action: "serverkeygen on the victim's label with A's Basic credential",
    attempt: async (v) => estAnswer(await est(`/${v.name}/.well-known/est/serverkeygen`, csrFor(`k-${uniq()}.${v.name}.test`).csrPem, { headers: { authorization: basic(a.est) } })),
    refused: EST_REFUSED(401),
    allowed: ESTOK,
  },
  {
    protocol: 'est',
    action: "simpleenroll on the victim's label with A's certificate as TLS client certificate (its own names)",
    attempt: async (v) => estAnswer(await est(`/${v.name}/.well-known/est/simpleenroll`, csrFor(a.estTls.name).csrPem, { cert: a.estTls.cert, key: a.estTls.key })),
    // A certificate of another product is no login there: 401, as simplereenroll answers it.
    refused: EST_REFUSED(401),
    allowed: ESTOK,
  },
  {
    protocol: 'est',
    action: "simpleenroll on the victim's label with A's certificate as TLS client certificate (a victim name)",
    attempt: async (v) => estAnswer(await est(`/${v.name}/.well-known/est/simpleenroll`, csrFor(`tls-${uniq()}.b.test`).csrPem, { cert: a.estTls.cert, key: a.estTls.key })),
    // A certificate of another product is no login on B at all.
    refused: EST_REFUSED(401),
    // On A's own label the certificate's names bind the request: a b.test name is refused there too.
    allowed: EST_REFUSED(403),
  },
  {
    protocol: 'est',
    action: "serverkeygen on the victim's label with A's certificate as TLS client certificate (its own names)",
    attempt: async (v) => estAnswer(await est(`/${v.name}/.well-known/est/serverkeygen`, csrFor(a.estTls.name).csrPem, { cert: a.estTls.cert, key: a.estTls.key })),
    refused: EST_REFUSED(401),
    allowed: ESTOK,
  },
  {
    protocol: 'est',
    action: "simplereenroll on the victim's label with A's certificate",
    attempt: async (v) => estAnswer(await est(`/${v.name}/.well-known/est/simplereenroll`, csrFor(a.estTls.name).csrPem, { cert: a.estTls.cert, key: a.estTls.key })),
    refused: EST_REFUSED(401),
    allowed: ESTOK,
  },
  {
    protocol: 'est',
    action: "simplereenroll on the victim's label with A's certificate and A's Basic credential",
    attempt: async (v) =>
      estAnswer(await est(`/${v.name}/.well-known/est/simplereenroll`, csrFor(a.estTls.name).csrPem, { cert: a.estTls.cert, key: a.estTls.key, headers: { authorization: basic(a.est) } })),
    refused: EST_REFUSED(401),
    allowed: ESTOK,
  },

  // SCEP, with A's static challenge and one-time challenges A's REST key mints.
  { protocol: 'scep', action: "PKCSReq on the victim's path with A's static challenge", attempt: (v) => scepEnroll(v.name, a.scep.challenge, `s-${uniq()}.${v.name}.test`), refused: SCEP_REFUSED, allowed: SCEP_OK },
  {
    protocol: 'scep',
    action: "PKCSReq on the victim's path with a one-time challenge A minted for A",
    prepare: async () => {
      const minted = await restCall(env.base, a.rest.token, 'POST', '/v1/scep/challenges', { productId: a.product.id });
      expect(minted.status, JSON.stringify(minted.json)).toBe(201);
      return { id: minted.json.challenge as string };
    },
    attempt: (v, t) => scepEnroll(v.name, t.id, `o-${uniq()}.${v.name}.test`),
    refused: SCEP_REFUSED,
    allowed: SCEP_OK,
  },
  {
    protocol: 'scep',
    action: "A's REST key mints a one-time challenge for the victim's product",
    attempt: (v) => rest(a.rest.token, 'POST', '/v1/scep/challenges', { productId: v.product.id }),
    refused: REST_REFUSED,
    allowed: REST_OK(201),
  },
];

/** Rows in the table: a row dropped or added must be noticed here. */
const EXPECTED_ROWS = 50;

const labelOf = (r: Row): string => `${r.protocol}: ${r.action}`;

/**
 * Attempts the merged code does NOT refuse as it must, each with where it gets through. They run
 * as it.fails: the day one is closed its test fails, and its line here goes.
 */
const KNOWN_HOLES: Record<string, string> = {};

// What B has, as the admin sees it over REST.

async function totalOf(path: string): Promise<number> {
  const res = await admin('GET', path);
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json.total as number;
}

async function holdings(t: Tenant): Promise<{ certificates: number; requests: number }> {
  let certificates = 0;
  let requests = 0;
  for (const p of [t.product, t.approvalProduct]) {
    certificates += await totalOf(`/v1/certificates?pageSize=1&productId=${p.id}`);
    requests += await totalOf(`/v1/requests?pageSize=1&productId=${p.id}`);
  }
  return { certificates, requests };
}

async function statusOf(id: string): Promise<string> {
  const res = await admin('GET', `/v1/certificates/${id}`);
  return ((res.json.certificate as { status?: string } | undefined)?.status ?? (res.json.status as string)) as string;
}

async function auditHead(): Promise<number> {
  return (await env.server.rt.store.audit.head())?.seq ?? 0;
}

async function refusalsSince(seq: number) {
  const { entries } = await env.server.rt.store.audit.list({}, { limit: 200, offset: 0 });
  return entries.filter((e) => e.seq > seq && e.outcome === 'refused');
}

const refusalsSeen: string[] = [];
const allowedSeen: string[] = [];
const holesSeen: string[] = [];

describe('hostile tenant: A against B on one CA, every protocol', () => {
  beforeAll(async () => {
    env = await startAcmeEnv({ overrides: { host: '127.0.0.1', issueWaitMs: 15_000 } });
    dir = env.dir;
    httpsPort = new URL(env.acmeBase).port ? Number(new URL(env.acmeBase).port) : 443;
    trust = env.rootPem + env.issuingPem;
    transport = loopbackTransport(env.rootPem, () => source);
    a = await makeTenant('a');
    b = await makeTenant('b');
  }, 120_000);

  afterAll(async () => {
    await env?.stop();
  });

  it('has every attempt in the table', () => {
    expect(ROWS).toHaveLength(EXPECTED_ROWS);
    expect(new Set(ROWS.map(labelOf)).size).toBe(EXPECTED_ROWS);
    expect(new Set(ROWS.map((r) => r.protocol))).toEqual(new Set(['rest', 'acme', 'est', 'scep']));
  });

  describe('refused on B', () => {
    const attempt = async (label: string, row: Row, i: number): Promise<void> => {
      source = undefined;
      const target = row.prepare ? await row.prepare(b) : { id: b.cert.id };
      const before = await holdings(b);
      const targetStatus = target.serial || target.pem ? await statusOf(target.id) : undefined;
      const seq = await auditHead();
      source = `127.0.0.${10 + i}`;
      const answer = await row.attempt(b, target);
      source = undefined;
      expect(answer.status, `${label}: never a 5xx`).toBeLessThan(500);
      row.refused(answer, b, target);
      // Nothing issued to B and no request made under B, whatever the protocol.
      expect(await holdings(b)).toEqual(before);
      for (const id of [b.cert.id, b.managed.id]) expect(await statusOf(id), id).toBe('active');
      if (targetStatus !== undefined) expect(await statusOf(target.id), `${label}: the target's status`).toBe(targetStatus);
      if (!row.filtered) {
        // Each attempt comes from an address of its own, so its refusal is an entry of its own,
        // and it names the product it was decided under (B's, unless the row says otherwise): the
        // trail says whose door was tried, not only that one was.
        const from = `127.0.0.${10 + i}`;
        const victimProducts = row.auditProducts ? row.auditProducts(b) : [b.product.id, b.approvalProduct.id];
        const names = (e: AuditEntry) => [e.detail.productId, e.detail.product].some((p) => victimProducts.includes(p as string));
        await until(async () => (await refusalsSince(seq)).some((e) => e.sourceIp === from && names(e)), 5_000, `${label} was audited as refused, naming the product`);
      }
    };
    const indexed = ROWS.map((r, i) => [labelOf(r), r, i] as const);
    it.each(indexed.filter(([label]) => !(label in KNOWN_HOLES)))('%s', async (label, row, i) => {
      await attempt(label, row, i);
      refusalsSeen.push(label);
    });
    it.fails.each(indexed.filter(([label]) => label in KNOWN_HOLES))('known hole: %s', async (label, row, i) => {
      holesSeen.push(label);
      await attempt(label, row, i);
    });
  });

  describe('allowed on A (the positive control)', () => {
    it.each(ROWS.map((r, i) => [labelOf(r), r, i] as const))('%s', async (_label, row, i) => {
      source = undefined;
      const target = row.prepare ? await row.prepare(a) : { id: a.cert.id };
      source = `127.0.1.${10 + i}`;
      const answer = await row.attempt(a, target);
      source = undefined;
      expect(answer.status).toBeLessThan(500);
      row.allowed(answer, a, target);
      allowedSeen.push(_label);
    });
  });

  it('ran every refusal and every control', () => {
    expect(Object.keys(KNOWN_HOLES).every((label) => ROWS.some((r) => labelOf(r) === label))).toBe(true);
    expect(holesSeen.sort()).toEqual(Object.keys(KNOWN_HOLES).sort());
    expect(refusalsSeen.length + holesSeen.length).toBe(EXPECTED_ROWS);
    expect(allowedSeen).toHaveLength(EXPECTED_ROWS);
  });

  it("leaves B's certificates good, in OCSP as over REST, and B's own key still reads them", async () => {
    expect(await statusOf(b.cert.id)).toBe('active');
    expect(await statusOf(b.managed.id)).toBe('active');
    const issuingFile = join(dir, 'tenancy-issuing.pem');
    const chainFile = join(dir, 'tenancy-chain.pem');
    writeFileSync(issuingFile, env.issuingPem);
    writeFileSync(chainFile, env.issuingPem + env.rootPem);
    for (const [name, pem] of [['www.b.test', b.cert.pem], ['key.b.test', b.managed.pem]] as const) {
      const file = join(dir, `tenancy-${name}.pem`);
      writeFileSync(file, pem);
      const answer = await ocspQuery(['-issuer', issuingFile, '-cert', file, '-url', `${env.base}/ocsp`, '-CAfile', chainFile]);
      expect(answer, name).toContain(`${file}: good`);
      expect(answer, name).toMatch(/Response verify OK/);
    }
    const own = await restCall(env.base, b.rest.token, 'GET', `/v1/certificates/${b.cert.id}`);
    expect(own.status).toBe(200);
  });
});
