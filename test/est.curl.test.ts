// /serverkeygen and /csrattrs as an operator tries them: curl over HTTPS, openssl to read the answers.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingBinaryReason } from './harness/binaries.js';
import { csrDer, runClient, startEstEnv, type EstEnv } from './helpers/est.js';
import { makeCsr, openssl, opensslVerify } from './helpers/openssl.js';

const skip = missingBinaryReason('curl', 'apt-get install -y curl');

describe.skipIf(skip)('EST with curl and openssl', () => {
  let env: EstEnv;
  let curl: (path: string, extra?: string[]) => Promise<{ headers: string; body: Buffer }>;

  beforeAll(async () => {
    env = await startEstEnv({ products: { devices: { keyAlgorithms: ['ec-p384', 'rsa-2048'] } }, users: { dev1: ['devices'] } });
    curl = async (path, extra = []) => {
      const r = await runClient('curl', ['-sS', '--cacert', env.trustFile, '-D', 'headers.txt', ...extra, `${env.base}${path}`], env.dir);
      expect(r.code, r.stderr).toBe(0);
      return { headers: readFileSync(join(env.dir, 'headers.txt'), 'latin1'), body: r.stdout };
    };
  });

  afterAll(async () => {
    await env?.close();
  });

  it('serverkeygen: the PKCS#8 key openssl reads is the key of the certificate, which verifies against the chain', async () => {
    const { csrPem } = makeCsr(env.dir, { key: 'ec-p384', subject: '/CN=gen.test', san: ['DNS:gen.test'] });
    writeFileSync(join(env.dir, 'gen.b64'), csrDer(csrPem).toString('base64'));
    const { headers, body } = await curl('/devices/.well-known/est/serverkeygen', ['-u', `dev1:${env.users.dev1!.password}`, '-H', 'Content-Type: application/pkcs10', '--data-binary', '@gen.b64']);
    expect(headers).toMatch(/^HTTP\/1\.1 200 /);
    const boundary = /content-type: multipart\/mixed; boundary=(\S+)/i.exec(headers)?.[1] as string;
    const parts = body
      .toString('latin1')
      .split(`--${boundary}`)
      .slice(1, -1)
      .map((p) => p.split('\r\n\r\n')[1] as string);
    writeFileSync(join(env.dir, 'gen-key.der'), Buffer.from(parts[0] as string, 'base64'));
    writeFileSync(join(env.dir, 'gen-p7.der'), Buffer.from(parts[1] as string, 'base64'));
    const keyPub = openssl(['pkey', '-inform', 'DER', '-in', join(env.dir, 'gen-key.der'), '-pubout']);
    const certPem = openssl(['pkcs7', '-inform', 'DER', '-in', join(env.dir, 'gen-p7.der'), '-print_certs']).replace(/^(subject|issuer)=.*\n/gm, '').trim();
    const certPub = openssl(['x509', '-noout', '-pubkey'], certPem);
    expect(certPub).toBe(keyPub);
    expect(openssl(['pkey', '-inform', 'DER', '-in', join(env.dir, 'gen-key.der'), '-noout', '-text'])).toMatch(/NIST CURVE: P-384/);
    expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, `${certPem}\n`)).toMatch(/: OK/);
  });

  it('csrattrs: openssl reads the key types, signature algorithms and attributes the product asks for', async () => {
    const { headers, body } = await curl('/devices/.well-known/est/csrattrs');
    expect(headers).toMatch(/^HTTP\/1\.1 200 /);
    expect(headers).toMatch(/content-type: application\/csrattrs/i);
    writeFileSync(join(env.dir, 'attrs.der'), Buffer.from(body.toString('latin1'), 'base64'));
    const parsed = openssl(['asn1parse', '-inform', 'DER', '-in', join(env.dir, 'attrs.der')]);
    for (const name of ['id-ecPublicKey', 'secp384r1', 'rsaEncryption', 'ecdsa-with-SHA384', 'sha256WithRSAEncryption', 'Extension Request', 'X509v3 Subject Alternative Name', 'commonName']) {
      expect(parsed).toContain(name);
    }
    expect(parsed).not.toContain('prime256v1');
  });
});
