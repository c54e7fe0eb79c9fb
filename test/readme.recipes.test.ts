// The README's try-it recipes, run as a new user runs them: the shell blocks tagged `sh try-<name>`
// (Quick start, ACME, EST, SCEP), each in bash, in a checkout of the repository with its own
// `./data`, against the gateway the README starts (`npm start`; ACME's restart with its DNS server
// and http-01 port), with the real clients (curl, openssl, certbot, strongSwan pki, dnsmasq).
// What the test changes in a recipe is only what two runs on one machine cannot share: the ports
// (8080, 8443, the DNS server's 5300 and http-01's 5002 become free ones), the admin key the first
// start printed, and `npm ci` (the checkout already has the repository's node_modules). Every
// certificate a recipe leaves is then checked here: `openssl verify` up to data/tls-ca.pem (the dev
// root) and the names it was asked for.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingBinaryReason } from './harness/binaries.js';
import { httpRequest } from './helpers/http.js';
import { freePort, isListening } from './helpers/net.js';
import { openssl, opensslVerify, tempDir } from './helpers/openssl.js';
import { readmeBlocks } from './helpers/readmeBlocks.js';
import { checkoutCopy, freeUdpPort, removeCheckoutCopy, runShell, startShell, type Shell } from './helpers/readmeRecipes.js';
import { until } from './helpers/until.js';

