// Issue 23's acceptance: domain control validation across protocols, as a team and its devices see
// it. A product with dcv: required; a REST order for an unvalidated name waits (202 pending_dcv),
// the token goes on a loopback web server, a recheck issues the same request; the team's EST
// device is issued at once within the reuse window and waits again after it (the deployment's
// clock stepped past it), as does a SCEP device (PENDING, then CertPoll); failed validations
// (wrong token, connection refused, a redirect to an IP address) leave the request waiting, are
// audited and sent as signed dcv.failed webhooks; another team's validation covers nothing of
// this team's. Everything over SQLite and over PostgreSQL with BullMQ and a separate worker.
import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MESSAGE_TYPE } from '../protocols/scep/algorithms.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import type { AuditEntry, EnrollmentRequest, ProductRecord } from '../src/core/types.js';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { fromPem, toPem } from '../src/pki/pem.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { runningClock } from './helpers/clock.js';
import { startDnsServer, type StubDnsServer } from './helpers/dnsServer.js';
import { basic, csrDer, opensslCertsOf, type EstReply } from './helpers/est.js';
import { GATEWAY_DEPLOYMENTS, startGateway, type Gateway } from './helpers/gateway.js';
import { httpRequest, restCall } from './helpers/http.js';
import { makeCsr, opensslVerify, tempDir } from './helpers/openssl.js';
import { buildRequest, getCaCert, pkiOperation, readReply, rsaKey, selfSigned, type RaInfo } from './helpers/scepClient.js';
import { until } from './helpers/until.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhookReceiver.js';
import { startWebServer, type WebServer } from './helpers/webServer.js';

const DAY = 86_400_000;
const REUSE_DAYS = 5;
/** Generous: only a broken run waits this long; nothing asserts how long anything took. */
const SETTLE_MS = 30_000;

const DEPLOYMENTS = GATEWAY_DEPLOYMENTS;

interface DcvEntry {
  name: string;
  covered: boolean;
  domain_id: string;
  status: string;
  token: string;
  last_error: string | null;
  challenges: { 'http-01': { url: string; content: string } };
}

