// The README's "Scaled out: runbook", run as written: its init, start, check and stop blocks in a
// shell, with `npx certgate` standing for this checkout's CLI and the settings pointing at the
// harness's PostgreSQL and Redis on free loopback ports. Through the deployment they start (API
// processes without a worker, two lone workers) certificates are issued over REST (the check
// block), ACME, EST and SCEP, each verified by openssl against the chain; the stop block must leave
// no process of any group behind.
import { spawn } from 'node:child_process';
import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from './harness/postgres.js';
import { findBinary, missingBinaryReason } from './harness/binaries.js';
import { acmeClientOf } from './helpers/acmeEnv.js';
import { startHttp01Responder, type Http01Responder } from './helpers/acmeResponders.js';
import { startDnsServer, type StubDnsServer } from './helpers/dnsServer.js';
import { csrDer, opensslCertsOf, runClient } from './helpers/est.js';
import { deploymentMissing, TEST_MASTER_KEY } from './helpers/gateway.js';
import { restCall } from './helpers/http.js';
import { freePort, isListening } from './helpers/net.js';
import { makeCsr, opensslVerify, tempDir } from './helpers/openssl.js';
import { processesIn } from './helpers/processes.js';
import { exportedNames, readmeBlocks } from './helpers/readmeBlocks.js';

const redisUrl = inject('redisUrl');
const postgresUrl = inject('postgresUrl');
const missing = deploymentMissing({ backend: 'postgres', queue: 'bullmq' });
const pkiMissing = missing ? 'no deployment' : missingBinaryReason('pki', 'apt-get install -y strongswan-pki libstrongswan-extra-plugins');

const root = join(import.meta.dirname, '..');
/** What `npx certgate` runs in this checkout, without asking a registry. */
const CLI = `node '${join(root, 'bin', 'certgate.js')}'`;
const blocks = readmeBlocks('sh');
const ADMIN_KEY = /cg_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/;

