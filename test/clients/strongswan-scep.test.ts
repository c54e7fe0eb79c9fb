// strongSwan's `pki` 5.9.8, unmodified, against certgate's SCEP front-end (the command lines of
// CLIENTS.md): --scepca, --scep with AES and 3DES and one-time challenges (refused the second
// time), renewal with --cert/--key, and a product that needs approval polled with --interval while
// the test approves over REST. Every certificate it gets is checked by openssl against certgate's
// chain. PKIOperation over GET is tested with certgate's own client (scep.protocol.test.ts):
// pki 5.9.8 tests its capability bits by index instead of by mask (`caps & SCEP_CAPS_X`), so every
// digest it can use implies "POSTPKIOperation" to it and no GetCACaps makes it send a GET.
import { normalizeSerialHex } from '../../src/pki/serial.js';
import { execFile } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProductRecord } from '../../src/core/types.js';
import { toPem } from '../../src/pki/pem.js';
import { findBinary, missingBinaryReason } from '../harness/binaries.js';
import { opensslVerify } from '../helpers/openssl.js';
import { startScepEnv, type ScepEnv } from '../helpers/scepEnv.js';
import { until } from '../helpers/until.js';

const run = promisify(execFile);
const skipReason = missingBinaryReason('pki', 'apt-get install -y strongswan-pki libstrongswan-extra-plugins');