describe.each(DEPLOYMENTS)('domain control validation across protocols: $name', (d) => {
  const clock = runningClock();
  let gw: Gateway;
  let dns: StubDnsServer;
  let web: WebServer;
  let hooks: WebhookReceiver;
  let dir: string;
  let product: ProductRecord;
  let suffix: string;
  /** REST keys of two teams (owner groups), an EST device and a SCEP device of team A. */
  let teamA: string;
  let teamB: string;
  let device: { username: string; password: string };
  let scepChallenge: string;
  let ra: RaInfo;

  const name = (label: string): string => `${label}.${suffix}`;
  const rest = (token: string, method: string, path: string, body?: unknown) => restCall(gw.baseUrl, token, method, path, body);
  const requestOf = async (id: string): Promise<EnrollmentRequest> => (await gw.rt.store.requests.get(id)) as EnrollmentRequest;
  const auditOf = async (target: string): Promise<AuditEntry[]> => (await gw.rt.core.audit.list({ target }, { limit: 100, offset: 0 })).entries;
  /** The token served where http-01 looks first: the whole body is the token. */
  const publish = (e: DcvEntry): void => web.answer(new URL(e.challenges['http-01'].url).pathname, { body: e.token });

  const estEnroll = async (csrPem: string): Promise<EstReply> => {
    const port = Number(new URL(gw.httpsUrl as string).port);
    const reply = await httpRequest(`https://127.0.0.1:${port}/.well-known/est/${product.name}/simpleenroll`, {
      ca: gw.root.certificatePem + gw.issuing.certificatePem,
      servername: 'localhost',
      method: 'POST',
      headers: { 'content-type': 'application/pkcs10', authorization: basic(device) },
      body: csrDer(csrPem).toString('base64'),
    });
    return { status: reply.status, headers: reply.headers, body: reply.body, text: reply.body.toString('latin1') };
  };

  /** A certificate as a relying party checks it: it verifies against the chain and names `dns`. */
  const expectIssuedFor = (pem: string, dns: string): void => {
    expect(opensslVerify(dir, gw.root.certificatePem, gw.issuing.certificatePem, pem)).toMatch(/: OK/);
    expect(new X509Certificate(pem).subjectAltName).toContain(`DNS:${dns}`);
  };

  /** A REST order (CSR) for `dns` by `token`: the answer, checked to be a 202 pending_dcv with its dcv block. */
  const orderPending = async (token: string, dns: string) => {
    const { csrPem } = makeCsr(dir, { subject: `/CN=${dns}`, san: [`DNS:${dns}`] });
    const res = await rest(token, 'POST', '/v1/certificates', { productId: product.id, csrPem });
    expect(res.status, JSON.stringify(res.json)).toBe(202);
    expect(res.json.status).toBe('pending_dcv');
    expect(res.headers.get('retry-after')).toBe('60');
    const requestId = res.json.request_id as string;
    expect(res.headers.get('location')).toBe(`/v1/requests/${requestId}`);
    const block = res.json.dcv as DcvEntry[];
    expect(block).toEqual([expect.objectContaining({ name: dns, covered: false, token: expect.any(String) })]);
    return { requestId, entry: block[0] as DcvEntry };
  };

  const domainOf = async (token: string, id: string) => (await rest(token, 'GET', `/v1/domains/${id}`)).json as { status: string; last_error: string | null; holder: string };

  beforeAll(async () => {
    if (d.skip) return;
    [dns, web, hooks] = await Promise.all([startDnsServer(), startWebServer(), startWebhookReceiver()]);
    gw = await startGateway({
      backend: d.backend,
      queue: d.queue,
      worker: d.worker,
      https: true,
      now: clock.now,
      dirPrefix: 'certgate-dcv-e2e-',
      overrides: { dnsServer: dns.address, http01Port: web.port, webhookAllowPrivate: true, webhookPollMs: 100, webhookBackoffMs: 100, rateLimitPerMinute: 0, issueRateLimitPerMinute: 0 },
    });
    dir = tempDir('certgate-dcv-e2e-files-');
    suffix = `${randomUUID().slice(0, 8)}.dcv.test`;
    const rt = gw.rt;
    product = await createProduct(
      rt.store,
      { name: 'dcv-web', caId: gw.issuing.id, template: parseProductTemplate({ allowedDnsSuffixes: [suffix], keyAlgorithms: ['ec-p256', 'rsa-2048'], dcv: { mode: 'required', reuseDays: REUSE_DAYS } }) },
      CLI_CONTEXT,
      undefined,
      gw.config,
    );
    const restKey = async (label: string, ownerGroup: string) =>
      (await rt.credentials.create({ type: 'rest', name: label, products: [product.id], permissions: [{ ca: gw.issuing.id, actions: ['read', 'issue'] }], admin: false, ownerGroup }, CLI_CONTEXT)).secret;
    teamA = await restKey('team-a', 'team-a');
    teamB = await restKey('team-b', 'team-b');
    const est = await rt.credentials.create({ type: 'est', name: 'router-a', products: [product.id], ownerGroup: 'team-a' }, CLI_CONTEXT);
    device = { username: 'router-a', password: est.secret };
    scepChallenge = (await rt.credentials.create({ type: 'scep', products: [product.id], ownerGroup: 'team-a' }, CLI_CONTEXT)).secret;
    ra = await getCaCert(`${gw.baseUrl}/scep/${product.name}`);

    const sub = await rest(gw.adminToken, 'POST', '/v1/webhooks', { url: hooks.url, events: ['dcv.failed'], products: '*' });
    expect(sub.status, JSON.stringify(sub.json)).toBe(201);
    hooks.setSecret(sub.json.secret as string);
  }, 120_000);
  afterAll(async () => {
    await gw?.close();
    await Promise.all([dns?.stop(), web?.stop(), hooks?.stop()]);
  });

  it.skipIf(d.skip)('REST: 202 pending_dcv with the dcv block; the token published and a recheck issue the same request; another team is not covered by it', async () => {
    const www = name('www');
    const { requestId, entry } = await orderPending(teamA, www);
    expect(entry.challenges['http-01'].url).toBe(`http://${www}/.well-known/pki-validation/${entry.token}`);
    expect((await requestOf(requestId)).status).toBe('pending_dcv');
    expect((await auditOf(requestId)).map((e) => e.action)).toContain('request.await_dcv');

    publish(entry);
    const recheck = await rest(teamA, 'POST', `/v1/requests/${requestId}/dcv/recheck`, {});
    expect(recheck.status, JSON.stringify(recheck.json)).toBe(202);
    let issued: EnrollmentRequest | undefined;
    await until(async () => (issued = await requestOf(requestId)).status === 'issued', SETTLE_MS, 'the same request is issued after the recheck');
    const cert = await rest(teamA, 'GET', `/v1/certificates/${issued?.certificateId}`);
    expect(cert.status).toBe(200);
    expectIssuedFor(cert.json.certificate_pem as string, www);
    expect(web.seen).toContain(`/.well-known/pki-validation/${entry.token}`);

    const domainTrail = await auditOf(entry.domain_id);
    expect(domainTrail).toContainEqual(expect.objectContaining({ action: 'domain.validate', outcome: 'success' }));
    expect((await auditOf(requestId)).map((e) => e.action)).toEqual(expect.arrayContaining(['request.submit', 'request.await_dcv', 'request.resume']));
    expect(await domainOf(teamA, entry.domain_id)).toMatchObject({ status: 'valid', holder: 'group:team-a' });

    // Team B asks for the same name within the window: team A's proof is not B's.
    const other = await orderPending(teamB, www);
    expect(other.entry.domain_id).not.toBe(entry.domain_id);
    expect(await domainOf(teamB, other.entry.domain_id)).toMatchObject({ status: 'pending', holder: 'group:team-b' });
    expect((await rest(teamB, 'GET', `/v1/domains/${entry.domain_id}`)).status).toBe(403);
    expect((await requestOf(other.requestId)).status).toBe('pending_dcv');
  });

  it.skipIf(d.skip)('EST: the team\'s device is issued at once within the reuse window; after it, 202 with Retry-After until the name is validated again, then the same CSR gets the certificate', async () => {
    const www = name('www');
    const within = makeCsr(dir, { subject: `/CN=${www}`, san: [`DNS:${www}`] }).csrPem;
    const first = await estEnroll(within);
    expect(first.status, first.text).toBe(200);
    expectIssuedFor(opensslCertsOf(Buffer.from(first.text, 'base64'), dir)[0] as string, www);

    clock.advance((REUSE_DAYS + 1) * DAY);
    const after = makeCsr(dir, { subject: `/CN=${www}`, san: [`DNS:${www}`] }).csrPem;
    const waiting = await estEnroll(after);
    expect(waiting.status, waiting.text).toBe(202);
    expect(waiting.headers['retry-after']).toBe('60');
    expect(waiting.text).toMatch(new RegExp(`is waiting for domain control validation of .*${www.replace(/\./g, '\\.')}`));
    // The device retries as EST clients do, with the same CSR: the same request, still waiting.
    const again = await estEnroll(after);
    expect(again.status).toBe(202);
    const pending = (await gw.rt.store.requests.listByStatus(['pending_dcv'], 100)).filter((r) => r.protocol === 'est' && r.productId === product.id);
    expect(pending).toHaveLength(1);
    expect(waiting.text).toContain(pending[0]?.id);

    const view = await rest(teamA, 'GET', `/v1/requests/${pending[0]?.id}/dcv`);
    expect(view.status).toBe(200);
    const [entry] = view.json.names as DcvEntry[];
    expect(entry).toMatchObject({ name: www, covered: false, status: 'valid' });
    const validated = await rest(teamA, 'POST', `/v1/domains/${entry?.domain_id}/validate?wait=20`, {});
    expect(validated.json).toMatchObject({ status: 'valid' });
    let done: EstReply | undefined;
    await until(async () => (done = await estEnroll(after)).status === 200, SETTLE_MS, 'the retried CSR gets its certificate');
    const [leaf] = opensslCertsOf(Buffer.from((done as EstReply).text, 'base64'), dir);
    expectIssuedFor(leaf as string, www);
    expect((await requestOf(pending[0]?.id as string)).status).toBe('issued');
  });

  it.skipIf(d.skip)('SCEP: PENDING after the window, CertPoll PENDING until the name is validated again, then SUCCESS', async () => {
    const www = name('www');
    clock.advance((REUSE_DAYS + 1) * DAY);
    const key = rsaKey();
    const requester = selfSigned(key, `CN=${www}`);
    const transactionId = `dcv-${randomBytes(8).toString('hex')}`;
    const url = `${gw.baseUrl}/scep/${product.name}`;
    const csr = fromPem(buildCsr(key, `CN=${www}`, { dns: [www] }, { challengePassword: scepChallenge }), ['CERTIFICATE REQUEST']);
    const sent = readReply((await pkiOperation(url, await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csr, transactionId }))).body, requester);
    expect(sent.status).toBe('PENDING');
    const issuerAndSubject = Buffer.from(new asn1js.Sequence({ value: [ra.cert.subject.toSchema(), requester.cert.subject.toSchema()] }).toBER());
    const poll = async () => readReply((await pkiOperation(url, await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.CertPoll, content: issuerAndSubject, transactionId }))).body, requester);
    expect((await poll()).status).toBe('PENDING');

    const request = (await gw.rt.store.requests.listByStatus(['pending_dcv'], 100)).find((r) => r.transactionId === transactionId);
    expect(request?.protocol).toBe('scep');
    const [entry] = (await rest(teamA, 'GET', `/v1/requests/${request?.id}/dcv`)).json.names as DcvEntry[];
    expect((await rest(teamA, 'POST', `/v1/domains/${entry?.domain_id}/validate?wait=20`, {})).json).toMatchObject({ status: 'valid' });
    let last: Awaited<ReturnType<typeof poll>> | undefined;
    await until(async () => (last = await poll()).status !== 'PENDING', SETTLE_MS, 'CertPoll is answered');
    expect(last?.status).toBe('SUCCESS');
    const leaf = (last?.certificates ?? []).map((c) => toPem('CERTIFICATE', c)).find((pem) => new X509Certificate(pem).subjectAltName?.includes(www));
    expectIssuedFor(leaf as string, www);
  });

  it.skipIf(d.skip)('a wrong token, a refused connection, a redirect to an IP address: the domain failed with the reason, the request still waits, audited and sent as dcv.failed', async () => {
    const host = name('shop');
    const { requestId, entry } = await orderPending(teamA, host);
    const path = new URL(entry.challenges['http-01'].url).pathname;
    const cases: { arrange(): void; reason: RegExp }[] = [
      { arrange: () => web.answer(path, { body: 'not-the-token' }), reason: /token|content|response/i },
      // The name resolves to a loopback address nothing listens on: connection refused.
      { arrange: () => dns.setA(host, '127.0.0.2'), reason: /refused|connect/i },
      { arrange: () => (dns.setA(host, '127.0.0.1'), web.answer(path, { location: `http://127.0.0.1:${web.port}${path}` })), reason: /IP address/ },
    ];
    for (const c of cases) {
      c.arrange();
      const recheck = await rest(teamA, 'POST', `/v1/requests/${requestId}/dcv/recheck`, {});
      expect(recheck.status, JSON.stringify(recheck.json)).toBe(202);
      // A check of its own, not the previous case's outcome: the record is validating again.
      expect((recheck.json.names as DcvEntry[])[0]?.status).toBe('validating');
      let record: Awaited<ReturnType<typeof domainOf>> | undefined;
      await until(async () => (record = await domainOf(teamA, entry.domain_id)).status === 'failed', SETTLE_MS, `the check fails (${String(c.reason)})`);
      expect(record?.last_error).toMatch(c.reason);
      expect((await requestOf(requestId)).status).toBe('pending_dcv');
      const [view] = (await rest(teamA, 'GET', `/v1/requests/${requestId}/dcv`)).json.names as DcvEntry[];
      expect(view).toMatchObject({ covered: false, status: 'failed', last_error: record?.last_error });
    }

    const failures = (await auditOf(entry.domain_id)).filter((e) => e.action === 'domain.validate' && e.outcome === 'failure');
    expect(failures).toHaveLength(cases.length);
    expect((await auditOf(requestId)).map((e) => e.action)).toContain('request.await_dcv');
    await until(() => hooks.accepted().filter((h) => h.payload.type === 'dcv.failed' && h.payload.data.name === host).length === cases.length, SETTLE_MS, 'a dcv.failed delivery per failure');
    const delivered = hooks.accepted().filter((h) => h.payload.type === 'dcv.failed' && h.payload.data.name === host);
    for (const h of delivered) {
      expect(h.verified).toBe(true);
      expect(h.payload.data).toMatchObject({ domainId: entry.domain_id, method: 'http-01', requests: [requestId] });
    }
    // What the subscriber is told is what the audit trail recorded, failure by failure.
    expect(new Set(delivered.map((h) => h.payload.data.problem))).toEqual(new Set(failures.map((f) => (f.detail as { error: string }).error)));
  });
});
