// Renewal advice from an upstream that offers ARI (RFC 9773): Debian's Pebble 2.4 has no
// renewalInfo, so a fake ACME upstream on loopback issues (orders ready at once, certificates
// signed with openssl) and suggests a window; certgate keeps it with the certificate, and its own
// ARI answer for that certificate (ACME renewal-info) is the upstream's window, not its default.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProductRecord } from '../src/core/types.js';
import { readCertificateBasics } from '../src/pki/certInfo.js';
import { fromPem } from '../src/pki/pem.js';
import { serialIntegerContent } from '../src/pki/serial.js';
import { startFakeUpstream, type FakeUpstream } from './helpers/fakeUpstream.js';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { httpRequest, restCall } from './helpers/http.js';
import { upstreamCaWithProduct } from './helpers/upstreamCa.js';
import { makeCsr, tempDir } from './helpers/openssl.js';

const WINDOW = { start: '2031-01-01T00:00:00.000Z', end: '2031-01-02T00:00:00.000Z' };

describe('an upstream ACME CA with renewal information (ARI)', () => {
  const dir = tempDir('certgate-upstream-ari-');
  const ariAsked: string[] = [];
  let issuedPem = '';
  let upstream: FakeUpstream;
  let gw: Gateway;
  let product: ProductRecord;
  let token: string;

  beforeAll(async () => {
    upstream = await startFakeUpstream(
      dir,
      (req, body, reply, base) => {
        const order = { status: 'ready', authorizations: [], finalize: `${base}/finalize/1` };
        if (req.url === '/order') reply.json(201, order, { location: `${base}/order/1` });
        else if (req.url === '/finalize/1') {
          const jws = JSON.parse(body.toString('utf8')) as { payload: string };
          const { csr } = JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8')) as { csr: string };
          const csrFile = join(dir, 'order.csr');
          writeFileSync(csrFile, `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(csr, 'base64url').toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`);
          issuedPem = execFileSync('openssl', ['x509', '-req', '-in', csrFile, '-CA', upstream.caFile, '-CAkey', upstream.caKeyFile, '-days', '30', '-copy_extensions', 'copy', '-set_serial', '0x1234abcd'], { encoding: 'utf8' });
          reply.json(200, { ...order, status: 'valid', certificate: `${base}/cert/1` });
        } else if (req.url === '/cert/1') {
          reply.raw.writeHead(200, { 'content-type': 'application/pem-certificate-chain' }).end(issuedPem + readFileSync(upstream.caFile, 'utf8'));
        } else if (req.url?.startsWith('/ari/') && req.method === 'GET') {
          ariAsked.push(req.url.slice('/ari/'.length));
          reply.json(200, { suggestedWindow: WINDOW }, { 'retry-after': '21600' });
        } else return false;
        return true;
      },
      (base) => ({ renewalInfo: `${base}/ari` }),
    );
    gw = await startGateway({ dirPrefix: 'certgate-upstream-ari-gw-', https: true });
    ({ product, token } = await upstreamCaWithProduct(gw, { name: 'fake-ari', directory: upstream.directoryUrl, challenge: { type: 'http-01' }, caFile: upstream.caFile, issuerChainPem: readFileSync(upstream.caFile, 'utf8') }, 'upstream.test'));
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
    await upstream?.stop();
  });

  it('keeps the upstream\'s window with the certificate and answers ARI with it', async () => {
    const { csrPem } = makeCsr(dir, { subject: '/CN=ari.upstream.test', san: ['DNS:ari.upstream.test'] });
    const res = await restCall(gw.baseUrl, token, 'POST', '/v1/certificates', { productId: product.id, csrPem });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    const cert = res.json.certificate as { certificate_pem: string; serial_number: string };
    expect(cert.serial_number.toLowerCase()).toMatch(/^0*1234abcd$/);

    // The upstream was asked with the RFC 9773 id: its issuer's key id, then the serial's DER content.
    const keyId = readCertificateBasics(fromPem(readFileSync(upstream.caFile, 'utf8'), ['CERTIFICATE'])).subjectKeyId as Buffer;
    const certId = `${keyId.toString('base64url')}.${serialIntegerContent('1234abcd').toString('base64url')}`;
    expect(ariAsked).toEqual([certId]);

    // ACME is served over HTTPS, under the gateway's own TLS certificate.
    const ari = await httpRequest(`${gw.httpsUrl}/acme/renewal-info/${certId}`, { method: 'GET', ca: gw.root.certificatePem });
    expect(ari.status, ari.body.toString()).toBe(200);
    expect(ari.json.suggestedWindow).toEqual(WINDOW);
  }, 60_000);
});