const root = join(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = readmeBlocks('sh');
// dnsmasq is in /usr/sbin, which a user's PATH on Debian lacks (the README says so).
const SBIN = ['/usr/sbin', '/sbin'];

const skip = [
  missingBinaryReason('openssl', 'apt-get install -y openssl'),
  missingBinaryReason('curl', 'apt-get install -y curl'),
  missingBinaryReason('certbot', 'apt-get install -y certbot'),
  missingBinaryReason('pki', 'apt-get install -y strongswan-pki libstrongswan-standard-plugins libstrongswan-extra-plugins'),
  missingBinaryReason('dnsmasq', 'apt-get install -y dnsmasq-base', SBIN),
].some((reason) => reason !== null);

/** The blocks fenced as ```sh try-<name>, one after the other, as one shell session runs them. */
function recipe(...names: string[]): string {
  return names
    .map((name) => {
      const text = blocks.get(`try-${name}`);
      if (text === undefined) throw new Error(`README.md has no \`\`\`sh try-${name} block`);
      return text;
    })
    .join('\n');
}

describe('README', () => {
  it('links only to its own sections, the web, or files in the repository', () => {
    // GitHub's anchors: lower case, punctuation dropped, spaces as hyphens, "-1", "-2"... for repeats.
    const prose = readme.replace(/^```[\s\S]*?^```$/gm, '');
    const anchors = new Set<string>();
    for (const [, heading] of prose.matchAll(/^#{1,6} (.+)$/gm)) {
      const slug = (heading as string).toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
      let unique = slug;
      for (let n = 1; anchors.has(unique); n++) unique = `${slug}-${n}`;
      anchors.add(unique);
    }
    for (const [, target] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^https?:/.test(target as string)) continue;
      if ((target as string).startsWith('#')) {
        expect(anchors, `README links to a section it does not have: ${target}`).toContain((target as string).slice(1));
        continue;
      }
      const path = resolve(root, (target as string).replace(/#.*$/, ''));
      expect(path.startsWith(`${root}/`) && existsSync(path), `README links to ${target}`).toBe(true);
    }
  });

  it('has a try-it recipe for the quick start and every protocol', () => {
    const names = ['start', 'quickstart', 'acme-dns', 'acme-server', 'acme', 'acme-eab', 'est', 'est-pki', 'scep', 'cmp'];
    expect([...blocks.keys()]).toEqual(expect.arrayContaining(names.map((n) => `try-${n}`)));
  });
});

describe.skipIf(skip)('README try-it recipes, run as written', () => {
  let checkout: string;
  let checks: string;
  let env: NodeJS.ProcessEnv;
  let port: Record<'http' | 'https' | 'dns' | 'http01', number>;
  let adminKey: string;
  let server: Shell | undefined;
  let dns: Shell | undefined;

  /** The recipe with its default ports (and the admin key) replaced by this run's. */
  const localized = (text: string): string =>
    text
      .replace(/\b8080\b/g, String(port.http))
      .replace(/\b8443\b/g, String(port.https))
      .replace(/\b5300\b/g, String(port.dns))
      .replace(/\b5002\b/g, String(port.http01))
      .replace(/\bcg_\.\.\./g, adminKey);

  const run = (names: string[], timeoutMs = 60_000) => runShell(localized(recipe(...names)), checkout, env, timeoutMs);

  /** Starts a recipe that serves, and resolves once it answers /readyz. */
  async function startServer(text: string): Promise<Shell> {
    const shell = startShell(localized(text), checkout, env);
    const ended = shell.exited.then((code) => {
      throw new Error(`the server ended (${code}) before it was ready:\n${shell.stdout()}\n${shell.stderr()}`);
    });
    const ready = until(async () => (await fetch(`http://127.0.0.1:${port.http}/readyz`).catch(() => undefined))?.status === 200, 60_000, 'the gateway answers /readyz');
    await Promise.race([ready, ended]);
    return shell;
  }

  /** openssl verify up to the dev root, with the issuing CA as the test reads it over REST. */
  async function verified(file: string): Promise<X509Certificate> {
    const pem = readFileSync(join(checkout, file), 'utf8');
    const headers = { authorization: `Bearer ${adminKey}` };
    const { cas } = (await (await fetch(`http://127.0.0.1:${port.http}/v1/cas?type=intermediate`, { headers })).json()) as { cas: Array<{ id: string }> };
    const { ca } = (await (await fetch(`http://127.0.0.1:${port.http}/v1/cas/${cas[0]?.id}`, { headers })).json()) as { ca: { certificate_pem: string } };
    expect(opensslVerify(checks, readFileSync(join(checkout, 'data', 'tls-ca.pem'), 'utf8'), ca.certificate_pem, pem)).toMatch(/: OK/);
    return new X509Certificate(pem);
  }

  beforeAll(async () => {
    checkout = checkoutCopy(root);
    checks = tempDir('certgate-readme-checks-');
    port = { http: await freePort(), https: await freePort(), dns: await freeUdpPort(), http01: await freePort() };
    // A user's environment, minus what would point the recipes at another deployment, and minus
    // what `npm test` sets for its children (npm_config_local_prefix would run `npm start` here).
    env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CERTGATE_|DATABASE_URL$|REDIS_URL$|REQUESTS_CA_BUNDLE$|npm_|INIT_CWD$)/i.test(k)));
    Object.assign(env, {
      PATH: `${process.env.PATH}:${SBIN.join(':')}`,
      // The ports the recipes' text now names; everything else is the README's default.
      CERTGATE_HTTP_PORT: String(port.http),
      CERTGATE_HTTPS_PORT: String(port.https),
      CERTGATE_LOG_LEVEL: 'warn',
      // npx must find certgate in the checkout, never fetch a package of that name.
      npm_config_offline: 'true',
      npm_config_update_notifier: 'false',
    });
    const start = recipe('start');
    expect(start).toMatch(/^npm ci && /);
    server = await startServer(start.replace(/^npm ci && /, ''));
    adminKey = /admin API key \(shown once, store it now\): (cg_\S+)/.exec(server.stdout())?.[1] ?? '';
    expect(adminKey, server.stdout()).not.toBe('');
  }, 90_000);

  afterAll(async () => {
    await server?.stop();
    await dns?.stop();
    if (checkout) removeCheckoutCopy(checkout);
    if (checks) rmSync(checks, { recursive: true, force: true });
  });

  it('Quick start: a CSR made with openssl becomes a certificate over REST, in try/', async () => {
    const { stdout } = await run(['quickstart']);
    expect(stdout).toContain('try/host.pem: OK');
    expect((await verified('try/host.pem')).subject).toBe('CN=host1.test');
    expect(existsSync(join(checkout, 'host.pem'))).toBe(false);
  });

  it('ACME: the gateway restarted with a local DNS server; certbot gets a certificate, with and without EAB', async () => {
    await server?.stop();
    await until(async () => !(await isListening(port.http)), 10_000, 'the first server let go of its port');
    dns = startShell(localized(recipe('acme-dns')), checkout, env);
    const resolver = new Resolver({ timeout: 200, tries: 1 });
    resolver.setServers([`127.0.0.1:${port.dns}`]);
    await until(async () => (await resolver.resolve4('host1.test').catch((): string[] => [])).includes('127.0.0.1'), 10_000, `dnsmasq answers\n${dns.stderr()}`);
    server = await startServer(recipe('acme-server'));

    const { stdout } = await run(['acme']);
    expect(stdout).toContain('try/certbot/live/host1.test/cert.pem: OK');
    const cert = await verified('try/certbot/live/host1.test/cert.pem');
    expect(cert.subjectAltName).toBe('DNS:host1.test, DNS:www.host1.test');

    const eab = await run(['acme-eab']);
    expect(eab.stdout).toContain('try/certbot/live/eab.host1.test/cert.pem: OK');
    expect((await verified('try/certbot/live/eab.host1.test/cert.pem')).subjectAltName).toBe('DNS:eab.host1.test');
    // The product the recipe made takes bound accounts only, so certbot did present the binding.
    const directory = await httpRequest(`https://localhost:${port.https}/acme/eab-only/directory`, { ca: readFileSync(join(checkout, 'data', 'tls-ca.pem'), 'utf8') });
    expect((directory.json.meta as { externalAccountRequired?: boolean }).externalAccountRequired).toBe(true);
  }, 120_000);

  it('ACME: certbot -d localhost is refused with rejectedIdentifier, the reason in its log, as the README says', async () => {
    const asked = localized(recipe('acme')).replace('-d host1.test -d www.host1.test', '-d localhost').replace(/^openssl verify .*$/m, '');
    expect(asked).toContain('-d localhost');
    await expect(runShell(asked, checkout, env, 60_000)).rejects.toThrow(/exited 1/);
    expect(readFileSync(join(checkout, 'try', 'certbot', 'logs', 'letsencrypt.log'), 'utf8')).toContain('rejectedIdentifier :: The server will not issue certificates for the identifier :: "localhost" is not a DNS name, IP address or email address this CA can vouch for');
  }, 60_000);

  it('EST: curl + openssl, then strongSwan pki, enroll keys made with openssl under an est credential', async () => {
    const { stdout } = await run(['est', 'est-pki']);
    expect(stdout).toContain('try/router1.pem: OK');
    expect(stdout).toContain('try/router2.pem: OK');
    for (const name of ['router1', 'router2']) {
      const cert = await verified(`try/${name}.pem`);
      expect(cert.subject).toBe(`CN=${name}.test`);
      expect(cert.subjectAltName).toBe(`DNS:${name}.test`);
      // The certificate is for the key the recipe made.
      const key = readFileSync(join(checkout, 'try', `${name}.key`), 'utf8');
      expect(cert.checkPrivateKey(createPrivateKey(key))).toBe(true);
    }
  }, 90_000);

  it('SCEP: strongSwan pki enrolls an RSA key with the challenge of a scep credential', async () => {
    const { stdout } = await run(['scep']);
    expect(stdout).toContain('try/device1.pem: OK');
    const cert = await verified('try/device1.pem');
    expect(cert.subject).toBe('CN=device1.test');
    expect(cert.checkPrivateKey(createPrivateKey(readFileSync(join(checkout, 'try', 'device1.key'))))).toBe(true);
  }, 90_000);

  it('CMP: openssl cmp enrolls with a cmp credential (ir), updates the key (kur) and revokes (rr)', async () => {
    const { stdout } = await run(['cmp']);
    expect(stdout).toContain('try/cmp.pem: OK');
    expect(stdout).toContain('try/cmp2.pem: OK');
    for (const [file, key] of [['try/cmp.pem', 'try/cmp.key'], ['try/cmp2.pem', 'try/cmp2.key']] as const) {
      const cert = await verified(file);
      expect(cert.subjectAltName).toBe('DNS:device1.test');
      expect(cert.checkPrivateKey(createPrivateKey(readFileSync(join(checkout, key))))).toBe(true);
    }
    const status = openssl(['ocsp', '-issuer', join(checkout, 'try', 'cmp-chain.pem'), '-cert', join(checkout, 'try', 'cmp2.pem'), '-url', `http://127.0.0.1:${port.http}/ocsp`, '-CAfile', join(checkout, 'try', 'cmp-root.pem'), '-verify_other', join(checkout, 'try', 'cmp-chain.pem'), '-resp_text']);
    expect(status).toMatch(/cmp2\.pem: revoked/);
    expect(status).toMatch(/Reason: superseded/);
  }, 90_000);
});
