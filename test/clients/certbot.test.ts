// certbot (Debian's 2.1), unmodified, against certgate over HTTPS: obtains a certificate with its
// standalone http-01 server, renews it, and revokes it (keyCompromise), which the REST API then
// reports. certgate's HTTPS certificate is its own; certbot trusts certgate's CAs through
// REQUESTS_CA_BUNDLE, never the system store.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinary, missingBinaryReason } from '../harness/binaries.js';
import { startAcmeEnv, type AcmeEnv } from '../helpers/acmeEnv.js';
import { freePort } from '../helpers/net.js';
import { opensslVerify } from '../helpers/openssl.js';

const run = promisify(execFile);
const skipReason = missingBinaryReason('certbot', 'apt-get install -y certbot');

describe.skipIf(skipReason !== null)('certbot (standalone http-01) against certgate', () => {
  let env: AcmeEnv;
  let directoryUrl: string;
  let http01Port: number;
  let trustFile: string;
  const name = 'certbot-host.test';

  /** Runs certbot with its state in the test's directory; returns its output, or throws with it. */
  const certbot = async (args: string[]): Promise<string> => {
    const dirs = ['--config-dir', join(env.dir, 'certbot', 'config'), '--work-dir', join(env.dir, 'certbot', 'work'), '--logs-dir', join(env.dir, 'certbot', 'logs')];
    try {
      const { stdout, stderr } = await run(findBinary('certbot') as string, [...args, ...dirs], {
        env: { ...process.env, REQUESTS_CA_BUNDLE: trustFile },
        timeout: 45_000,
      });
      return stdout + stderr;
    } catch (e) {
      const err = e as Error & { stdout?: string; stderr?: string };
      let log = '';
      try {
        log = readFileSync(join(env.dir, 'certbot', 'logs', 'letsencrypt.log'), 'utf8').split('\n').slice(-60).join('\n');
      } catch {
        // no log
      }
      throw new Error(`certbot ${args[0]} failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}\n--- letsencrypt.log (tail) ---\n${log}`, { cause: e });
    }
  };

  const live = (file: string): string => readFileSync(join(env.dir, 'certbot', 'config', 'live', name, file), 'utf8');

  beforeAll(async () => {
    http01Port = await freePort();
    const httpsPort = await freePort();
    env = await startAcmeEnv({ http01Port, overrides: { httpsPort } });
    expect(env.server.httpsUrl).not.toBeNull();
    directoryUrl = env.directoryUrl;
    trustFile = join(env.dir, 'certgate-trust.pem');
    writeFileSync(trustFile, `${env.rootPem.trim()}\n${env.issuingPem.trim()}\n`);
  });

  afterAll(async () => {
    await env?.stop();
  });

  const common = () => ['-n', '--server', directoryUrl];
  const standalone = () => ['--standalone', '--http-01-port', String(http01Port), '--http-01-address', '127.0.0.1'];

  it('obtains a certificate (certonly --standalone)', async () => {
    await certbot(['certonly', ...common(), '--agree-tos', '-m', 'ops@example.test', ...standalone(), '-d', name, '-d', `www.${name}`]);
    const cert = live('cert.pem');
    expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, cert)).toMatch(/: OK/);
    expect(new X509Certificate(cert).subjectAltName).toBe(`DNS:${name}, DNS:www.${name}`);
    // fullchain = the leaf then the chain certbot was given.
    expect(live('fullchain.pem').match(/BEGIN CERTIFICATE/g)?.length).toBeGreaterThanOrEqual(2);
  });

  it('renews it (renew --force-renewal)', async () => {
    const before = new X509Certificate(live('cert.pem'));
    await certbot(['renew', '-n', '--force-renewal', '--no-random-sleep-on-renew', '--cert-name', name]);
    const after = new X509Certificate(live('cert.pem'));
    expect(after.serialNumber).not.toBe(before.serialNumber);
    expect(after.subjectAltName).toBe(before.subjectAltName);
    expect(opensslVerify(env.dir, env.rootPem, env.issuingPem, live('cert.pem'))).toMatch(/: OK/);
  });

  it('revokes it (revoke --reason keycompromise), and REST reports it revoked', async () => {
    const cert = new X509Certificate(live('cert.pem'));
    await certbot(['revoke', ...common(), '--cert-path', join(env.dir, 'certbot', 'config', 'live', name, 'cert.pem'), '--reason', 'keycompromise', '--no-delete-after-revoke']);
    const serial = cert.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
    const list = await env.rest('GET', '/v1/certificates?pageSize=100');
    expect(list.status).toBe(200);
    const record = (list.json.certificates as Array<{ id: string; serial_number: string }>).find((c) => c.serial_number.replace(/^(00)+(?=.)/, '') === serial);
    expect(record, `no certificate with serial ${serial} over REST`).toBeDefined();
    const got = await env.rest('GET', `/v1/certificates/${record?.id}`);
    expect(got.json.revoked_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(got.json.revocation_reason).toBe('keyCompromise');
  });
});
