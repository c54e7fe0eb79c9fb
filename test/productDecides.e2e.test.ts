// Strangers send the CSRs: over REST, a product limited to example.com signs only what it allows.
// Each refusal below was a certificate before the product decided what is signed.
import { createHash, generateKeyPairSync, randomUUID, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa } from '../src/ca/createCa.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import { bitString, nullValue, oid, sequence, smallInteger, tlv, unsignedInteger } from '../src/pki/der.js';
import { encodeName, parseDnString } from '../src/pki/name.js';
import { OID } from '../src/pki/oids.js';
import { toPem } from '../src/pki/pem.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { httpRequest } from './helpers/http.js';
import { makeCsr, opensslVerify, tempDir, x509Text } from './helpers/openssl.js';

/**
 * A CSR for an RSA "key" with public exponent 1. Its "signature" is the padded digest itself
 * (s^1 mod n = s), so anyone can make one without any private key.
 */
function exponentOneCsr(subject: string): string {
  const n = Buffer.from(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }).n as string, 'base64url');
  const spki = sequence(sequence(oid(OID.rsaEncryption), nullValue()), bitString(sequence(unsignedInteger(n), unsignedInteger(Buffer.from([1])))));
  const info = sequence(smallInteger(0), encodeName(parseDnString(subject)), spki, tlv(0xa0, Buffer.alloc(0)));
  const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(info).digest()]);
  const em = Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(n.length - digestInfo.length - 3, 0xff), Buffer.from([0]), digestInfo]);
  return toPem('CERTIFICATE REQUEST', sequence(info, sequence(oid(OID.sha256WithRSAEncryption), nullValue()), bitString(em)));
}

