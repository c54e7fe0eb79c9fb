// CAs whose keys are in a PKCS#11 token (SoftHSM2), end to end on SQLite and on PostgreSQL (with
// Redis and a separate worker): `certgate ca create --pkcs11-*` makes an EC root and an RSA
// issuing CA in the token, REST issues under them, a revocation shows in the CRL and the OCSP
// answer (both signed by the token, checked by openssl), the database holds only references, and
// a token that goes away makes issuance answer 503 and /readyz name it until it is back.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSoftHsm, type SoftHsm } from './harness/softhsm.js';
import { certgate, certgateAsync } from './helpers/certgateCli.js';
import { startGateway, TEST_MASTER_KEY, type Gateway } from './helpers/gateway.js';
import { httpRequest, restCall } from './helpers/http.js';
import { freePort } from './helpers/net.js';
import { makeCsr, openssl, tempDir } from './helpers/openssl.js';
import { openRawDb } from './helpers/rawDb.js';
import { REST_DEPLOYMENTS } from './helpers/restEnv.js';
import { until } from './helpers/until.js';

const hsm = startSoftHsm();
const PIN = 'pin-Zq7Wx3';
const PIN_VAR = 'CERTGATE_TEST_TOKEN_PIN';

/** openssl ocsp prints its verdicts on stdout and "Response verify OK" on stderr. Asynchronous: the server is in this process. */
function ocspQuery(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile('openssl', ['ocsp', ...args], { encoding: 'utf8' }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
}

describe.skipIf(!hsm)('CA keys in a PKCS#11 token', () => {
  const soft = hsm as SoftHsm;
  afterAll(() => soft?.remove());

  describe.each(REST_DEPLOYMENTS.map((d) => [d.name, d] as const))('%s', (_name, deployment) => {
    const token = deployment.scaled ? 'pg-ca' : 'sqlite-ca';
    const dir = tempDir('certgate-pkcs11-');
    const pinFile = join(dir, 'token.pin');
    let gw: Gateway;
    let cliEnv: Record<string, string>;
    let rootId: string;
    let issuingId: string;
    let productId: string;
    let chainFile: string;
    let rootFile: string;
    let issuingFile: string;

    const cli = (args: string[], env: Record<string, string> = {}) => certgateAsync(gw.dir, args, { ...cliEnv, ...env });
    const api = (method: string, path: string, body?: unknown) => restCall(gw.baseUrl, gw.adminToken, method, path, body);
    const tokenArgs = (label: string) => ['--pkcs11-module', soft.module, '--pkcs11-token', token, '--pkcs11-key-label', label];

    const issue = async (cn: string, idempotencyKey?: string, csrPem = makeCsr(dir, { subject: `/CN=${cn}`, name: cn }).csrPem) => {
      return httpRequest(`${gw.baseUrl}/v1/certificates`, { bearer: gw.adminToken, json: { productId, csrPem }, headers: idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {} });
    };
    const leafFile = (cn: string, pem: string): string => {
      const file = join(dir, `${cn}.crt`);
      writeFileSync(file, pem);
      return file;
    };

    beforeAll(async () => {
      if (deployment.skip) return;
      soft.initToken(token, PIN);
      writeFileSync(pinFile, `${PIN}\n`, { mode: 0o600 });
      const port = await freePort();
      gw = await startGateway({
        ...(deployment.scaled ? { backend: 'postgres', queue: 'bullmq', worker: 'separate' } : {}),
        overrides: { httpPort: port, publicUrl: `http://127.0.0.1:${port}`, crlDebounceMs: 50, issueWaitMs: 5_000 },
      });
      // The gateway reads the PIN where the CA record says, as the CLI does.
      process.env[PIN_VAR] = PIN;
      cliEnv = { CERTGATE_MASTER_KEY: TEST_MASTER_KEY, DATABASE_URL: gw.config.databaseUrl ?? '', [PIN_VAR]: PIN };

      const root = await cli(['ca', 'create', '--name', `hsm-root-${token}`, '--subject', 'CN=Token Root, O=certgate test', ...tokenArgs('root-key'), '--pkcs11-pin-env', PIN_VAR, '--json']);
      expect(root.code, root.stderr).toBe(0);
      rootId = root.json().id as string;
      const issuing = await cli(['ca', 'create', '--name', `hsm-issuing-${token}`, '--parent', rootId, '--key-algorithm', 'rsa-2048', ...tokenArgs('issuing-key'), '--pkcs11-pin-file', pinFile, '--json']);
      expect(issuing.code, issuing.stderr).toBe(0);
      issuingId = issuing.json().id as string;
      const product = await cli(['product', 'create', '--name', `hsm-web-${token}`, '--ca', issuingId, '--dns-suffix', 'test', '--json']);
      expect(product.code, product.stderr).toBe(0);
      productId = product.json().id as string;

      rootFile = leafFile('root', root.json().certificate_pem as string);
      issuingFile = leafFile('issuing', issuing.json().certificate_pem as string);
      chainFile = join(dir, 'chain.pem');
      writeFileSync(chainFile, `${issuing.json().certificate_pem as string}${root.json().certificate_pem as string}`);
    });

    let closed = false;
    afterAll(async () => {
      if (!closed) await gw?.close();
    });

    it.skipIf(deployment.skip)('makes the CAs in the token: the records hold a reference and no key, ca list shows the backend', async () => {
      const list = (await cli(['ca', 'list', '--json'])).json() as unknown as { id: string; backend: string; key_algorithm: string }[];
      expect(list.find((c) => c.id === rootId)).toMatchObject({ backend: 'pkcs11', key_algorithm: 'ec-p256' });
      expect(list.find((c) => c.id === issuingId)).toMatchObject({ backend: 'pkcs11', key_algorithm: 'rsa-2048' });
      // The issuing CA's certificate is signed by the root's token key.
      expect(openssl(['verify', '-CAfile', rootFile, issuingFile])).toMatch(/: OK/);
      expect(new X509Certificate(openssl(['x509', '-in', issuingFile])).publicKey.asymmetricKeyType).toBe('rsa');

      const raw = await openRawDb(gw.config.databaseUrl, gw.dir);
      try {
        const rows = await raw.rows('SELECT id, backend, encrypted_key, backend_config FROM cas WHERE id IN (?, ?)', [rootId, issuingId]);
        expect(rows).toHaveLength(2);
        for (const row of rows) {
          expect(row.backend).toBe('pkcs11');
          expect(row.encrypted_key).toBe('');
          const config = (typeof row.backend_config === 'string' ? JSON.parse(row.backend_config) : row.backend_config) as Record<string, unknown>;
          expect(Object.keys(config).sort()).toEqual(['keyId', 'keyLabel', 'module', 'pin', 'token']);
          expect(config).toMatchObject({ module: soft.module, token });
          expect(config.keyId).toMatch(/^[0-9a-f]{32}$/);
        }
        const pinOf = (id: string) => {
          const row = rows.find((r) => r.id === id) as Record<string, unknown>;
          return ((typeof row.backend_config === 'string' ? JSON.parse(row.backend_config) : row.backend_config) as { pin: unknown }).pin;
        };
        // Where the PIN is read from, never the PIN.
        expect(pinOf(rootId)).toEqual({ env: PIN_VAR });
        expect(pinOf(issuingId)).toEqual({ file: pinFile });
      } finally {
        await raw.close();
      }

      // A software-key CA under the token root: its certificate is signed by the token.
      const child = await cli(['ca', 'create', '--name', `soft-child-${token}`, '--parent', rootId, '--json']);
      expect(child.code, child.stderr).toBe(0);
      expect(openssl(['verify', '-CAfile', rootFile, leafFile('soft-child', child.json().certificate_pem as string)])).toMatch(/: OK/);

      // The token says the keys are sensitive and were never extractable.
      const objects = soft.listObjects(token, PIN);
      for (const label of ['root-key', 'issuing-key']) {
        const block = objects.split(/\n(?=\S)/).find((b) => b.startsWith('Private Key Object') && b.includes(`label:      ${label}`)) ?? '';
        expect(block, objects).toMatch(/Access:\s+sensitive, always sensitive, never extractable/);
      }
    });

    it.skipIf(deployment.skip)('issues over REST through the token; revocation shows in the CRL and the OCSP answer, both signed by the token', async () => {
      const res = await issue('leaf1.test');
      expect(res.status, res.text).toBe(201);
      const leaf = res.json.certificate as { id: string; certificate_pem: string; chain_pem: string };
      const file = leafFile('leaf1', leaf.certificate_pem);
      expect(openssl(['verify', '-CAfile', rootFile, '-untrusted', issuingFile, file])).toMatch(/: OK/);
      expect(openssl(['x509', '-in', file, '-noout', '-text'])).toMatch(/Signature Algorithm: sha256WithRSAEncryption/);

      const good = await ocspQuery(['-issuer', issuingFile, '-cert', file, '-url', `${gw.baseUrl}/ocsp`, '-CAfile', chainFile]);
      expect(good).toContain('Response verify OK');
      expect(good).toMatch(/leaf1\.crt: good/);

      expect((await api('POST', `/v1/certificates/${leaf.id}/revoke`, { reason: 'keyCompromise' })).status).toBe(200);
      const revoked = await ocspQuery(['-issuer', issuingFile, '-cert', file, '-url', `${gw.baseUrl}/ocsp`, '-CAfile', chainFile, '-resp_text']);
      expect(revoked).toContain('Response verify OK');
      expect(revoked).toMatch(/leaf1\.crt: revoked/);
      // The CA itself answers (no delegated signer): the responder is the issuing CA's key.
      expect(revoked).toMatch(/Responder Id: [0-9A-F]{40}/);
      const crlFile = join(dir, 'crl.pem');
      const serial = new X509Certificate(leaf.certificate_pem).serialNumber;
      await until(
        async () => {
          writeFileSync(crlFile, await (await fetch(`${gw.baseUrl}/crl/${issuingId}.pem`)).text());
          return openssl(['crl', '-in', crlFile, '-noout', '-text']).includes(serial);
        },
        20_000,
        'the CRL lists the revoked serial',
      );
      // openssl checks the CRL's signature against the issuing CA and the chain to the root.
      const checked = await new Promise<string>((resolve) => execFile('openssl', ['crl', '-in', crlFile, '-CAfile', chainFile, '-noout'], (_e, out, err) => resolve(`${out}${err}`)));
      expect(checked).toMatch(/verify OK/);
      const verify = await new Promise<string>((resolve) => execFile('openssl', ['verify', '-crl_check', '-CAfile', rootFile, '-untrusted', issuingFile, '-CRLfile', crlFile, file], (_e, out, err) => resolve(`${out}${err}`)));
      expect(verify).toMatch(/certificate revoked/);

      const raw = await openRawDb(gw.config.databaseUrl, gw.dir);
      try {
        // No delegated OCSP signer (with a sealed key) was made for a token CA.
        expect(await raw.rows('SELECT id FROM ocsp_signers WHERE ca_id IN (?, ?)', [rootId, issuingId])).toEqual([]);
      } finally {
        await raw.close();
      }
    });

    it.skipIf(deployment.skip)('no database row holds a private key or the PIN', async () => {
      const raw = await openRawDb(gw.config.databaseUrl, gw.dir);
      try {
        const tables = gw.config.databaseUrl
          ? (await raw.rows("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")).map((r) => r.name as string)
          : (await raw.rows("SELECT name FROM sqlite_master WHERE type = 'table'")).map((r) => r.name as string);
        expect(tables).toContain('cas');
        let cells = 0;
        for (const table of tables) {
          for (const row of await raw.rows(`SELECT * FROM "${table}"`)) {
            for (const value of Object.values(row)) {
              const text = Buffer.isBuffer(value) ? value.toString('latin1') : typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
              cells++;
              expect(text).not.toContain(PIN);
              expect(text).not.toMatch(/PRIVATE KEY-----/);
            }
          }
        }
        expect(cells).toBeGreaterThan(100);
      } finally {
        await raw.close();
      }
    });

    it.skipIf(deployment.skip)('uses a key already in the token by its label (its type decides), and never makes a second key under a taken label', async () => {
      const taken = await cli(['ca', 'create', '--name', 'label-taken', ...tokenArgs('issuing-key'), '--pkcs11-pin-env', PIN_VAR]);
      expect(taken.code).not.toBe(0);
      expect(taken.stderr).toContain('the token already has a key labelled "issuing-key"');
      const existing = await cli(['ca', 'create', '--name', `existing-${token}`, ...tokenArgs('issuing-key'), '--pkcs11-existing-key', '--pkcs11-pin-env', PIN_VAR, '--json']);
      expect(existing.code, existing.stderr).toBe(0);
      const cert = new X509Certificate(existing.json().certificate_pem as string);
      // The RSA key of the issuing CA, though --key-algorithm was left at its default (ec-p256).
      expect(cert.publicKey.equals(new X509Certificate(openssl(['x509', '-in', issuingFile])).publicKey)).toBe(true);
      expect(cert.verify(cert.publicKey)).toBe(true);
      const listed = (await cli(['ca', 'list', '--json'])).json() as unknown as { name: string; key_algorithm: string; backend: string }[];
      expect(listed.find((c) => c.name === `existing-${token}`)).toMatchObject({ key_algorithm: 'rsa-2048', backend: 'pkcs11' });
    });

    it.skipIf(deployment.skip)('refuses a PIN on the command line and a wrong PIN, in words', async () => {
      const onCommandLine = await cli(['ca', 'create', '--name', 'pin-arg', ...tokenArgs('x'), '--pkcs11-pin', PIN]);
      expect(onCommandLine.code).not.toBe(0);
      expect(onCommandLine.stderr).toMatch(/unknown option '--pkcs11-pin'/);
      const wrong = await cli(['ca', 'create', '--name', 'pin-wrong', ...tokenArgs('y'), '--pkcs11-pin-env', 'WRONG_PIN'], { WRONG_PIN: 'not-the-pin' });
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toContain(`pkcs11 token "${token}" refused the PIN: it is wrong`);
      expect(wrong.stderr).not.toContain('not-the-pin');
      const none = await cli(['ca', 'create', '--name', 'pin-none', ...tokenArgs('z')]);
      expect(none.stderr).toMatch(/--pkcs11-pin-env VAR or --pkcs11-pin-file PATH/);
      expect(certgate(gw.dir, ['ca', 'list', '--json'], cliEnv).json()).not.toEqual(expect.arrayContaining([expect.objectContaining({ name: 'pin-wrong' })]));
    });

    it.skipIf(deployment.skip)('a token that is gone: issuance answers 503 with Retry-After and /readyz names it; back, the request is issued', { timeout: 150_000 }, async () => {
      const { csrPem } = makeCsr(dir, { subject: '/CN=while-gone.test', name: 'while-gone' });
      soft.unplug(token);
      let down;
      try {
        down = await issue('while-gone.test', `gone-${token}`, csrPem);
        expect(down.status, down.text).toBe(503);
        expect(down.headers['retry-after']).toMatch(/^\d+$/);
        const ready = await httpRequest(`${gw.baseUrl}/readyz`);
        expect(ready.status).toBe(503);
        // Named once, though two CAs keep their keys in it.
        expect(ready.json.down).toEqual([`pkcs11 token "${token}"`]);
      } finally {
        soft.plugBack(token);
      }
      await until(async () => (await httpRequest(`${gw.baseUrl}/readyz`)).status === 200, 20_000, '/readyz is ready again');
      // The same request (its Idempotency-Key) was kept queued and is issued now.
      let issued: Awaited<ReturnType<typeof issue>> | undefined;
      await until(async () => (issued = await issue('while-gone.test', `gone-${token}`, csrPem)).status === 201, 90_000, 'the queued request is issued');
      const pem = (issued?.json.certificate as { certificate_pem: string }).certificate_pem;
      expect(openssl(['verify', '-CAfile', rootFile, '-untrusted', issuingFile, leafFile('while-gone', pem)])).toMatch(/: OK/);
    });

    it.skipIf(deployment.skip)('master-key rotation re-seals the software keys and leaves the token CAs as they are', async () => {
      // Last: a rotation wants every process stopped (the running gateway holds the old key).
      closed = true;
      await gw.close();
      const newKey = join(dir, 'new.key');
      writeFileSync(newKey, 'new-master-key-for-a-token-deployment-0123', { mode: 0o400 });
      const rotated = await cli(['master-key', 'rotate', '--new-key-file', newKey, '--json']);
      expect(rotated.code, rotated.stderr).toBe(0);
      expect((rotated.json().resealed as Record<string, number>).ca_keys).toBeGreaterThan(0);
      const after = await cli(['ca', 'list', '--json'], { CERTGATE_MASTER_KEY: 'new-master-key-for-a-token-deployment-0123' });
      expect(after.code, after.stderr).toBe(0);
      const list = after.json() as unknown as { id: string; backend: string }[];
      expect(list.filter((c) => c.backend === 'pkcs11').map((c) => c.id)).toEqual(expect.arrayContaining([rootId, issuingId]));
    });
  });
});
