// ACME scaled out: two API processes (no worker) on one PostgreSQL database and one Redis, behind
// one public name, and a separate worker runtime that runs the validations and signs. Each request
// of an order goes to the other API process than the one before (as a round-robin load balancer
// sends them), so nonces, accounts, orders, validation outcomes and certificates must all be shared.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentConfig, deploymentMissing, startGateway, testConfig, type Gateway } from './helpers/gateway.js';
import { AcmeTestClient, makeCsrFor, newAccountKey, roundRobinTransport, splitPem, type ChallengeJson, type JwsAlg, type RoundRobin, type Solver } from './helpers/acmeClient.js';
import { startHttp01Responder, startTlsAlpnResponder, type Http01Responder, type TlsAlpnResponder } from './helpers/acmeResponders.js';
import { startDnsServer, type StubDnsServer } from './helpers/dnsServer.js';
import { freePort } from './helpers/net.js';
import { opensslVerify, tempDir } from './helpers/openssl.js';

/** The public name in front of both API processes (a load balancer that passes TLS through). */
const PUBLIC = 'https://acme.certgate.test';

describe.skipIf(deploymentMissing({ backend: 'postgres', queue: 'bullmq' }))('ACME scaled out (two API processes, PostgreSQL + Redis, separate worker)', () => {
  let dns: StubDnsServer;
  let http01: Http01Responder;
  let tlsAlpn: TlsAlpnResponder;
  let apiA: Gateway;
  let apiB: Gateway;
  let rootPem: string;
  let issuingPem: string;
  const dir = tempDir('certgate-acme-scaled-');

  beforeAll(async () => {
    dns = await startDnsServer();
    http01 = await startHttp01Responder();
    tlsAlpn = await startTlsAlpnResponder();
    const shared = {
      ...(await deploymentConfig({ backend: 'postgres', queue: 'bullmq' })),
      publicUrl: PUBLIC,
      queueBackoffMs: 50,
      dnsServer: dns.address,
      http01Port: http01.port,
      tlsAlpn01Port: tlsAlpn.port,
    };
    const config = async (name: string) => testConfig({ ...shared, httpsPort: await freePort() }, `certgate-acme-${name}-`);
    // A runs `init` and has the worker beside it, in a runtime of its own; B finds the deployment made.
    apiA = await startGateway({ config: await config('a'), worker: 'separate' });
    rootPem = apiA.root.certificatePem;
    issuingPem = apiA.issuing.certificatePem;
    apiB = await startGateway({ config: await config('b'), worker: 'none', init: false });
  });

  afterAll(async () => {
    await apiA?.close();
    await apiB?.close();
    await Promise.all([http01?.stop(), tlsAlpn?.stop(), dns?.stop()]);
  });

  const solvers: Record<string, Solver> = {
    'http-01': (ch: ChallengeJson, ka: string) => http01.set(ch.token, ka),
    'dns-01': (_ch, ka, authz) => dns.setTxt(`_acme-challenge.${authz.identifier.value}`, [ka]),
    'tls-alpn-01': (_ch, ka, authz) => tlsAlpn.set(authz.identifier.value, ka),
  };

  const clientOf = async (alg: JwsAlg, start = 0): Promise<{ client: AcmeTestClient; transport: RoundRobin }> => {
    const transport = roundRobinTransport([apiA.httpsUrl as string, apiB.httpsUrl as string], start, { ca: rootPem });
    return { client: new AcmeTestClient(`${PUBLIC}/acme/directory`, await newAccountKey(alg), transport), transport };
  };

  it('completes orders whose requests alternate between the two API processes, for every challenge type', async () => {
    const cases = [
      { type: 'http-01', alg: 'ES256' as const, names: ['rr-http.test', 'www.rr-http.test'] },
      { type: 'dns-01', alg: 'ES384' as const, names: ['rr-dns.test', '*.rr-dns.test'] },
      { type: 'tls-alpn-01', alg: 'RS256' as const, names: ['rr-alpn.test'] },
    ];
    // The three run at once, each client alternating between the processes.
    const results = await Promise.all(
      cases.map(async ({ type, alg, names }, i) => {
        // Clients start on different processes, so each step is seen by both across the run.
        const { client, transport } = await clientOf(alg, i);
        const account = await client.newAccount();
        expect(account.status, account.text).toBe(201);
        const issued = await client.issue(names, type, solvers[type] as Solver);
        return { names, issued, log: transport.log };
      }),
    );

    for (const { names, issued, log } of results) {
      const chain = splitPem(issued.chainPem);
      expect(opensslVerify(dir, rootPem, issuingPem, chain[0] as string)).toMatch(/: OK/);
      expect(new X509Certificate(chain[0] as string).subjectAltName).toBe(names.map((n) => `DNS:${n}`).join(', '));
      // URLs are the public name's, whichever process made them.
      expect(issued.orderUrl.startsWith(`${PUBLIC}/acme/order/`)).toBe(true);
      // Every request went to the other process than the one before, and each kind of step was
      // answered by both processes across the run.
      for (let i = 1; i < log.length; i++) expect(log[i]?.backend).not.toBe(log[i - 1]?.backend);
      const backendsOf = (re: RegExp) => new Set(log.filter((l) => re.test(l.path)).map((l) => l.backend));
      expect(backendsOf(/./).size).toBe(2);
      // A nonce handed out by one process was always taken by the other: never a badNonce.
      expect(log.filter((l) => l.status === 400)).toEqual([]);
      expect(log.every((l) => l.status < 400)).toBe(true);
    }
    const all = results.flatMap((r) => r.log);
    for (const step of [/\/new-order$/, /\/chall\//, /\/finalize$/, /\/order\/[^/]+$/, /\/cert\//]) {
      expect(new Set(all.filter((l) => step.test(l.path)).map((l) => l.backend)).size, String(step)).toBe(2);
    }
  });

  it('sends one order step by step to alternating processes: newOrder on one, the challenge on the other, finalize back', async () => {
    const { client, transport } = await clientOf('ES256');
    expect((await client.newAccount()).status).toBe(201);
    const created = await client.newOrder(['rr-steps.test']);
    expect(created.status, created.text).toBe(201);
    const orderUrl = created.header('location');
    const ready = await client.authorize(orderUrl, created.json, 'http-01', solvers['http-01'] as Solver);
    expect(ready.json.status).toBe('ready');
    const { csr } = await makeCsrFor(['rr-steps.test']);
    const finalized = await client.post<{ status: string }>(ready.json.finalize, { csr });
    expect(finalized.status, finalized.text).toBe(200);
    expect(['processing', 'valid']).toContain(finalized.json.status);
    const done = await client.pollUntil<{ status: string; certificate?: string }>(orderUrl, (o) => o.status === 'valid');
    const download = await client.post(done.json.certificate as string);
    expect(download.status).toBe(200);
    expect(opensslVerify(dir, rootPem, issuingPem, splitPem(download.text)[0] as string)).toMatch(/: OK/);
    const stepBackends = (re: RegExp) => transport.log.filter((l) => l.method === 'POST' && re.test(l.path)).map((l) => l.backend);
    const [newOrderAt] = stepBackends(/\/new-order$/);
    const [challengeAt] = stepBackends(/\/chall\//);
    const [finalizeAt] = stepBackends(/\/finalize$/);
    expect(new Set([newOrderAt, challengeAt, finalizeAt]).size).toBe(2);
    expect(transport.log.filter((l) => l.status >= 400)).toEqual([]);
  });
});
