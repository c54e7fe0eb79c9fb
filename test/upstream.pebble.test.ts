// An upstream ACME CA (Pebble) as a certgate CA: a REST csr request under a product on it is
// issued by Pebble (its http-01 validation answered by certgate's own listener), the certificate
// verifies against Pebble's root from its management interface and carries the names; a name whose
// validation fails upstream is rejected with Pebble's words; an order recorded before a crash is
// resumed, not placed twice; revocation upstream shows in Pebble's status. SQLite with the
// in-process queue, and PostgreSQL with BullMQ and a separate worker for the issuance case.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptPrivateKey } from '../src/ca/keyProtection.js';
import { upstreamAcmeLoader } from '../src/ca/upstream/loader.js';
import { rekeyDeployment } from '../src/core/rekey.js';
import { PROTOCOLS } from '../protocols/index.js';
import { createUpstreamCa } from '../src/ca/upstream/create.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import type { CaRecord, ProductRecord } from '../src/core/types.js';
import { startPebble, type RunningPebble } from './harness/pebble.js';
import { startDnsServer, type StubDnsServer } from './helpers/dnsServer.js';
import { GATEWAY_DEPLOYMENTS, startGateway, TEST_MASTER_KEY, type Gateway } from './helpers/gateway.js';
import { httpRequest, restCall } from './helpers/http.js';
import { pemBlocks, toPem } from '../src/pki/pem.js';
import { makeCsr, openssl, tempDir, x509Text } from './helpers/openssl.js';
import { upstreamCaWithProduct, upstreamIssueRequest } from './helpers/upstreamCa.js';

const SUFFIX = 'upstream.test';

/** The cases beyond issuance run once (`all`), on the embedded deployment. */
const DEPLOYMENTS = GATEWAY_DEPLOYMENTS.map((d, i) => ({ ...d, all: i === 0 }));

