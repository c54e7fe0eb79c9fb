// OCSP answers for every certificate certgate issued, asked as relying parties ask (openssl ocsp):
// CA certificates, which live in the CA records rather than among issued certificates, under the
// CA that signed them; and the gateway's own HTTPS certificate, whose AIA names this responder.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa } from '../src/ca/createCa.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import type { CaRecord } from '../src/core/types.js';
import { normalizeSerialHex } from '../src/pki/serial.js';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { restCall } from './helpers/http.js';
import { freePort } from './helpers/net.js';
import { x509Text } from './helpers/openssl.js';
import { until } from './helpers/until.js';

/** openssl ocsp's verdicts (stdout) and "Response verify OK" (stderr); it may exit 1. Asynchronous: the responder runs in this process. */
function ocspQuery(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile('openssl', ['ocsp', ...args], { encoding: 'utf8' }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;

describe('OCSP for CA certificates and the gateway HTTPS certificate', () => {
  let gw: Gateway;
  let dir: string;
  let url: string;
  let rootFile: string;
  let issuingFile: string;
  let chainFile: string;

  const write = (name: string, pem: string): string => {
    const file = join(dir, name);
    writeFileSync(file, pem);
    return file;
  };

  /** openssl ocsp asking `issuer` about `cert`, its answer checked against certgate's chain. */
  const ask = (issuer: string, cert: string): Promise<string> => ocspQuery(['-issuer', issuer, '-cert', cert, '-url', url, '-CAfile', chainFile]);

  /** The gateway's HTTPS certificate as it sits in the data dir: the leaf, then the issuing CA. */
  const tlsLeaf = (): string => (readFileSync(join(dir, 'tls', 'server.pem'), 'utf8').match(PEM_CERTIFICATE) ?? [])[0] as string;

  beforeAll(async () => {
    // The HTTPS certificate carries pointers built from the public URL, so it must be where we listen.
    const port = await freePort();
    gw = await startGateway({ https: true, overrides: { httpPort: port, publicUrl: `http://127.0.0.1:${port}` } });
    dir = gw.dir;
    url = `${gw.baseUrl}/ocsp`;
    rootFile = write('root.pem', gw.root.certificatePem);
    issuingFile = write('issuing.pem', gw.issuing.certificatePem);
    chainFile = write('chain.pem', gw.issuing.certificatePem + gw.root.certificatePem);
  });

  afterAll(async () => gw?.close());

  it("puts the root's CRL, OCSP and caIssuers pointers in the issuing CA's certificate, and serves them", async () => {
    const issuing = new X509Certificate(gw.issuing.certificatePem);
    const base = url.replace(/\/ocsp$/, '');
    expect(issuing.infoAccess).toContain(`OCSP - URI:${url}`);
    expect(issuing.infoAccess).toContain(`CA Issuers - URI:${base}/ca/${gw.root.id}.crt`);
    expect(x509Text(gw.issuing.certificatePem)).toContain(`URI:${base}/crl/${gw.root.id}.crl`);
    const crl = await fetch(`${base}/crl/${gw.root.id}.crl`);
    expect(crl.status).toBe(200);
    expect(crl.headers.get('content-type')).toBe('application/pkix-crl');
    expect(Buffer.from(await (await fetch(`${base}/ca/${gw.root.id}.crt`)).arrayBuffer())).toEqual(new X509Certificate(gw.root.certificatePem).raw);
  });

  it('says good for the issuing CA asked with the root as issuer, and for the root itself', async () => {
    const issuing = await ask(rootFile, issuingFile);
    expect(issuing).toMatch(/issuing\.pem: good/);
    expect(issuing).toMatch(/Response verify OK/);
    const root = await ask(rootFile, rootFile);
    expect(root).toMatch(/root\.pem: good/);
    expect(root).toMatch(/Response verify OK/);
  });

  it('says unknown for a CA certificate asked under a CA that did not sign it', async () => {
    // By serial: openssl would hash the certificate's own issuer name with the issuing CA's key.
    const rootSerial = new X509Certificate(gw.root.certificatePem).serialNumber;
    expect(await ocspQuery(['-issuer', issuingFile, '-serial', `0x${rootSerial}`, '-url', url, '-CAfile', chainFile])).toMatch(/: unknown/);
  });

  it('says good for a CA created under the root while the gateway runs', async () => {
    const second: CaRecord = await createCa(gw.rt.store, { name: 'second-issuing', keyAlgorithm: 'ec-p256', validityDays: 365, parentId: gw.root.id }, gw.rt.secrets, CLI_CONTEXT);
    const file = write('second.pem', second.certificatePem);
    // The responder reads the CA records again at most once a second; it must not keep an earlier unknown.
    let answer = '';
    await until(async () => /second\.pem: good/.test((answer = await ask(rootFile, file))), 10_000, 'the new CA is good');
    expect(answer).toMatch(/Response verify OK/);
  });

  it("says good for the gateway's HTTPS certificate asked with the issuing CA, whose responder its AIA names", async () => {
    const leaf = tlsLeaf();
    expect(new X509Certificate(leaf).infoAccess).toContain(`OCSP - URI:${url}`);
    const answer = await ask(issuingFile, write('tls-leaf.pem', leaf));
    expect(answer).toMatch(/tls-leaf\.pem: good/);
    expect(answer).toMatch(/Response verify OK/);
  });

  it('replaces an HTTPS certificate that was revoked, or that the store does not hold, at the next start', async () => {
    const { config, issuing } = gw;
    const first = new X509Certificate(tlsLeaf());
    const record = await gw.rt.store.certificates.getBySerial(gw.issuing.id, normalizeSerialHex(first.serialNumber));
    expect(record?.notes).toBe('certgate gateway-tls');
    const revoked = await restCall(gw.baseUrl, gw.adminToken, 'POST', `/v1/certificates/${record?.id}/revoke`, { reason: 'superseded' });
    expect(revoked.status, JSON.stringify(revoked.json)).toBe(200);
    expect(await ask(issuingFile, write('tls-first.pem', first.toString()))).toMatch(/tls-first\.pem: revoked/);

    await gw.close();
    gw = await startGateway({ config, init: false });
    url = `${gw.baseUrl}/ocsp`;
    const second = new X509Certificate(tlsLeaf());
    expect(second.serialNumber).not.toBe(first.serialNumber);
    expect(await ask(issuingFile, write('tls-second.pem', second.toString()))).toMatch(/tls-second\.pem: good/);

    // A certificate from another deployment's issuing CA, left in the data dir, is not served either.
    const other = await startGateway({ https: true });
    const foreign = readFileSync(join(other.dir, 'tls', 'server.pem'), 'utf8');
    writeFileSync(join(dir, 'tls', 'server.pem'), foreign);
    writeFileSync(join(dir, 'tls', 'server.key'), readFileSync(join(other.dir, 'tls', 'server.key'), 'utf8'));
    await other.close();
    await gw.close();
    gw = await startGateway({ config, init: false });
    url = `${gw.baseUrl}/ocsp`;
    const third = new X509Certificate(tlsLeaf());
    expect(third.serialNumber).not.toBe(new X509Certificate(foreign).serialNumber);
    expect(third.verify(new X509Certificate(issuing.certificatePem).publicKey)).toBe(true);
    expect(await ask(issuingFile, write('tls-third.pem', third.toString()))).toMatch(/tls-third\.pem: good/);
  });
});
