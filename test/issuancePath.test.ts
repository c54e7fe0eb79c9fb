// How many of certgate's own files one issuance runs through, per protocol: what a reader tracing
// a request has to open. Counted from V8's coverage (test/helpers/filesCrossed.ts) around the
// second issuance of a gateway (the first loads and warms what every request shares), so it is
// what runs, not what is imported. The budgets keep a change from quietly lengthening a path;
// lower them when a path gets shorter. SCEP's codec and the CSR signature check run on worker
// threads, which this isolate's coverage does not see.
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import * as acme from 'acme-client';
import { afterAll, describe, expect, it } from 'vitest';
import { MESSAGE_TYPE } from '../protocols/scep/algorithms.js';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { fromPem } from '../src/pki/pem.js';
import { startAcmeEnv, type AcmeEnv } from './helpers/acmeEnv.js';
import { basic, startEstEnv, type EstEnv } from './helpers/est.js';
import { filesCrossed } from './helpers/filesCrossed.js';
import { readCertsOnly } from './helpers/pkijs.js';
import { REST_DEPLOYMENTS, startRestEnv, type RestEnv } from './helpers/restEnv.js';
import { buildRequest, getCaCert, pkiOperation, readReply, rsaKey, selfSigned } from './helpers/scepClient.js';
import { startScepEnv, type ScepEnv } from './helpers/scepEnv.js';

/**
 * Files of src/ and protocols/ that one issuance may run through: what was measured when this test
 * was written (REST 66, EST 65, SCEP 71, ACME 74, on SQLite and the in-process queue) and a margin
 * of 4 for timers (usage flush, sweeps) that may fire inside the counted window. Domain validation
 * (issue 23) lengthened two: ACME to 79 (a new order asks the domain registry whether a validation
 * can be reused: its service, store, holders and model), REST to 69 (credential holders, the dcv
 * block of an answer). CMP (issue 25) added one file to every path (src/pki/storedRequest.ts: a
 * request's CSR is stored labelled by format, PKCS#10 or CRMF) and one to EST's (src/core/productSettings.ts,
 * the one reader of a protocol's product settings, shared with CMP): EST to 71.
 */
const BUDGET = { rest: 73, est: 71, scep: 80, acme: 83 } as const;

const ecCsr = (name: string, extras: { challengePassword?: string } = {}): string =>
  buildCsr(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, `CN=${name}`, { dns: [name] }, extras);

/**
 * One issuance as three steps, so that only the gateway's work is counted: `prepare` (the client
 * makes its key, CSR and message: not counted), `send` (counted), `read` (the client reads the
 * answer to a certificate: not counted).
 */
interface Issuance<I, O> {
  prepare(name: string): Promise<I> | I;
  send(input: I): Promise<O>;
  read(output: O, input: I): string;
}

/** Issues twice and counts the files the second issuance crossed; each must yield a certificate for its name. */
async function measure<I, O>(issuance: Issuance<I, O>): Promise<string[]> {
  const once = async (name: string, count: boolean): Promise<string[]> => {
    const input = await issuance.prepare(name);
    let output: O | undefined;
    const files = count ? await filesCrossed(async () => void (output = await issuance.send(input))) : (output = await issuance.send(input), []);
    expect(new X509Certificate(issuance.read(output as O, input)).subjectAltName).toBe(`DNS:${name}`);
    return files;
  };
  await once('warm.path.test', false);
  // A background timer (the CRL watcher, the metrics publisher, the webhook tail) that fires inside
  // one window crosses its files there too; one that fires in both windows in turn is rare, so the
  // path is what both issuances crossed.
  const first = await once('counted.path.test', true);
  const second = new Set(await once('counted-again.path.test', true));
  return first.filter((file) => second.has(file));
}

