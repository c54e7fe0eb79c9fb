// The SCEP RA key in a PKCS#11 token (CERTGATE_SCEP_RA_PKCS11_*), against SoftHSM2: the RA
// certificate GetCACert hands out is for a key the token made and will never give up, the RA's
// row keeps only its reference, and enrollments (certgate's test client, strongSwan's pki) are
// decrypted and answered by the token.
import { execFile, execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AES_256_CBC, DES_EDE3_CBC, MESSAGE_TYPE, type DigestName } from '../protocols/scep/algorithms.js';
import type { ContentCipher } from '../protocols/scep/algorithms.js';
import { raTokenOf, scepConfig } from '../protocols/scep/config.js';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { fromPem, toPem } from '../src/pki/pem.js';
import { findBinary, missingBinaryReason } from './harness/binaries.js';
import { startSoftHsm, type SoftHsm } from './harness/softhsm.js';
import { opensslVerify } from './helpers/openssl.js';
import { REST_DEPLOYMENTS } from './helpers/restEnv.js';
import { startGateway, testConfig } from './helpers/gateway.js';
import { startScepEnv, type ScepEnv } from './helpers/scepEnv.js';
import { until } from './helpers/until.js';
import { buildRequest, getCaCert, pkiOperation, readReply, rsaKey, selfSigned, type RaInfo } from './helpers/scepClient.js';

const run = promisify(execFile);
const PIN = '24681357';
const PIN_VAR = 'CERTGATE_TEST_SCEP_RA_PIN';
const hsm: SoftHsm | null = startSoftHsm();
const noPki = missingBinaryReason('pki', 'apt-get install -y strongswan-pki libstrongswan-extra-plugins');

interface RaRow {
  id: string;
  encrypted_key: string;
  key_ref: string | null;
  certificate_pem: string;
}

describe('CERTGATE_SCEP_RA_PKCS11_* as read', () => {
  const settings = (o: Partial<Record<'scepRaPkcs11Module' | 'scepRaPkcs11Token' | 'scepRaPkcs11PinEnv' | 'scepRaPkcs11PinFile', string>>) =>
    scepConfig.of(testConfig(o));

  it('names a token with a PIN source, or nothing; refuses half a setting in words', () => {
    expect(raTokenOf(settings({}))).toBeNull();
    expect(raTokenOf(settings({ scepRaPkcs11Module: '/m.so', scepRaPkcs11Token: 't', scepRaPkcs11PinEnv: 'PIN' }))).toEqual({ module: '/m.so', token: 't', pin: { env: 'PIN' } });
    expect(raTokenOf(settings({ scepRaPkcs11Module: '/m.so', scepRaPkcs11Token: 't', scepRaPkcs11PinFile: '/pin' }))).toEqual({ module: '/m.so', token: 't', pin: { file: '/pin' } });
    expect(() => raTokenOf(settings({ scepRaPkcs11Token: 't' }))).toThrow(/need CERTGATE_SCEP_RA_PKCS11_MODULE/);
    expect(() => raTokenOf(settings({ scepRaPkcs11Module: '/m.so', scepRaPkcs11PinEnv: 'PIN' }))).toThrow(/needs CERTGATE_SCEP_RA_PKCS11_TOKEN/);
    expect(() => raTokenOf(settings({ scepRaPkcs11Module: '/m.so', scepRaPkcs11Token: 't' }))).toThrow(/exactly one of/);
    expect(() => raTokenOf(settings({ scepRaPkcs11Module: '/m.so', scepRaPkcs11Token: 't', scepRaPkcs11PinEnv: 'PIN', scepRaPkcs11PinFile: '/pin' }))).toThrow(/exactly one of/);
  });
});