describe.each(DEPLOYMENTS)('an upstream ACME CA (Pebble): $name', (d) => {
  let dns: StubDnsServer;
  let gw: Gateway;
  let pebble: RunningPebble | null;
  let ca: CaRecord;
  let product: ProductRecord;
  let token: string;
  const dir = tempDir('certgate-upstream-');
  const rest = (method: string, path: string, body?: unknown) => restCall(gw.baseUrl, token, method, path, body);
  const upstreamEvents = async (requestId: string): Promise<string[]> => {
    const rows = await gw.rt.store.db.selectFrom('audit_log').select(['detail']).where('action', '=', 'ca.upstream_order').where('target', '=', requestId).orderBy('seq').execute();
    return rows.map((r) => (JSON.parse(r.detail) as { event: string }).event);
  };

  beforeAll(async () => {
    if (d.skip) return;
    dns = await startDnsServer();
    gw = await startGateway({ backend: d.backend, queue: d.queue, worker: d.worker, dirPrefix: 'certgate-upstream-gw-' });
    pebble = await startPebble({ dnsServer: dns.address, httpPort: Number(new URL(gw.baseUrl).port) });
    if (!pebble) return;
    ({ ca, product, token } = await upstreamCaWithProduct(gw, { name: 'pebble', directory: pebble.directoryUrl, challenge: { type: 'http-01' }, caFile: pebble.caFile, issuerChainPem: (await pebble.intermediate()) + (await pebble.root()) }, SUFFIX));
  }, 120_000);
  afterAll(async () => {
    await gw?.close();
    await pebble?.stop();
    await dns?.stop();
  });

  it.skipIf(d.skip)('REST csr issuance: Pebble issues, the certificate verifies against its root and carries the names', async () => {
    if (!pebble) return;
    const names = [`web.${SUFFIX}`, `www.web.${SUFFIX}`];
    const { csrPem } = makeCsr(dir, { subject: `/CN=${names[0]}`, san: names.map((n) => `DNS:${n}`) });
    const res = await rest('POST', '/v1/certificates', { productId: product.id, csrPem });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    const cert = res.json.certificate as { certificate_pem: string; serial_number: string; chain_pem: string; id: string };
    const rootFile = join(dir, 'pebble-root.pem');
    const interFile = join(dir, 'pebble-inter.pem');
    const leafFile = join(dir, 'leaf.pem');
    writeFileSync(rootFile, await pebble.root());
    writeFileSync(interFile, await pebble.intermediate());
    writeFileSync(leafFile, cert.certificate_pem);
    expect(openssl(['verify', '-CAfile', rootFile, '-untrusted', interFile, leafFile])).toMatch(/OK/);
    // The chain certgate hands out with it verifies it too (issuing certificate, then root).
    const chainFile = join(dir, 'served-chain.pem');
    writeFileSync(chainFile, cert.chain_pem);
    expect(openssl(['verify', '-CAfile', rootFile, '-untrusted', chainFile, leafFile])).toMatch(/OK/);
    // The chain is the one Pebble returned with this certificate, here and in the download.
    const served = pemBlocks(cert.chain_pem).map((b) => toPem('CERTIFICATE', b.der));
    expect(served).toEqual([toPem('CERTIFICATE', pemBlocks(await pebble.intermediate())[0]!.der)]);
    const download = await httpRequest(`${gw.baseUrl}/v1/certificates/${cert.id}/download?format=chain`, { method: 'GET', bearer: token });
    expect(download.status).toBe(200);
    expect(pemBlocks(download.body.toString('utf8')).map((b) => toPem('CERTIFICATE', b.der))).toEqual([toPem('CERTIFICATE', pemBlocks(cert.certificate_pem)[0]!.der), ...served]);
    const text = x509Text(cert.certificate_pem);
    for (const n of names) expect(text).toContain(`DNS:${n}`);
    expect(text).toMatch(/Issuer: CN\s*=\s*Pebble Intermediate CA/);
    const status = await pebble.certStatus(cert.serial_number);
    expect(status?.Status).toBe('Valid');
    const request = (await gw.rt.store.certificates.get(cert.id))?.requestId as string;
    expect(await upstreamEvents(request)).toEqual(['placed', 'finalized']);
    // The key authorizations are gone once the order is done; a token nobody waits on is a 404.
    const unknown = await httpRequest(`${gw.baseUrl}/.well-known/acme-challenge/no-such-token`, { method: 'GET' });
    expect(unknown.status).toBe(404);
    expect(await gw.rt.store.db.selectFrom('upstream_http_challenges').selectAll().where('request_id', '=', request).execute()).toEqual([]);
  }, 120_000);

  it.skipIf(d.skip || !d.all)('REST managed issuance (key made by certgate): Pebble issues for the server-made CSR, the key fits', async () => {
    if (!pebble) return;
    const res = await rest('POST', '/v1/certificates', { productId: product.id, commonName: `managed.${SUFFIX}`, sanDns: [`alt.managed.${SUFFIX}`], keyAlgorithm: 'ec-p256' });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    const cert = res.json.certificate as { certificate_pem: string; chain_pem: string };
    const text = x509Text(cert.certificate_pem);
    expect(text).toContain(`DNS:managed.${SUFFIX}`);
    expect(text).toContain(`DNS:alt.managed.${SUFFIX}`);
    const keyFile = join(dir, 'managed.key');
    writeFileSync(keyFile, res.json.privateKey as string);
    const leafFile = join(dir, 'managed.pem');
    writeFileSync(leafFile, cert.certificate_pem);
    expect(openssl(['pkey', '-in', keyFile, '-pubout'])).toBe(openssl(['x509', '-in', leafFile, '-noout', '-pubkey']));
    const rootFile = join(dir, 'pebble-root-managed.pem');
    const chainFile = join(dir, 'managed-chain.pem');
    writeFileSync(rootFile, await pebble.root());
    writeFileSync(chainFile, cert.chain_pem);
    expect(openssl(['verify', '-CAfile', rootFile, '-untrusted', chainFile, leafFile])).toMatch(/OK/);
  }, 120_000);

  it.skipIf(d.skip || !d.all)('a name Pebble cannot validate is rejected with Pebble\'s detail', async () => {
    if (!pebble) return;
    const name = `unreachable.${SUFFIX}`;
    // Nothing listens there: Pebble's http-01 connection is refused.
    dns.setA(name, '127.0.0.2');
    const { csrPem } = makeCsr(dir, { subject: `/CN=${name}`, san: [`DNS:${name}`] });
    const res = await rest('POST', '/v1/certificates', { productId: product.id, csrPem });
    // REST waits for the worker: the rejection, in Pebble's words, under the rule `upstream`.
    expect(res.status, JSON.stringify(res.json)).toBe(422);
    expect(res.json.rule).toBe('upstream');
    expect(res.json.detail).toMatch(/127\.0\.0\.2.*connection refused/);
    const requestId = res.json.request_id as string;
    const request = await gw.rt.store.requests.get(requestId);
    expect(request?.status).toBe('rejected');
    expect(request?.rejection?.rule).toBe('upstream');
    expect(await upstreamEvents(requestId)).toEqual(['placed', 'refused']);
  }, 120_000);

  it.skipIf(d.skip || !d.all)('an order recorded before a crash is resumed: one upstream order, one certificate', async () => {
    if (!pebble) return;
    const name = `resume.${SUFFIX}`;
    const { csrPem } = makeCsr(dir, { subject: `/CN=${name}`, san: [`DNS:${name}`] });
    const requestId = `resume-${Date.now()}`;
    const ordersBefore = (pebble.log().match(/POST \/order-plz/g) ?? []).length;
    const crashing = await upstreamAcmeLoader(gw.rt.store, gw.rt.secrets, {
      afterOrderRecorded: () => Promise.reject(new Error('worker died after recording the order')),
    })(ca, { chainPem: [], pointers: null });
    const issueRequest = upstreamIssueRequest(requestId, csrPem, [name]);
    await expect(crashing.issue(issueRequest)).rejects.toThrow(/worker died/);
    const healthy = await upstreamAcmeLoader(gw.rt.store, gw.rt.secrets)(ca, { chainPem: [], pointers: null });
    const issued = await healthy.issue(issueRequest);
    expect(x509Text(issued.pem)).toContain(`DNS:${name}`);
    const ordersAfter = (pebble.log().match(/POST \/order-plz/g) ?? []).length;
    expect(ordersAfter - ordersBefore).toBe(1);
    expect(await upstreamEvents(requestId)).toEqual(['placed', 'resumed', 'finalized']);

    // Revocation upstream, signed with the account key.
    await healthy.revokeUpstream?.({ certificatePem: issued.pem, serialHex: issued.serialHex, reason: 'keyCompromise' });
    const status = await pebble.certStatus(issued.serialHex);
    expect(status?.Status).toBe('Revoked');
  }, 120_000);

  it.skipIf(d.skip || !d.all)('dns-01: the TXT record goes through the CA\'s publisher (here into the test DNS Pebble asks), a wildcard is issued, the record is withdrawn', async () => {
    if (!pebble) return;
    const dnsCa = await createUpstreamCa(
      gw.rt.store,
      { name: 'pebble-dns', directory: pebble.directoryUrl, challenge: { type: 'dns-01', publisher: { kind: 'hook', path: '/nonexistent/hook' } }, caFile: pebble.caFile, issuerChainPem: (await pebble.intermediate()) + (await pebble.root()) },
      gw.rt.secrets,
      CLI_CONTEXT,
    );
    const published: string[] = [];
    const backend = await upstreamAcmeLoader(gw.rt.store, gw.rt.secrets, {
      dnsPublisher: {
        add: async (fqdn, value) => {
          published.push(`add ${fqdn}`);
          dns.setTxt(fqdn, [value]);
        },
        remove: async (fqdn) => {
          published.push(`remove ${fqdn}`);
          dns.setTxt(fqdn, []);
        },
      },
    })(dnsCa, { chainPem: [], pointers: null });
    const name = `*.wild.${SUFFIX}`;
    const { csrPem } = makeCsr(dir, { subject: `/CN=${name}`, san: [`DNS:${name}`] });
    const issued = await backend.issue(upstreamIssueRequest(`dns-${Date.now()}`, csrPem, [name]));
    expect(x509Text(issued.pem)).toContain(`DNS:${name}`);
    expect(published).toEqual([`add _acme-challenge.wild.${SUFFIX}`, `remove _acme-challenge.wild.${SUFFIX}`]);
  }, 120_000);

  it.skipIf(d.skip || !d.all)('a CSR that does not carry exactly the decided names is refused before the upstream is asked', async () => {
    if (!pebble) return;
    const backend = await gw.rt.cas.get(ca.id);
    const { csrPem } = makeCsr(dir, { subject: `/CN=one.${SUFFIX}`, san: [`DNS:one.${SUFFIX}`, `DNS:extra.${SUFFIX}`] });
    const ordersBefore = (pebble.log().match(/POST \/order-plz/g) ?? []).length;
    await expect(
      backend.issue(upstreamIssueRequest(`names-${Date.now()}`, csrPem, [`one.${SUFFIX}`])),
    ).rejects.toThrow(/exactly the decided names.*not decided: extra\.upstream\.test/);
    expect((pebble.log().match(/POST \/order-plz/g) ?? []).length).toBe(ordersBefore);
  }, 60_000);

  // Last: it re-keys this deployment under the running gateway.
  it.skipIf(d.skip || !d.all)('master-key rotation re-seals the ACME account key: the account still orders under the new key', async () => {
    if (!pebble) return;
    const newKey = 'upstream-rotated-master-key-0123456789';
    const { counts } = await rekeyDeployment({ store: gw.rt.store, oldKey: TEST_MASTER_KEY, newKey, protocols: PROTOCOLS, newKeySource: 'the test' });
    expect(counts.ca_keys).toBeGreaterThan(0);
    const sealed = (await gw.rt.store.cas.get(ca.id))?.encryptedKey as string;
    expect(() => decryptPrivateKey(sealed, TEST_MASTER_KEY)).toThrow();
    const backend = await upstreamAcmeLoader(gw.rt.store, { masterKey: newKey })((await gw.rt.store.cas.get(ca.id)) as CaRecord, { chainPem: [], pointers: null });
    const name = `rotated.${SUFFIX}`;
    const { csrPem } = makeCsr(dir, { subject: `/CN=${name}`, san: [`DNS:${name}`] });
    const issued = await backend.issue(upstreamIssueRequest(`rotated-${Date.now()}`, csrPem, [name]));
    expect(x509Text(issued.pem)).toContain(`DNS:${name}`);
  }, 120_000);
});