interface BlockRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe.skipIf(missing)('the scaled-out runbook in the README, followed (PostgreSQL, Redis, serve --no-worker --processes 2, 2 workers)', () => {
  const work = tempDir('certgate-runbook-');
  let env: Record<string, string>;
  let dns: StubDnsServer;
  let http01: Http01Responder;
  let api: string;
  let httpsPort: number;
  let adminKey: string;
  let groups: number[] = [];

  /** Runs one tagged README block in bash, in the operator's working folder, with `npx certgate` as this checkout's. */
  function runBlock(tag: string, extraEnv: Record<string, string> = {}, timeoutMs = 60_000): Promise<BlockRun> {
    const block = blocks.get(tag);
    if (!block) throw new Error(`README.md has no block fenced as \`\`\`sh ${tag}`);
    return new Promise((resolve, reject) => {
      const child = spawn('bash', ['-c', block.replaceAll('npx certgate', CLI)], { cwd: work, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the ${tag} block ran longer than ${timeoutMs} ms\n${stdout}\n${stderr}\n${logs()}`));
      }, timeoutMs);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** What the started processes logged, for a failure's message. */
  const logs = (): string =>
    readdirSync(work)
      .filter((f) => f.endsWith('.log'))
      .map((f) => `--- ${f}\n${readFileSync(join(work, f), 'utf8').slice(-4000)}`)
      .join('\n');

  const pidFiles = (): number[] =>
    readdirSync(work)
      .filter((f) => f.endsWith('.pid'))
      .map((f) => Number(readFileSync(join(work, f), 'utf8').trim()));

  const rest = (method: string, path: string, body?: unknown) => restCall(api, adminKey, method, path, body);
  /** The chain the check block fetched (ca1.pem issuing, ca2.pem root), as the operator has it. */
  const chain = () => ({ rootPem: readFileSync(join(work, 'ca2.pem'), 'utf8'), issuingPem: readFileSync(join(work, 'ca1.pem'), 'utf8') });
  const verify = (leafPem: string): string => opensslVerify(work, chain().rootPem, chain().issuingPem, leafPem);

  beforeAll(async () => {
    dns = await startDnsServer();
    http01 = await startHttp01Responder();
    const httpPort = await freePort();
    httpsPort = await freePort();
    api = `http://127.0.0.1:${httpPort}`;
    // A developer's own certgate settings must not reach the processes under test.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !/^(CERTGATE_|DATABASE_URL$|REDIS_URL$)/.test(k))) as Record<string, string>;
    env = {
      ...inherited,
      DATABASE_URL: await createTestDatabase(postgresUrl as string),
      REDIS_URL: redisUrl as string,
      CERTGATE_MASTER_KEY: TEST_MASTER_KEY,
      CERTGATE_PUBLIC_URL: `https://localhost:${httpsPort}`,
      CERTGATE_QUEUE_PREFIX: `test-${randomUUID()}`,
      // Loopback only: the settings' 0.0.0.0 would open the test's ports to the network.
      CERTGATE_HOST: '127.0.0.1',
      CERTGATE_HTTP_PORT: String(httpPort),
      CERTGATE_HTTPS_PORT: String(httpsPort),
      CERTGATE_DATA_DIR: join(work, 'data'),
      // ACME's validator (in the workers) asks the test's DNS answerer and reaches its http-01 server.
      CERTGATE_DNS_SERVER: dns.address,
      CERTGATE_HTTP01_PORT: String(http01.port),
    };
  });

  afterAll(async () => {
    // Only if a step failed before the stop block: the groups this test started, and nothing else.
    for (const pgid of groups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await Promise.all([http01?.stop(), dns?.stop()]);
  });

  it('sets every variable the settings block names', () => {
    const names = exportedNames(blocks.get('runbook:settings') ?? '');
    expect(names).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'CERTGATE_MASTER_KEY', 'CERTGATE_PUBLIC_URL', 'CERTGATE_QUEUE_PREFIX']));
    for (const name of names) expect(env[name], name).toBeTruthy();
    for (const tag of ['runbook:init', 'runbook:start']) expect(blocks.get(tag), tag).toContain('npx certgate');
  });

  it('init makes the deployment once and prints an admin key', async () => {
    const first = await runBlock('runbook:init');
    expect(first.code, first.stderr).toBe(0);
    adminKey = ADMIN_KEY.exec(first.stdout)?.[0] as string;
    expect(adminKey, first.stdout).toBeTruthy();
    const again = await runBlock('runbook:init');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toMatch(ADMIN_KEY);
  });

  it('start brings up the API processes and the workers, each in a group of its own, and waits until /readyz answers', async () => {
    const started = await runBlock('runbook:start', {}, 90_000);
    expect(started.code, `${started.stderr}\n${logs()}`).toBe(0);
    expect(JSON.parse(started.stdout.trim())).toMatchObject({ status: 'ready' });
    groups = pidFiles();
    expect(groups).toHaveLength(3);
    // Each pid file names a group leader: the group the stop block signals.
    const procs = processesIn(groups);
    for (const pgid of groups) expect(procs.some((p) => p.pid === pgid)).toBe(true);
    // Behind the wrapper: the API primary and its two HTTP processes; one certgate per worker.
    const certgates = (pgid: number) => procs.filter((p) => p.pgid === pgid && p.cmdline.includes('main.ts'));
    const [apiGroup, ...workerGroups] = groups.map((g) => certgates(g).length).sort((a, b) => b - a);
    expect(apiGroup).toBe(3);
    expect(workerGroups).toEqual([1, 1]);
  }, 120_000);

  it('the check block issues over REST: an API process takes the request, a worker signs, openssl verifies', async () => {
    const checked = await runBlock('runbook:check', { KEY: adminKey });
    expect(checked.stdout, `${checked.stderr}\n${logs()}`).toMatch(/^host\.pem: OK$/m);
    const cert = new X509Certificate(readFileSync(join(work, 'host.pem')));
    expect(cert.subject).toBe('CN=host1.test');
  });

  it('issues over ACME (http-01, validated by a worker through the local DNS answerer), trusting data/tls-ca.pem', async () => {
    acme.axios.defaults.httpsAgent = new Agent({ ca: readFileSync(join(env.CERTGATE_DATA_DIR as string, 'tls-ca.pem'), 'utf8') });
    const client = acmeClientOf(`${env.CERTGATE_PUBLIC_URL}/acme/directory`, await acme.crypto.createPrivateEcdsaKey('P-256'));
    const [, csr] = await acme.crypto.createCsr({ commonName: 'runbook.test', altNames: ['runbook.test', 'www.runbook.test'] });
    const pem = await client.auto({
      csr,
      termsOfServiceAgreed: true,
      challengePriority: ['http-01'],
      skipChallengeVerification: true,
      challengeCreateFn: async (_a, ch, ka) => http01.set(ch.token, ka),
      challengeRemoveFn: async (_a, ch) => http01.unset(ch.token),
    });
    const leaf = new X509Certificate(pem);
    expect(leaf.subjectAltName).toBe('DNS:runbook.test, DNS:www.runbook.test');
    expect(verify(leaf.toString())).toMatch(/: OK/);
    // The validator connected to the answerer's address for the name it asked DNS about.
    expect(dns.queries.some((q) => q.name === 'runbook.test')).toBe(true);
  });

  it('issues over EST with curl and a Basic credential, on the HTTPS port, trusting data/tls-ca.pem', async () => {
    const created = await rest('POST', '/v1/credentials', { type: 'est', name: 'runbook-router', products: ['default'] });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const { csrPem } = makeCsr(work, { subject: '/CN=router.runbook.test', name: 'router' });
    const body = join(work, 'router.b64');
    writeFileSync(body, csrDer(csrPem).toString('base64'));
    const url = `https://localhost:${httpsPort}/.well-known/est/simpleenroll`;
    const auth = `${created.json.username as string}:${created.json.password as string}`;
    const got = await runClient('curl', ['-fsS', '--cacert', 'data/tls-ca.pem', '-u', auth, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${body}`, url], work);
    expect(got.code, got.stderr).toBe(0);
    const [leafPem] = opensslCertsOf(Buffer.from(got.stdout.toString('latin1'), 'base64'), work);
    expect(new X509Certificate(leafPem as string).subject).toBe('CN=router.runbook.test');
    expect(verify(leafPem as string)).toMatch(/: OK/);
  });

  it.skipIf(pkiMissing !== null)('issues over SCEP with strongSwan pki and a one-time challenge', async () => {
    const minted = await rest('POST', '/v1/scep/challenges', { productId: 'default' });
    expect(minted.status, JSON.stringify(minted.json)).toBe(201);
    const dir = join(work, 'scep');
    mkdirSync(dir);
    const { keyPath } = makeCsr(dir, { key: 'rsa-2048', name: 'device' });
    const pki = findBinary('pki') as string;
    const url = `${api}/scep`;
    const cas = await runClient(pki, ['--scepca', '--url', url, '--caout', 'ca.der', '--raout', 'ra.der'], dir);
    expect(cas.code, cas.stderr).toBe(0);
    const enrolled = await runClient(
      pki,
      ['--scep', '--url', url, '--in', keyPath, '--dn', 'CN=device.runbook.test', '--password', minted.json.challenge as string, '--cacert-enc', 'ra.der', '--cacert-sig', 'ra.der', '--cacert', 'ca.der', '--cacert', 'ca-1.der', '--cipher', 'aes', '--digest', 'sha256', '--outform', 'pem'],
      dir,
    );
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const leafPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(enrolled.stdout.toString('utf8'))?.[0] as string;
    expect(new X509Certificate(leafPem).subject).toBe('CN=device.runbook.test');
    expect(verify(leafPem)).toMatch(/: OK/);
  });

  it('stop signals each process group and returns once every process of every group is gone', async () => {
    const before = processesIn(groups);
    // The three wrappers, the API primary and its two HTTP processes, the two workers (and whatever they started).
    expect(before.length).toBeGreaterThanOrEqual(3 + 3 + 2);
    const stopped = await runBlock('runbook:stop', {}, 60_000);
    expect(stopped.code, `${stopped.stderr}\n${logs()}`).toBe(0);
    // The block waited for the groups to empty; nothing of them is left, not even a zombie.
    expect(processesIn(groups)).toEqual([]);
    for (const { pid } of before) expect(() => process.kill(pid, 0), String(pid)).toThrow();
    expect(await isListening(Number(env.CERTGATE_HTTP_PORT))).toBe(false);
    expect(await isListening(httpsPort)).toBe(false);
    // A graceful stop: the API primary and the workers say they finished their work, none was killed.
    for (const log of ['api.log', 'worker-1.log', 'worker-2.log']) expect(readFileSync(join(work, log), 'utf8'), log).toMatch(/shutting down/);
    groups = [];
  }, 90_000);

  it('leaves nothing of the deployment in the data dir but this host\'s own TLS files', () => {
    const files = readdirSync(env.CERTGATE_DATA_DIR as string, { recursive: true }).map(String).sort();
    expect(files.filter((f) => !f.startsWith('tls'))).toEqual([]);
  });
});