describe.skipIf(!hsm)('the SCEP RA key in a PKCS#11 token', () => {
  const soft = hsm as SoftHsm;
  afterAll(() => soft.remove());

  describe.each(REST_DEPLOYMENTS.map((d) => [d.name, d] as const))('%s', (_name, deployment) => {
    const token = deployment.scaled ? 'pg-scep-ra' : 'sqlite-scep-ra';
    let env: ScepEnv;
    let url: string;
    let ra: RaInfo;
    let challenge: string;
    const key = rsaKey();

    beforeAll(async () => {
      if (deployment.skip) return;
      soft.initToken(token, PIN);
      process.env[PIN_VAR] = PIN;
      env = await startScepEnv({
        overrides: { scepRaPkcs11Module: soft.module, scepRaPkcs11Token: token, scepRaPkcs11PinEnv: PIN_VAR },
        ...(deployment.scaled ? { deployment: { backend: 'postgres', queue: 'bullmq' } } : {}),
      });
      url = `${env.base}/scep`;
      ra = await getCaCert(url);
      const productId = (await env.server.rt.store.products.getByName('default'))?.id as string;
      challenge = (await env.staticChallenge([productId])).challenge;
    });
    afterAll(async () => {
      // The last test stops it itself, to restart the deployment without the setting.
      await env?.stop().catch(() => undefined);
    });

    const raRowsOf = async (server: ScepEnv['server']): Promise<RaRow[]> => {
      const db = server.rt.protocolCore('scep').tables<{ scep_ra_certificates: RaRow }>().db as Kysely<{ scep_ra_certificates: RaRow }>;
      return db.selectFrom('scep_ra_certificates').select(['id', 'encrypted_key', 'key_ref', 'certificate_pem']).execute();
    };

    async function enroll(cn: string, o: { digest?: DigestName; cipher?: ContentCipher; raKey?: RaInfo['publicKey']; to?: { url: string; ra: RaInfo } } = {}) {
      const target = o.to ?? { url, ra };
      const requester = selfSigned(key, `CN=${cn}`);
      const transactionId = `tx-${randomBytes(6).toString('hex')}`;
      const der = await buildRequest({
        requester,
        ra: { ...target.ra, publicKey: o.raKey ?? target.ra.publicKey },
        messageType: MESSAGE_TYPE.PKCSReq,
        content: fromPem(buildCsr(key, `CN=${cn}`, {}, { challengePassword: challenge }), ['CERTIFICATE REQUEST']),
        transactionId,
        digest: o.digest ?? 'sha256',
        cipher: o.cipher ?? AES_256_CBC,
      });
      const res = await pkiOperation(target.url, der);
      expect(res.status).toBe(200);
      const reply = readReply(res.body, requester);
      expect(reply.transactionId).toBe(transactionId);
      return reply;
    }

    it.skipIf(deployment.skip)("GetCACert's RA certificate is for a key in the token that never leaves it; the RA row keeps a reference and no key", async () => {
      const rows = await raRowsOf(env.server);
      expect(rows).toHaveLength(1);
      const row = rows[0] as RaRow;
      expect(toPem('CERTIFICATE', ra.der)).toBe(row.certificate_pem);
      expect(row.encrypted_key).toBe('');
      const ref = JSON.parse(row.key_ref as string) as { label: string; idHex: string };
      expect(ref.label).toBe(`certgate-scep-ra-${row.id}`);

      // The token lists the key as an operator reads it: RSA 2048, for decryption and signing, never extractable.
      const objects = soft.listObjects(token, PIN);
      const blockOf = (kind: string) => objects.split(/\n(?=\S)/).find((b) => b.startsWith(kind) && b.includes(`label:      ${ref.label}`)) ?? '';
      const block = blockOf('Private Key Object; RSA');
      expect(block, objects).toMatch(new RegExp(`ID:\\s+${ref.idHex}`));
      expect(block).toMatch(/Usage:\s+decrypt, sign\n/);
      expect(block).toMatch(/Access:\s+sensitive, always sensitive, never extractable/);
      expect(blockOf('Public Key Object')).toMatch(/RSA 2048 bits/);

      // The public key the token holds under that id is the one the RA certificate certifies.
      const out = join(env.dir, `ra-pub-${token}.der`);
      execFileSync('pkcs11-tool', ['--module', soft.module, '--token-label', token, '--login', '--pin', PIN, '--read-object', '--type', 'pubkey', '--id', ref.idHex, '-o', out], { stdio: 'pipe' });
      const spki = createPublicKey({ key: readFileSync(out), format: 'der', type: 'spki' }).export({ format: 'der', type: 'spki' });
      expect(spki.equals(ra.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
      // openssl agrees that the RA certificate chains to the CA.
      expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, toPem('CERTIFICATE', ra.der))).toMatch(/: OK/);
    });

    it.skipIf(deployment.skip)('enrolls with the test client: the token opens the envelope and signs the CertRep (with the digest the client used)', async () => {
      for (const [i, digest] of (['sha256', 'sha512', 'sha1'] as const).entries()) {
        const reply = await enroll(`token${i}.host1.test`, { digest, cipher: i === 1 ? DES_EDE3_CBC : AES_256_CBC });
        expect(reply.status, `${reply.failInfo}`).toBe('SUCCESS');
        // Signed by the RA: the signer certificate is the one GetCACert gave, and it verified.
        expect(reply.signer.der.equals(ra.der)).toBe(true);
        const leaf = new X509Certificate(reply.certificates[0] as Buffer);
        expect(leaf.subject).toBe(`CN=token${i}.host1.test`);
        expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, leaf.toString())).toMatch(/: OK/);
      }
    });

    it.skipIf(deployment.skip)('answers an envelope the token cannot open with badMessageCheck, and keeps serving', async () => {
      // Addressed to the RA, its key wrapped for another key: the token refuses the padding (or gets garbage).
      const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
      const refused = await enroll('refused.host1.test', { raKey: other });
      expect(refused).toMatchObject({ status: 'FAILURE', failInfo: 'badMessageCheck' });
      expect(refused.signer.der.equals(ra.der)).toBe(true);
      const after = await enroll('after.host1.test');
      expect(after.status).toBe('SUCCESS');
    });

    it.skipIf(deployment.skip)('answers 503 with Retry-After while the token is gone, and enrolls again once it is back', async () => {
      soft.unplug(token);
      try {
        const requester = selfSigned(key, 'CN=gone.host1.test');
        const der = await buildRequest({
          requester,
          ra,
          messageType: MESSAGE_TYPE.PKCSReq,
          content: fromPem(buildCsr(key, 'CN=gone.host1.test', {}, { challengePassword: challenge }), ['CERTIFICATE REQUEST']),
          transactionId: `tx-${randomBytes(6).toString('hex')}`,
        });
        const res = await fetch(`${url}?operation=PKIOperation`, { method: 'POST', body: der });
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      } finally {
        soft.plugBack(token);
      }
      // Until the module has seen the token again (it re-initializes at most once a second).
      await until(() => enroll('back.host1.test').then((r) => r.status === 'SUCCESS', () => false), 30_000, 'the token RA answers again');
    });

    it.skipIf(deployment.skip || noPki !== null)('strongSwan pki --scep enrolls through the token RA', async () => {
      const pki = findBinary('pki') as string;
      const dir = env.dir;
      const { stderr: caErr } = await run(pki, ['--scepca', '--url', url, '--caout', 'ca.der', '--raout', 'ra.der'], { cwd: dir, timeout: 90_000 });
      expect(caErr).toMatch(/RA cert is trusted/);
      expect(readFileSync(join(dir, 'ra.der')).equals(ra.der)).toBe(true);
      writeFileSync(join(dir, 'sw-key.pem'), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs1' }));
      const productId = (await env.server.rt.store.products.getByName('default'))?.id as string;
      const password = await env.oneTimeChallenge(productId);
      const args = ['--scep', '--url', url, '--in', 'sw-key.pem', '--dn', 'CN=swan.host1.test', '--password', password, '--cacert-enc', 'ra.der', '--cacert-sig', 'ra.der', '--cacert', 'ca.der', '--cacert', 'ca-1.der', '--cipher', 'aes', '--digest', 'sha256', '--outform', 'pem'];
      const { stdout } = await run(pki, args, { cwd: dir, timeout: 90_000 });
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(stdout)?.[0] as string;
      expect(pem, stdout).toBeTruthy();
      expect(new X509Certificate(pem).subject).toBe('CN=swan.host1.test');
      expect(opensslVerify(dir, env.rootPem, env.issuingPem, pem)).toMatch(/: OK/);
    });

    it.skipIf(deployment.skip)('restarted without the setting, passes over the token RA and issues a software one', async () => {
      const config = env.server.rt.config;
      await env.stop();
      const gw = await startGateway({ config: { ...config, scepRaPkcs11Module: '', scepRaPkcs11Token: '', scepRaPkcs11PinEnv: '' } as typeof config, init: false });
      try {
        const softUrl = `${gw.baseUrl}/scep`;
        const softRa = await getCaCert(softUrl);
        expect(softRa.der.equals(ra.der)).toBe(false);
        const rows = await raRowsOf(gw.server);
        const fresh = rows.find((r) => r.certificate_pem === toPem('CERTIFICATE', softRa.der));
        expect(fresh?.key_ref).toBeNull();
        expect(fresh?.encrypted_key).not.toBe('');
        const reply = await enroll('software.host1.test', { to: { url: softUrl, ra: softRa } });
        expect(reply.status).toBe('SUCCESS');
        expect(reply.signer.der.equals(softRa.der)).toBe(true);
      } finally {
        await gw.close();
      }
    });
  });
});
