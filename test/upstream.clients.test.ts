// Devices, integrators and approvers on an upstream ACME CA (Pebble): under a product on it, REST
// managed issuance and EST serverkeygen (the key made by certgate), EST simpleenroll and SCEP
// PKCSReq (certgate's own test clients, and strongSwan's `pki` where it is installed) get
// certificates Pebble issued, which openssl verifies against Pebble's root and intermediate from
// its management interface, with the names asked for; EST /cacerts and SCEP GetCACert hand a
// device the chains it needs, and a device renews with the certificate Pebble gave it (EST
// simplereenroll, SCEP RenewalReq). A product that needs approval holds the request without
// contacting the upstream (no order in certgate's table, none in Pebble's log) until a second REST
// credential approves it. SQLite with the in-process queue, and PostgreSQL with BullMQ and a
// separate worker.
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MESSAGE_TYPE } from '../protocols/scep/algorithms.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import type { CaRecord, ProductRecord } from '../src/core/types.js';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { fromPem, toPem } from '../src/pki/pem.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { findBinary, missingBinaryReason } from './harness/binaries.js';
import { startPebble, type RunningPebble } from './harness/pebble.js';
import { startDnsServer, type StubDnsServer } from './helpers/dnsServer.js';
import { basic, csrDer, opensslCertsOf, runClient } from './helpers/est.js';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { httpRequest, restCall } from './helpers/http.js';
import { freePort } from './helpers/net.js';
import { makeCsr, openssl } from './helpers/openssl.js';
import { REST_DEPLOYMENTS } from './helpers/restEnv.js';
import { buildRequest, getCaCert, holding, pkiOperation, readReply, rsaKey, selfSigned, type RaInfo, type Requester } from './helpers/scepClient.js';
import { until } from './helpers/until.js';
import { upstreamCaWithProduct } from './helpers/upstreamCa.js';

const SUFFIX = 'clients.upstream.test';
const pebbleMissing = missingBinaryReason('pebble', 'apt-get install -y pebble');
const pkiMissing = missingBinaryReason('pki', 'apt-get install -y strongswan-pki libstrongswan-extra-plugins');


const pemOf = (der: Buffer): string => toPem('CERTIFICATE', der);
const sameCert = (a: string, b: string): boolean => new X509Certificate(a).raw.equals(new X509Certificate(b).raw);
const sanOf = (pem: string): string[] => (new X509Certificate(pem).subjectAltName ?? '').split(', ').filter(Boolean).sort();
const ordersPlaced = (pebble: RunningPebble): number => (pebble.log().match(/POST \/order-plz/g) ?? []).length;