describe('files one issuance crosses', () => {
  const stops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const stop of stops) await stop();
  });

  it('REST: POST /v1/certificates with a CSR', async () => {
    const env: RestEnv = await startRestEnv(REST_DEPLOYMENTS[0] as (typeof REST_DEPLOYMENTS)[number]);
    stops.push(() => env.close());
    const files = await measure({
      prepare: (name) => ecCsr(name),
      send: (csrPem) => env.api('POST', '/v1/certificates', env.adminToken, { productId: env.productId, csrPem }),
      read: (res) => {
        expect(res.status, res.text).toBe(201);
        return (res.json.certificate as { certificate_pem: string }).certificate_pem;
      },
    });
    expect(files.length, files.join('\n')).toBeLessThanOrEqual(BUDGET.rest);
  });

  it('EST: simpleenroll with HTTP Basic', async () => {
    const env: EstEnv = await startEstEnv({ products: {}, users: { device: '*' } });
    stops.push(() => env.close());
    const authorization = basic(env.users.device as { username: string; password: string });
    const files = await measure({
      prepare: (name) => fromPem(ecCsr(name), ['CERTIFICATE REQUEST']).toString('base64'),
      send: (body) => env.call('/.well-known/est/simpleenroll', { body, headers: { 'content-type': 'application/pkcs10', authorization } }),
      read: (reply) => {
        expect(reply.status, reply.text).toBe(200);
        return new X509Certificate(readCertsOnly(Buffer.from(reply.text, 'base64')).certificates[0] as Buffer).toString();
      },
    });
    expect(files.length, files.join('\n')).toBeLessThanOrEqual(BUDGET.est);
  });

  it('SCEP: PKCSReq with a static challenge', async () => {
    const env: ScepEnv = await startScepEnv();
    stops.push(() => env.stop());
    const ra = await getCaCert(`${env.base}/scep`);
    const product = await env.server.rt.store.products.getByName('default');
    const { challenge } = await env.staticChallenge([product?.id as string]);
    const key = rsaKey();
    const files = await measure({
      prepare: async (name) => {
        const requester = selfSigned(key, `CN=${name}`);
        const content = fromPem(buildCsr(key, `CN=${name}`, { dns: [name] }, { challengePassword: challenge }), ['CERTIFICATE REQUEST']);
        const transactionId = `path-${randomBytes(8).toString('hex')}`;
        return { requester, der: await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.PKCSReq, content, transactionId, senderNonce: randomBytes(16) }) };
      },
      send: ({ der }) => pkiOperation(`${env.base}/scep`, der, 'POST'),
      read: (res, { requester }) => {
        expect(res.status).toBe(200);
        const reply = readReply(res.body, requester);
        expect(reply.status).toBe('SUCCESS');
        const leaf = reply.certificates.map((c) => new X509Certificate(c)).find((c) => !c.ca);
        if (!leaf) throw new Error('no end-entity certificate in the reply');
        return leaf.toString();
      },
    });
    expect(files.length, files.join('\n')).toBeLessThanOrEqual(BUDGET.scep);
  });

  it('ACME: an order over http-01, with acme-client', async () => {
    const env: AcmeEnv = await startAcmeEnv();
    stops.push(() => env.stop());
    const client = new acme.Client({ directoryUrl: env.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey('P-256'), backoffMin: 20, backoffMax: 200, backoffAttempts: 100 });
    await client.createAccount({ termsOfServiceAgreed: true });
    const files = await measure({
      prepare: async (name) => {
        env.dns.setA(name, '127.0.0.1');
        return (await acme.crypto.createCsr({ commonName: name, altNames: [name] }))[1];
      },
      send: (csr) =>
        client.auto({
          csr,
          termsOfServiceAgreed: true,
          challengePriority: ['http-01'],
          skipChallengeVerification: true,
          challengeCreateFn: async (_authz, challenge, keyAuthorization) => env.http01.set(challenge.token, keyAuthorization),
          challengeRemoveFn: async (_authz, challenge) => env.http01.unset(challenge.token),
        }),
      read: (pem) => pem.split(/(?<=-----END CERTIFICATE-----)/)[0] as string,
    });
    expect(files.length, files.join('\n')).toBeLessThanOrEqual(BUDGET.acme);
  });
});
