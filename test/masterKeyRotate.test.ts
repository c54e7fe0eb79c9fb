// `certgate master-key rotate` on SQLite (key in data/master.key) and PostgreSQL (key in the
// environment): a deployment with something of every sealed kind (CA keys, an OCSP signer, an
// escrowed key, ACME, SCEP and CMP credential secrets, a SCEP RA key, a CMP signer key, an EST kept
// key) rotated, then
// started with the new key: everything still opens, the trail verifies, and the old key is refused.
// A trail that does not verify is refused before anything changes.
import { execFile, spawnSync } from 'node:child_process';
import { createHmac, generateKeyPairSync, randomBytes, sign as cryptoSign, verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa } from '../src/ca/createCa.js';
import { decryptPrivateKey } from '../src/ca/keyProtection.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import type { Config } from '../src/config.js';
import { createProduct } from '../src/core/products.js';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { fromPem } from '../src/pki/pem.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import type { Runtime } from '../src/runtime.js';
import { MESSAGE_TYPE } from '../protocols/scep/algorithms.js';
import { ServerKeys } from '../protocols/est/serverKeygen.js';
import { CmpDb } from '../protocols/cmp/db.js';
import { CmpSigners } from '../protocols/cmp/signers.js';
import { deploymentConfig, deploymentMissing, GATEWAY_DEFAULTS, startGateway, testConfig } from './helpers/gateway.js';
import { openssl, opensslVerify, tempDir } from './helpers/openssl.js';
import { restCall } from './helpers/http.js';
import { openRawDb, type RawConnection } from './helpers/rawDb.js';
import { buildRequest, getCaCert, pkiOperation, readReply, rsaKey, selfSigned, type RaInfo } from './helpers/scepClient.js';

const root = join(import.meta.dirname, '..');
const OLD_KEY = 'old-master-key-rotate-0123456789';
const NEW_KEY = 'new-master-key-rotate-9876543210';
const CA_PASSPHRASE = 'a-passphrase-of-its-own-0123456789';
interface Deployment {
  name: string;
  skip?: boolean;
  /** Where the key lives: data/master.key (embedded), or the environment (scaled out needs it there). */
  keyIn: 'file' | 'env';
  config: () => Promise<Partial<Config>>;
}

const deployments: Deployment[] = [
  { name: 'SQLite, key in data/master.key', keyIn: 'file', config: async () => ({}) },
  { name: 'PostgreSQL, key in the environment', keyIn: 'env', skip: deploymentMissing({ backend: 'postgres' }), config: () => deploymentConfig({ backend: 'postgres' }) },
];

interface Before {
  adminToken: string;
  rootPem: string;
  issuingPem: string;
  issuingId: string;
  defaultProductId: string;
  escrowCertId: string;
  escrowCertPem: string;
  acme: { id: string; hmacKeys: string[] };
  /** A CA under its own passphrase: the master key never sealed it, so rotation leaves it as it is. */
  passphraseCa: { id: string; encryptedKey: string };
  scep: { id: string; challenge: string };
  cmp: { id: string; reference: string; secret: string; signerDer: Buffer };
  ra: RaInfo;
  estKey: Buffer;
}