describe.skipIf(skipReason !== null)('strongSwan pki --scep against certgate', () => {
  let env: ScepEnv;
  let url: string;
  let product: ProductRecord;
  let keyCount = 0;

  /** Runs `pki` in the test's directory; its output (stdout: the certificate), or throws with all of it. */
  async function pki(args: string[]): Promise<{ stdout: string; stderr: string }> {
    try {
      return await run(findBinary('pki') as string, args, { cwd: env.dir, timeout: 90_000 });
    } catch (e) {
      const err = e as Error & { stdout?: string; stderr?: string };
      throw Object.assign(new Error(`pki ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`, { cause: e }), { stdout: err.stdout ?? '', stderr: err.stderr ?? '' });
    }
  }

  /** A fresh RSA key file, as `--in` wants it. */
  function keyFile(): string {
    const file = `key-${keyCount++}.pem`;
    writeFileSync(join(env.dir, file), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs1' }));
    return file;
  }

  const scep = (o: { url?: string; key: string; dn?: string; password?: string; cipher?: 'aes' | 'des3'; extra?: string[] }) =>
    pki([
      '--scep',
      '--url',
      o.url ?? url,
      '--in',
      o.key,
      '--dn',
      o.dn ?? 'CN=host1.test',
      ...(o.password ? ['--password', o.password] : []),
      '--cacert-enc',
      'ra.der',
      '--cacert-sig',
      'ra.der',
      '--cacert',
      'ca.der',
      '--cacert',
      'ca-1.der',
      '--cipher',
      o.cipher ?? 'aes',
      '--digest',
      'sha256',
      '--outform',
      'pem',
      '--debug',
      '2',
      ...(o.extra ?? []),
    ]);

  const certificateOf = (stdout: string): X509Certificate => {
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(stdout)?.[0];
    if (!pem) throw new Error(`pki printed no certificate:\n${stdout}`);
    expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, pem)).toMatch(/: OK/);
    return new X509Certificate(pem);
  };

  beforeAll(async () => {
    env = await startScepEnv();
    url = `${env.base}/scep`;
    product = (await env.server.rt.store.products.getByName('default')) as ProductRecord;
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('pki --scepca fetches the root, the issuing CA and the RA', async () => {
    const { stderr } = await pki(['--scepca', '--url', url, '--caout', 'ca.der', '--raout', 'ra.der']);
    expect(stderr).toMatch(/RA cert is trusted/);
    expect(toPem('CERTIFICATE', readFileSync(join(env.dir, 'ca.der')))).toBe(env.rootPem);
    expect(toPem('CERTIFICATE', readFileSync(join(env.dir, 'ca-1.der')))).toBe(env.issuingPem);
    const ra = new X509Certificate(readFileSync(join(env.dir, 'ra.der')));
    expect(ra.ca).toBe(false);
    expect(ra.subject).toMatch(/SCEP RA/);
  });

  it('enrolls with a one-time challenge, AES and SHA-256, over POST; the same challenge is refused the second time', async () => {
    const password = await env.oneTimeChallenge(product.id);
    const { stdout, stderr } = await scep({ key: keyFile(), password });
    expect(stderr).toMatch(/HTTP POST supported/);
    expect(stderr).not.toMatch(/operation=PKIOperation&message=/);
    expect(certificateOf(stdout).subject).toBe('CN=host1.test');
    const again = await scep({ key: keyFile(), password }).then(
      () => null,
      (e: { stderr: string }) => e.stderr,
    );
    expect(again).toMatch(/failInfo:\s+badRequest/);
  });

  it('enrolls with 3DES', async () => {
    const { stdout } = await scep({ key: keyFile(), password: await env.oneTimeChallenge(product.id), cipher: 'des3', dn: 'CN=des3.host1.test' });
    expect(certificateOf(stdout).subject).toBe('CN=des3.host1.test');
  });

  it('renews with --cert/--key (RenewalReq), keeping the names, for the new key', async () => {
    const oldKey = keyFile();
    const first = certificateOf((await scep({ key: oldKey, password: await env.oneTimeChallenge(product.id), dn: 'CN=renew.host1.test' })).stdout);
    writeFileSync(join(env.dir, 'old.pem'), first.toString());
    const newKey = keyFile();
    const { stdout, stderr } = await scep({ key: newKey, dn: 'CN=renew.host1.test', extra: ['--cert', 'old.pem', '--key', oldKey] });
    expect(stderr).toMatch(/SCEP Renewal operation supported/);
    const renewed = certificateOf(stdout);
    expect(renewed.subject).toBe('CN=renew.host1.test');
    expect(renewed.serialNumber).not.toBe(first.serialNumber);
    const spki = (k: KeyObject) => k.export({ format: 'der', type: 'spki' });
    expect(spki(renewed.publicKey).equals(spki(createPublicKey(readFileSync(join(env.dir, newKey)))))).toBe(true);
    // It came as a RenewalReq, authenticated by the old certificate (no challenge was given).
    const { entries } = await env.server.rt.store.audit.list({ action: 'request.submit' }, { limit: 1, offset: 0 });
    const oldRecord = await env.server.rt.store.certificates.getBySerial(env.issuingId, normalizeSerialHex(first.serialNumber));
    expect(entries[0]?.actor).toBe(`scep-renewal:${oldRecord?.id}`);
  });

  it('polls with --interval while the request waits for approval, and gets the certificate once it is approved over REST', async () => {
    const gated = await env.product('scep-approval', { requiresApproval: true });
    const password = await env.oneTimeChallenge(gated.id);
    const before = new Set((await env.server.rt.store.requests.listByStatus(['pending_approval'], 100)).map((r) => r.id));
    const enrolling = scep({ url: `${env.base}/scep/scep-approval`, key: keyFile(), password, dn: 'CN=gated.host1.test', extra: ['--interval', '1', '--maxpolltime', '60'] });
    let pendingId: string | undefined;
    await until(async () => {
      pendingId = (await env.server.rt.store.requests.listByStatus(['pending_approval'], 100)).find((r) => !before.has(r.id) && r.productId === gated.id)?.id;
      return pendingId !== undefined;
    }, 30_000, 'the request waits for approval');
    const approved = await env.rest('POST', `/v1/requests/${pendingId}/approve`);
    expect(approved.status).toBe(200);
    const { stdout, stderr } = await enrolling;
    expect(stderr).toMatch(/SCEP request pending, polling/);
    expect(certificateOf(stdout).subject).toBe('CN=gated.host1.test');
  });
});