describe.skipIf(pebbleMissing !== null).each(REST_DEPLOYMENTS)('clients on an upstream ACME CA (Pebble): $name', (d) => {
  // strongSwan runs against the embedded deployment: the protocol paths it takes are the same in both.
  const strongSwan = !d.scaled && pkiMissing === null;
  let dns: StubDnsServer;
  let gw: Gateway;
  let pebble: RunningPebble;
  let ca: CaRecord;
  let devices: ProductRecord;
  let gated: ProductRecord;
  /** The REST key of the team that issues under `devices`; `requesterToken` asks under `gated`. */
  let deviceTeamToken: string;
  let requesterToken: string;
  let approverToken: string;
  let est: { username: string; password: string };
  let dir: string;
  let pebbleRoot: string;
  let pebbleIntermediate: string;
  const files = { pebbleRoot: '', pebbleIntermediate: '', gatewayRoot: '', gatewayIssuing: '' };

  const rest = (token: string, method: string, path: string, body?: unknown) => restCall(gw.baseUrl, token, method, path, body);
  const upstreamOrderOf = (requestId: string) => gw.rt.store.db.selectFrom('upstream_orders').selectAll().where('request_id', '=', requestId).executeTakeFirst();

  /** openssl's verdict on `pem` with Pebble's root as the one trust anchor and its intermediate as the path. */
  function verifiedByPebble(pem: string, untrusted: string = files.pebbleIntermediate): X509Certificate {
    const leaf = join(dir, `leaf-${randomBytes(4).toString('hex')}.pem`);
    writeFileSync(leaf, pem);
    expect(openssl(['verify', '-CAfile', files.pebbleRoot, '-untrusted', untrusted, leaf])).toMatch(/: OK/);
    // And it is not certgate's own CA that signed it.
    const own = join(dir, 'gateway-chain.pem');
    writeFileSync(own, gw.root.certificatePem + gw.issuing.certificatePem);
    expect(() => openssl(['verify', '-CAfile', own, leaf])).toThrow();
    const cert = new X509Certificate(pem);
    expect(cert.issuer).toBe(new X509Certificate(pebbleIntermediate).subject);
    return cert;
  }

  /** Pebble's own record of the certificate: it issued it, and it is valid there. */
  async function knownToPebble(cert: X509Certificate): Promise<void> {
    const status = await pebble.certStatus(cert.serialNumber);
    expect(status?.Status).toBe('Valid');
  }

  const spki = (k: KeyObject | X509Certificate['publicKey']): Buffer => k.export({ format: 'der', type: 'spki' });

  /** What strongSwan's `pki` printed: it succeeded, called the certificate trusted, and Pebble issued it for `name`. */
  async function strongSwanGot(run: { code: number; stdout: Buffer; stderr: string }, name: string): Promise<void> {
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/Issued certificate is trusted/);
    const pem = run.stdout.toString('utf8');
    const cert = verifiedByPebble(pem);
    expect(cert.subject).toBe(`CN=${name}`);
    expect(sanOf(pem)).toEqual([`DNS:${name}`]);
    await knownToPebble(cert);
  }

  beforeAll(async () => {
    if (d.skip) return;
    dns = await startDnsServer();
    // strongSwan checks the gateway's HTTPS certificate over OCSP at the URL it names: where we listen.
    const httpPort = await freePort();
    gw = await startGateway({
      ...(d.scaled ? { backend: 'postgres', queue: 'bullmq', worker: 'separate' } : {}),
      https: true,
      dirPrefix: 'certgate-upstream-clients-',
      overrides: { httpPort, publicUrl: `http://127.0.0.1:${httpPort}`, scepRaCa: 'certgate-issuing' },
    });
    dir = gw.dir;
    // Pebble validates http-01 on certgate's own HTTP listener, every name resolving to loopback.
    const started = await startPebble({ dnsServer: dns.address, httpPort });
    if (!started) throw new Error('pebble is installed but did not start');
    pebble = started;
    pebbleRoot = await pebble.root();
    pebbleIntermediate = await pebble.intermediate();
    for (const [name, pem] of [
      ['pebbleRoot', pebbleRoot],
      ['pebbleIntermediate', pebbleIntermediate],
      ['gatewayRoot', gw.root.certificatePem],
      ['gatewayIssuing', gw.issuing.certificatePem],
    ] as const) {
      files[name] = join(dir, `${name}.pem`);
      writeFileSync(files[name], pem);
    }
    ({ ca, product: devices, token: deviceTeamToken } = await upstreamCaWithProduct(
      gw,
      { name: 'pebble', directory: pebble.directoryUrl, challenge: { type: 'http-01' }, caFile: pebble.caFile, issuerChainPem: pebbleIntermediate + pebbleRoot },
      SUFFIX,
    ));
    gated = await createProduct(gw.rt.store, { name: 'pebble-gated', caId: ca.id, template: parseProductTemplate({ ...devices.template, requiresApproval: true }) }, CLI_CONTEXT, undefined, gw.config);
    await gw.rt.catalogue.changed();
    requesterToken = (await gw.rt.credentials.create({ type: 'rest', name: 'integrator', products: [gated.id], permissions: [{ ca: ca.id, actions: ['read', 'issue'] }], admin: false }, CLI_CONTEXT)).secret;
    approverToken = (await gw.rt.credentials.create({ type: 'rest', name: 'approver', products: [gated.id], permissions: [{ ca: ca.id, actions: ['read', 'approve'] }], admin: false }, CLI_CONTEXT)).secret;
    const estCredential = await gw.rt.credentials.create({ type: 'est', name: 'router', products: [devices.id] }, CLI_CONTEXT);
    est = { username: 'router', password: estCredential.secret };
  }, 120_000);

  afterAll(async () => {
    await gw?.close();
    await pebble?.stop();
    await dns?.stop();
  });

  it.skipIf(d.skip)('REST managed issuance: Pebble signs the key certgate made; the certificate verifies against Pebble\'s chain and carries the names', async () => {
    const names = [`app.${SUFFIX}`, `api.app.${SUFFIX}`];
    const res = await rest(deviceTeamToken, 'POST', '/v1/certificates', { productId: devices.id, mode: 'managed', commonName: names[0], sanDns: [names[1]], keyAlgorithm: 'ECDSA-P256' });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    const body = res.json.certificate as { id: string; certificate_pem: string; chain_pem: string; san_dns: string[] };
    const cert = verifiedByPebble(body.certificate_pem);
    expect(sanOf(body.certificate_pem)).toEqual(names.map((n) => `DNS:${n}`).sort());
    expect([...body.san_dns].sort()).toEqual([...names].sort());
    // The key handed back once is the certificate's.
    expect(cert.checkPrivateKey(createPrivateKey(res.json.privateKey as string))).toBe(true);
    await knownToPebble(cert);
    // The chain in the answer, and the chain download, are Pebble's: a client verifies with them alone.
    const served = join(dir, 'served-chain.pem');
    writeFileSync(served, body.chain_pem);
    verifiedByPebble(body.certificate_pem, served);
    const download = await httpRequest(`${gw.baseUrl}/v1/certificates/${body.id}/download?format=chain`, { bearer: deviceTeamToken });
    expect(download.status, download.text).toBe(200);
    const pems = download.text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
    // The certificate, then the chain Pebble returned with it: with Pebble's root, all a client needs.
    expect(sameCert(pems[0] as string, body.certificate_pem)).toBe(true);
    expect(pems.slice(1).some((pem) => sameCert(pem, pebbleIntermediate))).toBe(true);
    const downloaded = join(dir, 'downloaded-chain.pem');
    writeFileSync(downloaded, pems.slice(1).join(''));
    verifiedByPebble(body.certificate_pem, downloaded);
  }, 120_000);

  describe('EST', () => {
    const estCall = (path: string, o: { body?: string; headers?: Record<string, string>; cert?: string; key?: string } = {}) =>
      httpRequest(`${gw.httpsUrl as string}${path}`, {
        ca: gw.root.certificatePem,
        servername: 'localhost',
        ...(o.body !== undefined ? { body: o.body, method: 'POST' } : {}),
        ...(o.headers ? { headers: o.headers } : {}),
        ...(o.cert ? { cert: o.cert, key: o.key as string } : {}),
      });

    it.skipIf(d.skip)('/cacerts gives a device Pebble\'s intermediate and root, simpleenroll a certificate from Pebble that they verify, and simplereenroll with it its successor', async () => {
      const cacerts = await estCall(`/.well-known/est/${devices.name}/cacerts`);
      expect(cacerts.status, cacerts.text).toBe(200);
      const chain = opensslCertsOf(Buffer.from(cacerts.text, 'base64'), dir);
      expect(chain.length).toBe(2);
      expect(sameCert(chain[0] as string, pebbleIntermediate)).toBe(true);
      expect(sameCert(chain[1] as string, pebbleRoot)).toBe(true);

      const name = `router.${SUFFIX}`;
      const { csrPem, keyPath } = makeCsr(dir, { subject: `/CN=${name}`, san: [`DNS:${name}`] });
      const enrolled = await estCall(`/.well-known/est/${devices.name}/simpleenroll`, {
        body: csrDer(csrPem).toString('base64'),
        headers: { 'content-type': 'application/pkcs10', authorization: basic(est) },
      });
      expect(enrolled.status, enrolled.text).toBe(200);
      const [leaf, ...more] = opensslCertsOf(Buffer.from(enrolled.text, 'base64'), dir);
      expect(more).toEqual([]);
      // What /cacerts gave is all the device needs: its root as the anchor, the rest as the path.
      const fromCacerts = join(dir, 'est-cacerts-intermediates.pem');
      writeFileSync(fromCacerts, chain.slice(0, -1).join(''));
      const cert = verifiedByPebble(leaf as string, fromCacerts);
      expect(sanOf(leaf as string)).toEqual([`DNS:${name}`]);
      expect(spki(cert.publicKey).equals(spki(createPublicKey(readFileSync(keyPath))))).toBe(true);
      await knownToPebble(cert);

      // Re-enrollment: the Pebble certificate is the TLS client certificate (with the Basic
      // credential, as est.auth=basic wants), a new key, the same names; Pebble issues again.
      const next = makeCsr(dir, { subject: `/CN=${name}`, san: [`DNS:${name}`] });
      const renewed = await estCall(`/.well-known/est/${devices.name}/simplereenroll`, {
        body: csrDer(next.csrPem).toString('base64'),
        headers: { 'content-type': 'application/pkcs10', authorization: basic(est) },
        cert: leaf as string,
        key: readFileSync(keyPath, 'utf8'),
      });
      expect(renewed.status, renewed.text).toBe(200);
      const [successor] = opensslCertsOf(Buffer.from(renewed.text, 'base64'), dir);
      const nextCert = verifiedByPebble(successor as string, fromCacerts);
      expect(nextCert.serialNumber).not.toBe(cert.serialNumber);
      expect(sanOf(successor as string)).toEqual([`DNS:${name}`]);
      expect(spki(nextCert.publicKey).equals(spki(createPublicKey(readFileSync(next.keyPath))))).toBe(true);
      const reenrolled = (await gw.rt.store.requests.listByStatus(['issued'], 1000)).filter((r) => r.productId === devices.id && r.transactionId?.startsWith('simplereenroll:'));
      expect(reenrolled.length).toBe(1);
      await knownToPebble(nextCert);
    }, 120_000);

    it.skipIf(d.skip)('serverkeygen: Pebble certifies the key certgate made, and the device gets both', async () => {
      const name = `keygen.${SUFFIX}`;
      const { csrPem } = makeCsr(dir, { subject: `/CN=${name}`, san: [`DNS:${name}`] });
      const reply = await estCall(`/.well-known/est/${devices.name}/serverkeygen`, {
        body: csrDer(csrPem).toString('base64'),
        headers: { 'content-type': 'application/pkcs10', authorization: basic(est) },
      });
      expect(reply.status, reply.text).toBe(200);
      const boundary = /boundary=(\S+)/.exec(String(reply.headers['content-type']))?.[1] as string;
      // multipart/mixed: the PKCS#8 key, then the certs-only PKCS#7, each base64.
      const [keyPart, certPart] = reply.text
        .split(`--${boundary}`)
        .slice(1, -1)
        .map((part) => Buffer.from(part.split('\r\n\r\n')[1] as string, 'base64'));
      const [pem] = opensslCertsOf(certPart as Buffer, dir);
      const cert = verifiedByPebble(pem as string);
      expect(sanOf(pem as string)).toEqual([`DNS:${name}`]);
      expect(cert.checkPrivateKey(createPrivateKey({ key: keyPart as Buffer, format: 'der', type: 'pkcs8' }))).toBe(true);
      await knownToPebble(cert);
    }, 120_000);

    it.skipIf(d.skip || !strongSwan)('strongSwan pki --estca and --est: Pebble\'s chain, and a certificate it calls trusted', async () => {
      const pki = findBinary('pki') as string;
      const url = `https://localhost:${new URL(gw.httpsUrl as string).port}/${devices.name}`;
      // The gateway's own CA for the TLS connection, Pebble's for what is issued.
      const tlsTrust = ['--cacert', files.gatewayRoot, '--cacert', files.gatewayIssuing];
      const estca = await runClient(pki, ['--estca', '--url', url, ...tlsTrust, '--caout', 'est-pebble-ca.pem', '--outform', 'pem'], dir);
      expect(estca.code, estca.stderr).toBe(0);
      expect(sameCert(readFileSync(join(dir, 'est-pebble-ca.pem'), 'utf8'), pebbleRoot)).toBe(true);
      expect(sameCert(readFileSync(join(dir, 'est-pebble-ca-1.pem'), 'utf8'), pebbleIntermediate)).toBe(true);

      const name = `swan.${SUFFIX}`;
      const gen = await runClient(pki, ['--gen', '--type', 'ecdsa', '--size', '256', '--outform', 'pem'], dir);
      expect(gen.code, gen.stderr).toBe(0);
      writeFileSync(join(dir, 'swan.key'), gen.stdout);
      const req = await runClient(pki, ['--req', '--in', 'swan.key', '--type', 'ecdsa', '--dn', `CN=${name}`, '--san', name, '--outform', 'pem'], dir);
      expect(req.code, req.stderr).toBe(0);
      writeFileSync(join(dir, 'swan.req'), req.stdout);
      const enrolled = await runClient(
        pki,
        ['--est', '--url', url, '--in', 'swan.req', ...tlsTrust, '--cacert', 'est-pebble-ca.pem', '--cacert', 'est-pebble-ca-1.pem', '--userpass', `${est.username}:${est.password}`, '--outform', 'pem'],
        dir,
      );
      await strongSwanGot(enrolled, name);
    }, 120_000);
  });

  describe('SCEP', () => {
    const scepUrl = () => `${gw.baseUrl}/scep/${devices.name}`;
    /** A pkiMessage sent, and polled with CertPoll as a device does while it is PENDING (the upstream validates first): the issued certificate. */
    async function enroll(ra: RaInfo, requester: Requester, messageType: number, csrPem: string): Promise<string> {
      const transactionId = `upstream-${randomBytes(6).toString('hex')}`;
      const content = fromPem(csrPem, ['CERTIFICATE REQUEST']);
      let reply = readReply((await pkiOperation(scepUrl(), await buildRequest({ requester, ra, messageType, content, transactionId }))).body, requester);
      if (reply.status === 'PENDING') {
        const issuerAndSubject = Buffer.from(new asn1js.Sequence({ value: [ra.cert.subject.toSchema(), requester.cert.subject.toSchema()] }).toBER());
        await until(
          async () => {
            const poll = await pkiOperation(scepUrl(), await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.CertPoll, content: issuerAndSubject, transactionId }));
            reply = readReply(poll.body, requester);
            return reply.status !== 'PENDING';
          },
          60_000,
          'the SCEP request is answered',
        );
      }
      expect(reply.status, reply.failInfo ?? '').toBe('SUCCESS');
      return reply.certificates.map(pemOf).find((pem) => !new X509Certificate(pem).ca) as string;
    }
    const challenge = async (): Promise<string> => {
      const { status, json } = await rest(gw.adminToken, 'POST', '/v1/scep/challenges', { productId: devices.id });
      expect(status).toBe(201);
      return json.challenge as string;
    };

    it.skipIf(d.skip)('GetCACert carries an RA from certgate\'s issuing CA (which can sign it) and Pebble\'s chain; a PKCSReq gets a certificate from Pebble, a RenewalReq signed with it its successor, GetCert finds it and GetCRL is refused', async () => {
      const ra: RaInfo = await getCaCert(scepUrl());
      // The RA chains to the local CA named by CERTGATE_SCEP_RA_CA: Pebble signs nothing it did not validate.
      const raFile = join(dir, 'scep-ra.pem');
      writeFileSync(raFile, pemOf(ra.der));
      expect(openssl(['verify', '-CAfile', files.gatewayRoot, '-untrusted', files.gatewayIssuing, raFile])).toMatch(/: OK/);
      const chain = ra.chain.map(pemOf);
      expect(chain.length).toBe(4);
      expect(sameCert(chain[0] as string, gw.issuing.certificatePem)).toBe(true);
      expect(sameCert(chain[1] as string, gw.root.certificatePem)).toBe(true);
      expect(sameCert(chain[2] as string, pebbleIntermediate)).toBe(true);
      expect(sameCert(chain[3] as string, pebbleRoot)).toBe(true);

      const name = `printer.${SUFFIX}`;
      const key = rsaKey();
      const first = await enroll(ra, selfSigned(key, `CN=${name}`), MESSAGE_TYPE.PKCSReq, buildCsr(key, `CN=${name}`, { dns: [name] }, { challengePassword: await challenge() }));
      const cert = verifiedByPebble(first);
      expect(sanOf(first)).toEqual([`DNS:${name}`]);
      expect(spki(cert.publicKey).equals(spki(createPublicKey(key)))).toBe(true);
      await knownToPebble(cert);

      // RenewalReq: signed with the Pebble certificate, for a new key; Pebble issues its successor.
      const newKey = rsaKey();
      const second = await enroll(ra, holding(key, first), MESSAGE_TYPE.RenewalReq, buildCsr(newKey, `CN=${name}`, { dns: [name] }));
      const successor = verifiedByPebble(second);
      expect(successor.serialNumber).not.toBe(cert.serialNumber);
      expect(sanOf(second)).toEqual([`DNS:${name}`]);
      expect(spki(successor.publicKey).equals(spki(createPublicKey(newKey)))).toBe(true);
      await knownToPebble(successor);

      // GetCert finds Pebble's certificate by its issuer and serial; GetCRL is refused (FAILURE, not
      // an error): Pebble publishes its own CRL, certgate none for it.
      const holder = holding(newKey, second);
      const issuerAndSerial = Buffer.from(new pkijs.IssuerAndSerialNumber({ issuer: holder.cert.issuer, serialNumber: holder.cert.serialNumber }).toSchema().toBER());
      const ask = async (messageType: number) => {
        const res = await pkiOperation(scepUrl(), await buildRequest({ requester: holder, ra, messageType, content: issuerAndSerial, transactionId: `upstream-${randomBytes(6).toString('hex')}` }));
        expect(res.status).toBe(200);
        return readReply(res.body, holder);
      };
      const got = await ask(MESSAGE_TYPE.GetCert);
      expect(got.status).toBe('SUCCESS');
      expect(got.certificates.map(pemOf).some((pem) => sameCert(pem, second))).toBe(true);
      expect(await ask(MESSAGE_TYPE.GetCRL)).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest', crls: [] });
    }, 120_000);

    it.skipIf(d.skip || !strongSwan)('strongSwan pki --scepca and --scep: the RA verifies the CertRep, Pebble\'s chain the certificate', async () => {
      const pki = findBinary('pki') as string;
      const scepca = await runClient(pki, ['--scepca', '--url', scepUrl(), '--caout', 'scep-ca.der', '--raout', 'scep-ra.der'], dir);
      expect(scepca.code, scepca.stderr).toBe(0);
      expect(scepca.stderr).toMatch(/RA cert is trusted/);
      const caFiles = readdirSync(dir).filter((f) => /^scep-ca.*\.der$/.test(f));
      const written = caFiles.map((f) => pemOf(readFileSync(join(dir, f))));
      // Both roots and both issuing certificates reach the device.
      for (const want of [gw.root.certificatePem, gw.issuing.certificatePem, pebbleRoot, pebbleIntermediate]) expect(written.some((pem) => sameCert(pem, want))).toBe(true);

      const name = `swan-scep.${SUFFIX}`;
      writeFileSync(join(dir, 'swan-scep.key'), rsaKey().export({ format: 'pem', type: 'pkcs1' }));
      const scep = async (extra: string[]) =>
        runClient(
          pki,
          [
            '--scep',
            '--url',
            scepUrl(),
            '--in',
            'swan-scep.key',
            '--dn',
            `CN=${name}`,
            ...extra,
            '--password',
            await challenge(),
            '--cacert-enc',
            'scep-ra.der',
            '--cacert-sig',
            'scep-ra.der',
            ...caFiles.flatMap((f) => ['--cacert', f]),
            '--cipher',
            'aes',
            '--digest',
            'sha256',
            '--interval',
            '1',
            '--maxpolltime',
            '60',
            '--outform',
            'pem',
          ],
          dir,
        );
      // A name in the CN alone: Pebble reads names from the subjectAltName only, and refuses the CSR
      // it is sent unchanged (certgate cannot re-sign it without the device's key). The device hears
      // FAILURE, the request is rejected in Pebble's words.
      const cnOnly = await scep([]);
      expect(cnOnly.code).not.toBe(0);
      expect(cnOnly.stderr).toMatch(/failInfo:\s+badRequest/);
      const rejected = (await gw.rt.store.requests.listByStatus(['rejected'], 100)).filter((r) => r.productId === devices.id && r.protocol === 'scep');
      expect(rejected.map((r) => r.rejection?.rule)).toEqual(['upstream']);
      expect(rejected[0]?.rejection?.detail).toMatch(/DNSnames identifiers than CSR specifies/);

      await strongSwanGot(await scep(['--san', name]), name);
    }, 120_000);
  });

  it.skipIf(d.skip)('a product that needs approval: no upstream order until a second credential approves, then Pebble issues', async () => {
    const ordersBefore = ordersPlaced(pebble);
    const name = `gated.${SUFFIX}`;
    const res = await rest(requesterToken, 'POST', '/v1/certificates', { productId: gated.id, mode: 'managed', commonName: name, keyAlgorithm: 'ECDSA-P256' });
    expect(res.status, JSON.stringify(res.json)).toBe(202);
    expect(res.json.status).toBe('pending_approval');
    const requestId = res.json.request_id as string;
    const key = createPrivateKey(res.json.privateKey as string);

    // The worker has decided (202 comes once the request waits): nothing went upstream.
    expect((await gw.rt.store.requests.get(requestId))?.status).toBe('pending_approval');
    expect(await upstreamOrderOf(requestId)).toBeUndefined();
    const upstreamEntries = () => gw.rt.store.db.selectFrom('audit_log').select(['detail']).where('action', '=', 'ca.upstream_order').where('target', '=', requestId).execute();
    expect(await upstreamEntries()).toEqual([]);
    expect(ordersPlaced(pebble)).toBe(ordersBefore);

    // Four eyes: the requester may not approve its own request; the approver may.
    expect((await rest(requesterToken, 'POST', `/v1/requests/${requestId}/approve`, {})).status).toBe(403);
    expect(await upstreamOrderOf(requestId)).toBeUndefined();
    const approved = await rest(approverToken, 'POST', `/v1/requests/${requestId}/approve`, {});
    expect(approved.status, JSON.stringify(approved.json)).toBe(200);

    let certificateId: string | null = null;
    await until(
      async () => {
        const r = await rest(requesterToken, 'GET', `/v1/requests/${requestId}`);
        certificateId = r.json.certificate_id as string | null;
        return r.json.status === 'issued';
      },
      60_000,
      'the approved request is issued',
    );
    const fetched = await rest(requesterToken, 'GET', `/v1/certificates/${certificateId}`);
    const pem = fetched.json.certificate_pem as string;
    const cert = verifiedByPebble(pem);
    expect(sanOf(pem)).toEqual([`DNS:${name}`]);
    expect(cert.checkPrivateKey(key)).toBe(true);
    await knownToPebble(cert);
    // Exactly one order, placed after the approval, and recorded by certgate.
    expect((await upstreamOrderOf(requestId))?.state).toBe('valid');
    expect(ordersPlaced(pebble)).toBe(ordersBefore + 1);
    const approval = await gw.rt.store.db.selectFrom('audit_log').select(['seq']).where('action', '=', 'request.approve').where('target', '=', requestId).executeTakeFirst();
    const placed = await gw.rt.store.db.selectFrom('audit_log').select(['seq', 'detail']).where('action', '=', 'ca.upstream_order').where('target', '=', requestId).orderBy('seq').execute();
    expect(placed.map((e) => (JSON.parse(e.detail) as { event: string }).event)).toEqual(['placed', 'finalized']);
    expect(approval).toBeDefined();
    expect(Number(placed[0]?.seq)).toBeGreaterThan(Number(approval?.seq));
  }, 120_000);
});