describe('the product decides what is signed (REST, product limited to example.com)', () => {
  const dir = tempDir();
  let server: Gateway;
  let base: string;
  let admin: string;
  let rootPem: string;
  let issuingPem: string;
  const products: Record<string, string> = {};

  const issue = async (body: Record<string, unknown>, headers: Record<string, string> = {}) => {
    const res = await httpRequest(`${base}/v1/certificates`, { bearer: admin, json: body, headers });
    return { status: res.status, json: res.json };
  };

  beforeAll(async () => {
    server = await startGateway();
    admin = server.adminToken;
    const { rt } = server;
    const issuing = (await rt.store.cas.list()).find((c) => c.kind === 'issuing')!;
    const short = await createCa(rt.store, { name: 'short-lived', keyAlgorithm: 'ec-p256', validityDays: 10, parentId: issuing.parentId as string }, rt.secrets, CLI_CONTEXT);
    const add = async (name: string, caId: string, template: unknown) => {
      products[name] = (await createProduct(rt.store, { name, caId, template: parseProductTemplate(template) }, CLI_CONTEXT)).id;
    };
    await add('example', issuing.id, { allowedDnsSuffixes: ['example.com'], keyAlgorithms: ['ec-p256', 'rsa-2048'] });
    await add('example-org', issuing.id, {
      allowedDnsSuffixes: ['example.com'],
      subject: { attributes: { O: { fixed: 'Example Inc' }, OU: { allowed: ['Web', 'Mail'] } }, unlisted: 'refuse' },
    });
    await add('short', short.id, { maxValidityDays: 90 });
    rootPem = (await rt.store.cas.get(issuing.parentId as string))!.certificatePem;
    issuingPem = issuing.certificatePem;
    base = server.baseUrl;
  });

  afterAll(async () => {
    await server?.close();
  });

  it.each([
    ['/CN=intranet', 'commonName'],
    ['/CN=localhost', 'commonName'],
    ['/CN=bank_login.evil.test', 'commonName'],
    ['/CN=evil.test.', 'commonName'],
    ['/CN=anything at all', 'commonName'],
    ['/CN=evil.test', 'allowedDnsSuffixes'],
  ])('refuses a CSR whose only name is the CN %s (rule %s)', async (subject, rule) => {
    const res = await issue({ productId: products.example, csrPem: makeCsr(dir, { subject }).csrPem });
    expect(res.status, JSON.stringify(res.json)).toBe(422);
    expect(res.json).toMatchObject({ code: 'rejectedIdentifier', rule });
    expect(res.json.error).toMatch(new RegExp(`rule: ${rule}`));
  });

  it('refuses a second CN outside the product, and names it', async () => {
    const res = await issue({ productId: products.example, csrPem: makeCsr(dir, { subject: '/CN=evil.test/CN=www.example.com/O=Example Bank Inc' }).csrPem });
    expect(res.status).toBe(422);
    expect(res.json).toMatchObject({ rule: 'allowedDnsSuffixes', identifiers: [{ identifier: 'evil.test' }] });
  });

  it('refuses an SAN outside the product even when the CN is inside', async () => {
    const res = await issue({ productId: products.example, csrPem: makeCsr(dir, { subject: '/CN=www.example.com', san: ['DNS:www.example.com', 'DNS:login.evil.test'] }).csrPem });
    expect(res.status).toBe(422);
    expect(res.json).toMatchObject({ rule: 'allowedDnsSuffixes', identifiers: [{ identifier: 'login.evil.test' }] });
  });

  it('refuses an RSA key with public exponent 1, whose signatures anyone can forge', async () => {
    // Its forged proof of possession passes OpenSSL's check; the key check is what refuses it.
    const res = await issue({ productId: products.example, csrPem: exponentOneCsr('CN=www.example.com') });
    expect(res.status, JSON.stringify(res.json)).toBe(422);
    expect(res.json).toMatchObject({ code: 'badKey', rule: 'rsaExponent' });
  });

  it('builds the subject from the product: CN is the first name, the CSR\'s other attributes are dropped', async () => {
    const { csrPem } = makeCsr(dir, { subject: '/C=XX/O=Example Bank Inc/OU=Payments/CN=www.example.com', san: ['DNS:api.example.com'] });
    const res = await issue({ productId: products.example, csrPem });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    const pem = (res.json.certificate as { certificate_pem: string }).certificate_pem;
    expect(opensslVerify(dir, rootPem, issuingPem, pem)).toMatch(/: OK/);
    const cert = new X509Certificate(pem);
    expect(cert.subject).toBe('CN=www.example.com');
    expect(cert.subjectAltName).toBe('DNS:www.example.com, DNS:api.example.com');
    expect(cert.checkHost('www.example.com')).toBe('www.example.com');
    const text = x509Text(pem);
    expect(text).toMatch(/CA:FALSE/);
    expect(text).not.toMatch(/OCSP Signing/);
  });

  it('writes the product\'s fixed and allowed attributes, and refuses what the product does not list', async () => {
    const ok = await issue({ productId: products['example-org'], csrPem: makeCsr(dir, { subject: '/O=Someone Else/OU=Web/CN=www.example.com' }).csrPem });
    expect(ok.status, JSON.stringify(ok.json)).toBe(201);
    expect(new X509Certificate((ok.json.certificate as { certificate_pem: string }).certificate_pem).subject).toBe('O=Example Inc\nOU=Web\nCN=www.example.com');

    const badOu = await issue({ productId: products['example-org'], csrPem: makeCsr(dir, { subject: '/OU=Payments/CN=www.example.com' }).csrPem });
    expect(badOu.status).toBe(422);
    expect(badOu.json.rule).toBe('subjectAttributes');
    const unlisted = await issue({ productId: products['example-org'], csrPem: makeCsr(dir, { subject: '/L=Springfield/CN=www.example.com' }).csrPem });
    expect(unlisted.status).toBe(422);
    expect(unlisted.json.rule).toBe('subjectAttributes');
  });

  it('never lets a leaf outlive its CA: the validity is clamped to the CA\'s', async () => {
    const res = await issue({ productId: products.short, csrPem: makeCsr(dir, { subject: '/CN=short.example.net' }).csrPem, validityDays: 60 });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    const leaf = new X509Certificate((res.json.certificate as { certificate_pem: string }).certificate_pem);
    const ca = new X509Certificate(((res.json.certificate as { chain_pem: string }).chain_pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/) as RegExpMatchArray)[0]);
    expect(Date.parse(leaf.validTo)).toBe(Date.parse(ca.validTo));
    expect(res.json.notice).toMatch(/validity shortened to .* when the issuing CA expires/);
  });

  it('answers an idempotent replay with the same certificate, and a changed replay with 422', async () => {
    const { csrPem } = makeCsr(dir, { subject: '/CN=idem.example.com' });
    const key = { 'idempotency-key': `k-${randomUUID()}` };
    const first = await issue({ productId: products.example, csrPem, validityDays: 30 }, key);
    expect(first.status).toBe(201);
    const again = await issue({ productId: products.example, csrPem, validityDays: 30 }, key);
    expect(again.status).toBe(201);
    expect((again.json.certificate as { id: string }).id).toBe((first.json.certificate as { id: string }).id);
    const changed = await issue({ productId: products.example, csrPem, validityDays: 31 }, key);
    expect(changed.status).toBe(422);
    expect(changed.json.error).toMatch(/idempotency key/);
  });
});