for (const d of deployments) {
  describe.skipIf(d.skip)(`master-key rotate on ${d.name}`, () => {
    const dir = tempDir('certgate-rotate-');
    const keyFile = join(dir, 'master.key');
    let dbConfig: Partial<Config>;
    // Straight at the database, as someone with its credentials (not certgate's) would.
    let raw: RawConnection | undefined;
    const rows = (sql: string, params?: unknown[]) => (raw as RawConnection).rows(sql, params);
    const exec = (sql: string, params?: unknown[]) => (raw as RawConnection).exec(sql, params);
    let before: Before;

    // No key at all when it lives in the data dir's file.
    const configWith = (masterKey: string | undefined): Config => testConfig({ ...GATEWAY_DEFAULTS, dataDir: dir, ...dbConfig, masterKey });
    /** The key as this deployment gives it to a process: through the file, or in its config. */
    const runningWith = (key: string): Config => {
      if (d.keyIn === 'file') {
        expect(readFileSync(keyFile, 'utf8').trim()).toBe(key);
        return configWith(undefined);
      }
      return configWith(key);
    };

    /** `certgate …` as an operator runs it. */
    const cli = (args: string[], env: Record<string, string> = {}) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'main.ts'), ...args], {
        cwd: root,
        encoding: 'utf8',
        env: {
          ...process.env,
          CERTGATE_DATA_DIR: dir,
          CERTGATE_LOG_LEVEL: 'silent',
          CERTGATE_MASTER_KEY: d.keyIn === 'env' ? OLD_KEY : '',
          CERTGATE_NEW_MASTER_KEY: '',
          DATABASE_URL: dbConfig.databaseUrl ?? '',
          REDIS_URL: '',
          ...env,
        },
      });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: <T>() => JSON.parse(r.stdout || '{}') as T };
    };
    /** What is sealed, as stored: must not change when a rotation is refused. */
    const sealedRows = async () => ({
      cas: await rows('select id, encrypted_key from cas order by id'),
      ocsp: await rows('select id, encrypted_key from ocsp_signers order by id'),
      escrowed: await rows('select id, escrowed_key from enrollment_requests where escrowed_key is not null order by id'),
      credentials: await rows('select id, secret from credentials order by id'),
      ra: await rows('select id, encrypted_key from scep_ra_certificates order by id'),
      cmp: await rows('select id, encrypted_key from cmp_signers order by id'),
      est: await rows('select owner, transaction_id, key_envelope from est_credential_keys order by owner, transaction_id'),
      audit: await rows('select seq, hash from audit_log order by seq'),
    });

    beforeAll(async () => {
      dbConfig = await d.config();
      raw = await openRawDb(dbConfig.databaseUrl, dir);
      if (!dbConfig.databaseUrl) {
        // An embedded deployment whose key was made by its first start, as `certgate start` does.
        writeFileSync(keyFile, OLD_KEY + '\n', { mode: 0o600 });
      }
    });

    afterAll(async () => {
      await raw?.close();
    });

    it('sets up a deployment with something of every sealed kind, under the old key', { timeout: 180_000 }, async () => {
      const server = await startGateway({ config: runningWith(OLD_KEY) });
      const { adminToken } = server;
      try {
        const rt = server.rt;
        const base = server.baseUrl;
        const cas = await rt.store.cas.list();
        const rootCa = cas.find((c) => c.kind === 'root');
        const issuing = cas.find((c) => c.kind !== 'root');
        if (!rootCa || !issuing) throw new Error('init made no root and issuing CA');
        const defaultProductId = (await rt.store.products.getByName('default'))?.id as string;

        const passphraseCa = await createCa(rt.store, { name: 'own-passphrase', keyAlgorithm: 'ec-p256', validityDays: 30, parentId: rootCa.id, passphrase: CA_PASSPHRASE }, rt.secrets, CLI_CONTEXT);

        // An escrowed managed key, issued over REST.
        const escrow = await createProduct(rt.store, { name: 'escrow', caId: issuing.id, template: parseProductTemplate({ escrowKeys: true }) }, CLI_CONTEXT);
        const issued = await restCall(base, adminToken, 'POST', '/v1/certificates', { productId: escrow.id, commonName: 'escrow.rotate.test' });
        expect(issued.status, JSON.stringify(issued.json)).toBe(201);
        const escrowCert = issued.json.certificate as { id: string; certificate_pem: string };

        // Credentials whose secrets are sealed (not hashed).
        // The ACME one rotated with a grace period: its previous key is sealed too, and must keep working.
        const acme = await rt.credentials.create({ type: 'acme', products: '*' }, CLI_CONTEXT);
        const acmeNow = await rt.credentials.rotate(acme.credential.id, 3600, CLI_CONTEXT);
        const scep = await rt.credentials.create({ type: 'scep', products: [defaultProductId] }, CLI_CONTEXT);
        const cmp = await rt.credentials.create({ type: 'cmp', name: 'cmp-rotate', products: [defaultProductId] }, CLI_CONTEXT);
        // The CMP signer of the issuing CA (made before serving, for every CA a product issues under).
        const cmpSigner = await cmpSignersOf(rt).current(issuing.id);

        // An OCSP answer (its signer is made, and sealed, on the first request) and the SCEP RA.
        writeFileSync(join(dir, 'root.pem'), rootCa.certificatePem);
        writeFileSync(join(dir, 'issuing.pem'), issuing.certificatePem);
        writeFileSync(join(dir, 'chain.pem'), issuing.certificatePem + rootCa.certificatePem);
        writeFileSync(join(dir, 'escrow.pem'), escrowCert.certificate_pem);
        const ocsp = await ocspOf(dir, base);
        expect(ocsp).toMatch(/Response verify OK/);
        expect(ocsp).toMatch(/escrow\.pem: good/);
        const ra = await getCaCert(`${base}/scep`);

        // A key EST serverkeygen kept for a credential's request.
        const est = rt.protocolCore('est');
        const kept = await new ServerKeys(est.tables(), est.sealing).obtain('est-owner', 'tx-1', async () => {
          const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
          return { key: privateKey, csrDer: randomBytes(16) };
        });

        before = {
          adminToken,
          rootPem: rootCa.certificatePem,
          issuingPem: issuing.certificatePem,
          issuingId: issuing.id,
          defaultProductId,
          escrowCertId: escrowCert.id,
          escrowCertPem: escrowCert.certificate_pem,
          acme: { id: acme.credential.id, hmacKeys: [acme.secret, acmeNow.secret] },
          scep: { id: scep.credential.id, challenge: scep.secret },
          cmp: { id: cmp.credential.id, reference: cmp.credential.name, secret: cmp.secret, signerDer: cmpSigner.certificateDer },
          ra,
          estKey: kept.pkcs8,
          passphraseCa: { id: passphraseCa.id, encryptedKey: passphraseCa.encryptedKey ?? '' },
        };
      } finally {
        await server.close();
      }
    });

    it('refuses to rotate a trail that does not verify under the current key, and changes nothing', { timeout: 120_000 }, async () => {
      const [second] = await rows('select seq, detail from audit_log where seq = 2');
      await exec('update audit_log set detail = ? where seq = 2', ['{"forged":true}']);
      const unchanged = await sealedRows();
      try {
        const refused = cli(['master-key', 'rotate'], { CERTGATE_NEW_MASTER_KEY: NEW_KEY });
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(/the audit trail does not verify under the current master key \(entry 2 was altered.*Nothing was rotated/);
        expect(refused.stderr).not.toMatch(/\n\s+at /);
        expect(await sealedRows()).toEqual(unchanged);
        if (d.keyIn === 'file') {
          expect(readFileSync(keyFile, 'utf8').trim()).toBe(OLD_KEY);
          expect(existsSync(`${keyFile}.new`)).toBe(false);
        }
      } finally {
        await exec('update audit_log set detail = ? where seq = 2', [second?.detail]);
      }
    });

    it('is one transaction: a kept key that does not open, found after the CA keys were re-sealed, leaves everything as it was', { timeout: 120_000 }, async () => {
      await exec('insert into est_credential_keys (owner, transaction_id, key_envelope, csr, created_at, delivered_at) values (?, ?, ?, ?, ?, null)', [
        'bogus-owner',
        'tx-bogus',
        'v1.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA',
        'AA',
        Date.now(),
      ]);
      const unchanged = await sealedRows();
      try {
        const refused = cli(['master-key', 'rotate'], { CERTGATE_NEW_MASTER_KEY: NEW_KEY });
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(/the EST server-generated key kept for bogus-owner \(transaction tx-bogus\) does not open under the current master key/);
        expect(await sealedRows()).toEqual(unchanged);
        if (d.keyIn === 'file') {
          expect(readFileSync(keyFile, 'utf8').trim()).toBe(OLD_KEY);
          expect(existsSync(`${keyFile}.new`)).toBe(false);
        }
      } finally {
        await exec('delete from est_credential_keys where owner = ?', ['bogus-owner']);
      }
      // Still the old key's deployment.
      expect(cli(['ca', 'list', '--json']).code).toBe(0);
    });

    it('never takes the new key as an argument, nor the current one again', { timeout: 120_000 }, async () => {
      const asArgument = cli(['master-key', 'rotate', '--new-key', NEW_KEY]);
      expect(asArgument.code).toBe(1);
      expect(asArgument.stderr).toMatch(/unknown option '--new-key'/);
      const none = cli(['master-key', 'rotate']);
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/no new master key: give --new-key-file FILE or set CERTGATE_NEW_MASTER_KEY/);
      const same = cli(['master-key', 'rotate'], { CERTGATE_NEW_MASTER_KEY: OLD_KEY });
      expect(same.code).toBe(1);
      expect(same.stderr).toMatch(/the new master key is the current one/);
    });

    it('re-seals everything under the new key in one go, and says what', { timeout: 180_000 }, async () => {
      const newKeyFile = join(tempDir('certgate-newkey-'), 'new.key');
      writeFileSync(newKeyFile, NEW_KEY + '\n', { mode: 0o600 });
      const r = d.keyIn === 'file' ? cli(['master-key', 'rotate', '--new-key-file', newKeyFile, '--json']) : cli(['master-key', 'rotate', '--json'], { CERTGATE_NEW_MASTER_KEY: NEW_KEY });
      expect(r.code, r.stderr).toBe(0);
      const out = r.json<{ resealed: Record<string, number>; key_file: string | null; next_steps: string[] }>();
      // Root and issuing CA (not the passphrase one); the SCEP challenge, the CMP secret, and the ACME key and its previous one.
      expect(out.resealed).toMatchObject({ ca_keys: 2, escrowed_keys: 1, credential_secrets: 4, 'est.server_keys': 1 });
      const [passphraseRow] = await rows('select encrypted_key from cas where id = ?', [before.passphraseCa.id]);
      expect(passphraseRow?.encrypted_key).toBe(before.passphraseCa.encryptedKey);
      expect(decryptPrivateKey(passphraseRow?.encrypted_key as string, CA_PASSPHRASE).asymmetricKeyType).toBe('ec');
      expect(out.resealed.ocsp_signer_keys).toBeGreaterThanOrEqual(1);
      expect(out.resealed['scep.ra_keys']).toBeGreaterThanOrEqual(1);
      expect(out.resealed['cmp.signer_keys']).toBe(1);
      expect(out.resealed.audit_entries).toBeGreaterThan(5);
      expect(r.stdout).not.toContain(NEW_KEY);
      expect(r.stdout).not.toContain(OLD_KEY);
      if (d.keyIn === 'file') {
        expect(out.key_file).toBe(keyFile);
        expect(readFileSync(keyFile, 'utf8').trim()).toBe(NEW_KEY);
        expect(existsSync(`${keyFile}.new`)).toBe(false);
      } else {
        expect(out.key_file).toBeNull();
        expect(out.next_steps[0]).toMatch(/set CERTGATE_MASTER_KEY to it wherever it is kept/);
      }
    });

    it('starts with the new key only: the old one is refused, the trail verifies and records the rotation', { timeout: 120_000 }, async () => {
      const newKeyEnv = { CERTGATE_MASTER_KEY: d.keyIn === 'env' ? NEW_KEY : '' };
      const old = cli(['ca', 'list', '--json'], { CERTGATE_MASTER_KEY: OLD_KEY });
      expect(old.code).toBe(1);
      expect(old.stderr).toMatch(/master key in CERTGATE_MASTER_KEY is not the one .* was created with/);
      const verify = cli(['audit', 'verify', '--json'], newKeyEnv);
      expect(verify.code, verify.stderr).toBe(0);
      expect(verify.json<{ ok: boolean }>().ok).toBe(true);
      if (d.keyIn === 'file') {
        // As if the rotation had died between its commit and the rename: the old key in master.key, the new one beside it.
        writeFileSync(`${keyFile}.new`, NEW_KEY + '\n', { mode: 0o600 });
        writeFileSync(keyFile, OLD_KEY + '\n', { mode: 0o600 });
        const stranded = cli(['ca', 'list', '--json']);
        expect(stranded.code).toBe(1);
        expect(stranded.stderr).toContain(`${keyFile}.new exists: a master-key rotation committed but died before putting its key in place; move it over (mv ${keyFile}.new ${keyFile})`);
        renameSync(`${keyFile}.new`, keyFile);
        expect(cli(['ca', 'list', '--json']).code).toBe(0);
      }
      const last = cli(['audit', 'list', '--limit', '1', '--json'], newKeyEnv).json<{ entries: { action: string; actor: string; detail: { resealed: Record<string, number> } }[] }>().entries[0];
      expect(last).toMatchObject({ action: 'master_key.rotate', actor: 'cli', detail: { resealed: { ca_keys: 2, escrowed_keys: 1, credential_secrets: 4 } } });
    });

    it('serves with the new key: issues, exports the escrowed key, answers OCSP, and the credentials and kept keys still open', { timeout: 180_000 }, async () => {
      const server = await startGateway({ config: runningWith(NEW_KEY), init: false });
      try {
        const base = server.baseUrl;
        const rt = server.rt;

        const issued = await restCall(base, before.adminToken, 'POST', '/v1/certificates', { caId: before.issuingId, commonName: 'after.rotate.test' });
        expect(issued.status, JSON.stringify(issued.json)).toBe(201);
        expect(opensslVerify(dir, before.rootPem, before.issuingPem, (issued.json.certificate as { certificate_pem: string }).certificate_pem)).toMatch(/: OK/);

        const password = 'rotated horse battery staple';
        const p12 = await fetch(`${base}/v1/certificates/${before.escrowCertId}/download`, {
          method: 'POST',
          headers: { authorization: `Bearer ${before.adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ format: 'pkcs12', password }),
        });
        expect(p12.status).toBe(200);
        const p12File = join(dir, 'escrow.p12');
        writeFileSync(p12File, Buffer.from(await p12.arrayBuffer()));
        const keyPem = openssl(['pkcs12', '-in', p12File, '-passin', `pass:${password}`, '-nocerts', '-nodes']);
        // The key in it is the certificate's.
        const pubOfKey = openssl(['pkey', '-pubout'], keyPem);
        const pubOfCert = openssl(['x509', '-noout', '-pubkey'], before.escrowCertPem);
        expect(pubOfKey).toBe(pubOfCert);

        const ocsp = await ocspOf(dir, base);
        expect(ocsp).toMatch(/Response verify OK/);
        expect(ocsp).toMatch(/escrow\.pem: good/);

        for (const shown of before.acme.hmacKeys) {
          const hmacKey = Buffer.from(shown, 'base64url');
          const acme = await rt.credentials.authenticate({ type: 'acme', kid: before.acme.id, verify: (key) => key.equals(hmacKey) }, { protocol: 'acme', sourceIp: '127.0.0.1' });
          expect(acme).toMatchObject({ ok: true, credential: { id: before.acme.id } });
        }

        // A SCEP enrollment with the static challenge, encrypted to the RA certificate made before the rotation.
        const ra = await getCaCert(`${base}/scep`);
        expect(ra.serial.equals(before.ra.serial)).toBe(true);
        const key = rsaKey();
        const requester = selfSigned(key, 'CN=scep.rotate.test');
        const csr = fromPem(buildCsr(key, 'CN=scep.rotate.test', { dns: [] }, { challengePassword: before.scep.challenge }), ['CERTIFICATE REQUEST']);
        const der = await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csr, transactionId: `rotate-${Date.now()}` });
        const res = await pkiOperation(`${base}/scep`, der);
        expect(res.status).toBe(200);
        const reply = readReply(res.body, requester);
        expect(reply.status).toBe('SUCCESS');
        expect(reply.certificates.length).toBeGreaterThan(0);

        // The CMP secret still keys its MAC, and the CMP signer made before the rotation still signs.
        const body = Buffer.from('PKIHeader+PKIBody');
        const mac = createHmac('sha256', before.cmp.secret).update(body).digest();
        const cmp = await rt.credentials.authenticate(
          { type: 'cmp', reference: before.cmp.reference, macMatches: (secret) => createHmac('sha256', secret).update(body).digest().equals(mac) },
          { protocol: 'cmp', sourceIp: '127.0.0.1', productId: before.defaultProductId },
        );
        expect(cmp).toMatchObject({ ok: true, credential: { id: before.cmp.id } });
        const signer = await cmpSignersOf(rt).current(before.issuingId);
        expect(signer.certificateDer.equals(before.cmp.signerDer)).toBe(true);
        expect(cryptoVerify(null, body, new X509Certificate(signer.certificateDer).publicKey, cryptoSign(null, body, signer.key))).toBe(true);

        const est = rt.protocolCore('est');
        const again = await new ServerKeys(est.tables(), est.sealing).obtain('est-owner', 'tx-1', () => Promise.reject(new Error('the kept key was not found')));
        expect(again.pkcs8.equals(before.estKey)).toBe(true);
      } finally {
        await server.close();
      }
    });
  });
}

/** The CMP signers as a serving process has them. */
function cmpSignersOf(rt: Runtime): CmpSigners {
  const cmp = rt.protocolCore('cmp');
  return new CmpSigners(new CmpDb(cmp.tables()), cmp, 365 * 86_400_000);
}

/**
 * An OCSP request for dir/escrow.pem, its answer verified against the CA chain (openssl's own checks).
 * Asynchronous: the server answering it runs in this process.
 */
function ocspOf(dir: string, base: string): Promise<string> {
  const args = [
    'ocsp',
    '-issuer',
    join(dir, 'issuing.pem'),
    '-cert',
    join(dir, 'escrow.pem'),
    '-url',
    `${base}/ocsp`,
    '-CAfile',
    join(dir, 'chain.pem'),
    '-no_nonce',
  ];
  return new Promise((resolve) => execFile('openssl', args, { encoding: 'utf8' }, (_e, stdout, stderr) => resolve(`${stdout}${stderr}`)));
}
