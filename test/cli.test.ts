// The `certgate` command as an operator runs it: a separate process, JSON output, exit codes.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomUUID, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from './harness/postgres.js';
import { makeCsr, openssl, opensslVerify, tempDir } from './helpers/openssl.js';
import { freePort, isListening } from './helpers/net.js';
import { until } from './helpers/until.js';

const root = join(import.meta.dirname, '..');
const cliArgs = ['--import', 'tsx', join(root, 'main.ts')];
/** What `npx certgate` runs: the wrapper, which runs main.ts in a child process. */
const binArgs = [join(root, 'bin/certgate.js')];

function certgate(dataDir: string, args: string[], env: Record<string, string> = {}, entry = cliArgs) {
  const r = spawnSync(process.execPath, [...entry, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, CERTGATE_DATA_DIR: dataDir, CERTGATE_LOG_LEVEL: 'silent', DATABASE_URL: '', REDIS_URL: '', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) as Record<string, unknown> & unknown[] };
}

describe('certgate CLI', () => {
  it('init creates CAs, a product and an admin key once; the key is stored hashed', () => {
    const dir = tempDir();
    const first = certgate(dir, ['init', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const out = first.json();
    expect(out.created).toBe(true);
    expect(out).toMatchObject({ store: 'sqlite', database: join(dir, 'certgate.db'), data_dir: dir });
    expect(out.admin_api_key).toMatch(/^cg_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const again = certgate(dir, ['init', '--json']).json();
    expect(again.created).toBe(false);
    expect(again.admin_api_key).toBeUndefined();

    const db = readFileSync(join(dir, 'certgate.db')).toString('latin1') + readFileSync(join(dir, 'certgate.db-wal'), { flag: 'a+' }).toString('latin1');
    const secret = (out.admin_api_key as string).slice('cg_0123456789abcdef_'.length); // base64url may contain '_'
    expect(db).not.toContain(secret);
    expect(db).not.toContain('PRIVATE KEY');

    const cas = certgate(dir, ['ca', 'list', '--json']).json() as unknown as { id: string; type: string; parent_id: string | null }[];
    expect(cas.map((c) => c.type).sort()).toEqual(['issuing', 'root']);
    const keys = certgate(dir, ['apikey', 'list', '--json']).json() as unknown as { name: string; admin: boolean }[];
    expect(keys).toEqual([expect.objectContaining({ name: 'admin', admin: true })]);
  });

  it('--version and -V print the version in package.json, also through bin/certgate.js', () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    for (const [flag, entry] of [['--version', cliArgs], ['-V', cliArgs], ['--version', binArgs]] as const) {
      const r = certgate(tempDir(), [flag], {}, entry);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
    }
  });

  it('init in SQLite says which data directory it initialized', () => {
    const dir = tempDir();
    const first = certgate(dir, ['init']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.split('\n')[0]).toBe(`initialized SQLite in ${dir}`);
    expect(certgate(dir, ['init']).stdout).toBe(`already initialized: SQLite in ${dir}\n`);
  });

  it('creates CAs, products and API keys, and revokes keys', () => {
    const dir = tempDir();
    certgate(dir, ['init', '--json']);
    const rootCa = (certgate(dir, ['ca', 'list', '--json']).json() as unknown as { id: string; type: string }[]).find((c) => c.type === 'root')!;
    const made = certgate(dir, ['ca', 'create', '--name', 'devices', '--parent', rootCa.id, '--key-algorithm', 'rsa-2048', '--subject', 'CN=Devices CA, O=Example', '--json'], {
      CERTGATE_PUBLIC_URL: 'https://pki.example.com',
    });
    expect(made.code, made.stderr).toBe(0);
    const ca = made.json();
    expect(ca.type).toBe('issuing');
    expect(ca.subject).toBe('CN=Devices CA, O=Example');
    // Relying parties check an issuing CA through its root's responder, as they check leaves.
    const access = new X509Certificate(ca.certificate_pem as string).infoAccess;
    expect(access).toContain('OCSP - URI:https://pki.example.com/ocsp');
    expect(access).toContain(`CA Issuers - URI:https://pki.example.com/ca/${rootCa.id}.crt`);
    expect(certgate(dir, ['ca', 'list', '--json']).json()).toHaveLength(3);

    const product = certgate(dir, ['product', 'create', '--name', 'web', '--ca', 'devices', '--dns-suffix', 'example.com', '--max-validity-days', '90', '--json']);
    expect(product.code, product.stderr).toBe(0);
    expect(product.json().ca_id).toBe(ca.id);
    const org = certgate(dir, ['product', 'create', '--name', 'org', '--ca', 'devices', '--subject-fixed', 'O=Example Inc', '--subject-allowed', 'OU=Web,Mail', '--refuse-unlisted-subject', '--json']);
    expect(org.code, org.stderr).toBe(0);
    expect(org.json().template).toMatchObject({ subject: { attributes: { O: { fixed: 'Example Inc' }, OU: { allowed: ['Web', 'Mail'] } }, unlisted: 'refuse' } });
    const ocspLeaf = certgate(dir, ['product', 'create', '--name', 'responder', '--ca', 'devices', '--eku', 'ocspSigning']);
    expect(ocspLeaf.code).toBe(1);
    expect(ocspLeaf.stderr).toMatch(/ocspSigning/);
    const tooLong = certgate(dir, ['product', 'create', '--name', 'bad', '--ca', 'devices', '--max-validity-days', '800']);
    expect(tooLong.code).toBe(1);
    expect(tooLong.stderr).toMatch(/397/);

    const key = certgate(dir, ['apikey', 'create', '--name', 'ci', '--permission', 'issue,read:devices', '--json']).json();
    expect(key.permissions).toEqual([{ ca: ca.id, actions: ['issue', 'read'] }]);
    expect(key).toMatchObject({ type: 'rest', name: 'ci', admin: false, status: 'active', revoked_at: null });
    expect(key.api_key).toMatch(new RegExp(`^cg_${key.id as string}_[A-Za-z0-9_-]{43}$`));
    expect(key.secret).toBe(key.api_key);
    // The revoke answers with the key as it now is.
    const revoked = certgate(dir, ['apikey', 'revoke', key.id as string, '--json']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.json()).toMatchObject({ id: key.id, type: 'rest', name: 'ci', status: 'revoked', revoked_at: expect.any(String) });
    expect(revoked.stdout).not.toContain(key.api_key as string);
    const listed = (certgate(dir, ['apikey', 'list', '--json']).json() as unknown as { id: string; status: string; revoked_at: string | null }[]).find((k) => k.id === key.id);
    expect(listed?.revoked_at).not.toBeNull();
    expect(listed?.status).toBe('revoked');
    expect(certgate(dir, ['apikey', 'revoke', key.id as string]).code).toBe(1);
  });

  it('stops on an invalid setting with a message that names it', () => {
    const dir = tempDir();
    const r = certgate(dir, ['ca', 'list'], { CERTGATE_HTTP_PORT: 'eighty' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CERTGATE_HTTP_PORT/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const badUrl = certgate(dir, ['ca', 'list'], { DATABASE_URL: 'mysql://x' });
    expect(badUrl.stderr).toMatch(/DATABASE_URL/);
    const badPrefix = certgate(dir, ['ca', 'list'], { CERTGATE_QUEUE_PREFIX: 'two words' });
    expect(badPrefix.code).toBe(1);
    expect(badPrefix.stderr).toMatch(/CERTGATE_QUEUE_PREFIX/);
  });

  it('start on an existing data directory without its master key, or with another, stops with exit 1 and a message; it never makes a new key for it', () => {
    const dir = tempDir();
    expect(certgate(dir, ['init', '--json']).code).toBe(0);
    const keyFile = join(dir, 'master.key');
    const key = readFileSync(keyFile, 'utf8');
    rmSync(keyFile);
    const ports = { CERTGATE_HTTP_PORT: '0', CERTGATE_HTTPS_PORT: '0' };
    const missing = certgate(dir, ['start', '--json'], ports);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/holds an existing deployment \(2 CA\(s\), an audit trail\), but no master key was given: set CERTGATE_MASTER_KEY/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(keyFile)).toBe(false);
    const wrong = certgate(dir, ['start', '--json'], { ...ports, CERTGATE_MASTER_KEY: 'x'.repeat(43) });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/the master key in CERTGATE_MASTER_KEY is not the one the data directory .* was created with/);
    writeFileSync(keyFile, key.replace(/.$/s, (c) => (c === 'A' ? 'B' : 'A')), { mode: 0o600 });
    expect(certgate(dir, ['ca', 'list']).stderr).toMatch(/the master key in .*master\.key is not the one/);
    writeFileSync(keyFile, key, { mode: 0o600 });
    expect(certgate(dir, ['ca', 'list', '--json']).json()).toHaveLength(2);
  });

  it('start initializes on first start, serves, issues, and shuts down gracefully', async () => {
    const dir = tempDir();
    const httpsPort = await freePort();
    const env = { CERTGATE_DATA_DIR: dir, CERTGATE_HTTP_PORT: '0', CERTGATE_HTTPS_PORT: String(httpsPort), DATABASE_URL: '', REDIS_URL: '' };
    const server = await startCli(['start', '--json'], env, (l) => !!l.url);
    const init = server.lines.find((l) => l.created)!;
    const served = server.lines.find((l) => l.url)!;
    const issued = await expectIssuance(dir, served.url as string, init.admin_api_key as string, init.issuing_ca_id as string);
    const issuingFile = join(dir, 'issuing-ca.pem');
    writeFileSync(issuingFile, await (await fetch(`${served.url as string}/ca/${init.issuing_ca_id as string}.pem`)).text());
    writeFileSync(join(dir, 'issued.pem'), issued.certificate_pem);
    const ocspStatus = async (): Promise<string> => {
      const text = await opensslAsync(['ocsp', '-issuer', issuingFile, '-cert', join(dir, 'issued.pem'), '-url', `${served.url as string}/ocsp`, '-no_nonce', '-noverify']);
      return /issued\.pem: (\w+)/.exec(text)?.[1] ?? text;
    };
    expect(await ocspStatus()).toBe('good'); // the server now holds that answer in its cache
    // Revoked from the CLI while the server runs: the CRL it publishes is the one the server serves,
    // and the server's OCSP answers follow within seconds (no Redis: the new CRL number tells it).
    const revoked = certgate(dir, ['cert', 'revoke', issued.id, '--reason', 'keyCompromise', '--json']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.json()).toMatchObject({ id: issued.id, revocation_reason: 'keyCompromise', crl_number: expect.any(Number) });
    const crlText = openssl(['crl', '-noout', '-text'], await (await fetch(`${served.url as string}/crl/${init.issuing_ca_id as string}.pem`)).text());
    expect(crlText.toLowerCase()).toContain(issued.serial_number.replace(/^0+/, ''));
    expect(crlText).toMatch(/Key Compromise/);
    expect(certgate(dir, ['cert', 'revoke', issued.id]).code).toBe(1);
    await until(async () => (await ocspStatus()) === 'revoked', 10_000);
    // HTTPS with the certificate the gateway issued itself, trusted through the file it names,
    // and TLS 1.2 still offered for embedded clients.
    expect(served.tls_ca_file).toBe(join(dir, 'tls-ca.pem'));
    const hello = openssl(['s_client', '-connect', `localhost:${httpsPort}`, '-tls1_2', '-verify_return_error', '-CAfile', served.tls_ca_file as string], '');
    expect(hello).toMatch(/Verify return code: 0 \(ok\)/);
    expect(await server.stop()).toBe(0);
  });

  const redisUrl = inject('redisUrl');
  const postgresUrl = inject('postgresUrl');
  // Suites share the harness Redis; with keys of their own they never take each other's jobs.
  const queuePrefix = `cli-test-${randomUUID()}`;
  it.skipIf(!redisUrl || !postgresUrl)('scaled out: `serve --no-worker` takes the request, a separate `certgate worker` signs it', async () => {
    const dir = tempDir();
    const env = {
      CERTGATE_DATA_DIR: dir,
      CERTGATE_HTTP_PORT: '0',
      CERTGATE_HTTPS_PORT: '0',
      CERTGATE_MASTER_KEY: 'scaled-out-master-key-0123',
      DATABASE_URL: await createTestDatabase(postgresUrl as string),
      REDIS_URL: redisUrl as string,
      CERTGATE_QUEUE_PREFIX: queuePrefix,
    };
    const init = certgate(dir, ['init', '--json'], env).json();
    expect(init.created).toBe(true);
    const api = await startCli(['serve', '--no-worker', '--json'], env, (l) => !!l.url);
    const worker = await startCli(['worker', '--json'], env, (l) => l.worker === true);
    try {
      await expectIssuance(dir, api.lines.find((l) => l.url)!.url as string, init.admin_api_key as string, init.issuing_ca_id as string);
    } finally {
      expect(await worker.stop()).toBe(0);
      expect(await api.stop()).toBe(0);
    }
  });

  it.skipIf(!postgresUrl)('init with PostgreSQL names the database without its password, and writes nothing to the data directory', async () => {
    const dir = tempDir();
    const url = new URL(await createTestDatabase(postgresUrl as string));
    // The harness's server trusts local connections and ignores it: init must not print it.
    const password = 'pg-secret-0123';
    url.password = password;
    const env = { CERTGATE_MASTER_KEY: 'init-postgres-master-key-0123', DATABASE_URL: url.toString() };
    const shown = `postgresql://${url.username}@${url.host}${url.pathname}`;
    const first = certgate(dir, ['init'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.split('\n')[0]).toBe(`initialized PostgreSQL database ${shown}`);
    expect(first.stdout).toMatch(/admin API key \(shown once, store it now\): cg_/);
    expect(first.stdout + first.stderr).not.toContain(password);
    expect(readdirSync(dir)).toEqual([]);
    // libpq also takes the password as a parameter.
    url.password = '';
    url.searchParams.set('password', password);
    const again = certgate(dir, ['init', '--json'], { ...env, DATABASE_URL: url.toString() });
    expect(again.code, again.stderr).toBe(0);
    expect(again.json()).toEqual({ created: false, store: 'postgres', database: shown });
    expect(again.stdout).not.toContain(password);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses an API key without any permission and without --admin, through bin/certgate.js with its exit code', () => {
    const dir = tempDir();
    expect(certgate(dir, ['init', '--json']).code).toBe(0);
    const refused = certgate(dir, ['apikey', 'create', '--name', 'useless'], {}, binArgs);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/needs --permission .* or --admin/);
    expect((certgate(dir, ['apikey', 'list', '--json']).json() as unknown as { name: string }[]).map((k) => k.name)).toEqual(['admin']);
    const admin = certgate(dir, ['apikey', 'create', '--name', 'ops', '--admin', '--json'], {}, binArgs);
    expect(admin.code, admin.stderr).toBe(0);
    expect(admin.json()).toMatchObject({ name: 'ops', admin: true, permissions: [] });
  });

  it('bin/certgate.js hands SIGTERM to the server it runs and exits once the server has stopped', async () => {
    const dir = tempDir();
    const env = { CERTGATE_DATA_DIR: dir, CERTGATE_HTTP_PORT: '0', CERTGATE_HTTPS_PORT: '0', DATABASE_URL: '', REDIS_URL: '' };
    const wrapper = await startCli(['start', '--json'], env, (l) => !!l.url, binArgs);
    const port = Number(new URL(wrapper.lines.find((l) => l.url)!.url as string).port);
    const [server] = childPids(wrapper.pid) as [number];
    expect(server).toBeGreaterThan(0);
    expect(await isListening(port)).toBe(true);
    try {
      process.kill(wrapper.pid, 'SIGTERM');
      expect(await wrapper.exited).toBe(0);
      await until(async () => !(await isListening(port)), 10_000, 'the server port is closed');
      expect(() => process.kill(server, 0)).toThrow();
    } finally {
      // A wrapper that does not hand the signal on leaves the server running: stop it here.
      try {
        process.kill(server, 'SIGKILL');
      } catch {
        // Gone, as it should be.
      }
    }
  });

  it('cert list filters by CA, status, common name and expiry, and pages after filtering', async () => {
    const dir = tempDir();
    const init = certgate(dir, ['init', '--json']).json();
    const devices = certgate(dir, ['ca', 'create', '--name', 'devices', '--parent', init.root_ca_id as string, '--json']).json();
    expect(certgate(dir, ['product', 'create', '--name', 'dev', '--ca', 'devices', '--json']).code).toBe(0);
    const env = { CERTGATE_DATA_DIR: dir, CERTGATE_HTTP_PORT: '0', CERTGATE_HTTPS_PORT: '0', DATABASE_URL: '', REDIS_URL: '' };
    const server = await startCli(['serve', '--json'], env, (l) => !!l.url);
    const url = server.lines.find((l) => l.url)!.url as string;
    const issue = async (caId: string, cn: string, validityDays: number): Promise<string> => {
      const res = await fetch(`${url}/v1/certificates`, {
        method: 'POST',
        headers: { authorization: `Bearer ${init.admin_api_key as string}`, 'content-type': 'application/json' },
        body: JSON.stringify({ caId, csrPem: makeCsr(dir, { subject: `/CN=${cn}` }).csrPem, validityDays }),
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { certificate: { id: string } }).certificate.id;
    };
    // Oldest first; lists are newest first.
    const alpha = await issue(init.issuing_ca_id as string, 'alpha.host1.test', 10);
    const beta = await issue(init.issuing_ca_id as string, 'beta.host1.test', 60);
    const gamma = await issue(devices.id as string, 'gamma.host1.test', 20);
    expect(await server.stop()).toBe(0);
    expect(certgate(dir, ['cert', 'revoke', beta, '--json']).code).toBe(0);

    const list = (...args: string[]): Record<string, unknown>[] => {
      const r = certgate(dir, ['cert', 'list', ...args, '--json']);
      expect(r.code, r.stderr).toBe(0);
      // The gateway's own certificates (the CAs' OCSP signers) are listed too, under their CA's
      // system product; the filters are checked on the operator's certificates.
      return (r.json() as unknown as Record<string, unknown>[]).filter((c) => !String(c.product_id).startsWith('system-'));
    };
    const ids = (...args: string[]): unknown[] => list(...args).map((c) => c.id);
    expect(ids()).toEqual([gamma, beta, alpha]);
    const revoked = list('--status', 'revoked');
    expect(revoked).toEqual([expect.objectContaining({ id: beta, ca_id: init.issuing_ca_id, common_name: 'beta.host1.test', status: 'revoked', revocation_reason: 'unspecified' })]);
    expect(ids('--status', 'active')).toEqual([gamma, alpha]);
    expect(ids('--ca', 'devices')).toEqual([gamma]);
    expect(ids('--search', 'ALPHA.host1')).toEqual([alpha]);
    expect(ids('--expiring-in-days', '15')).toEqual([alpha]);
    // Page 2 of one per page, counted among the active ones only (beta sits between them).
    expect(ids('--limit', '1', '--page', '2', '--status', 'active')).toEqual([alpha]);
    expect(certgate(dir, ['cert', 'list', '--search', 'gamma']).stdout).toMatch(new RegExp(`${gamma}\\s+active\\s+\\S+\\s+gamma\\.host1\\.test`));
    for (const bad of [['--status', 'expired'], ['--limit', '0']]) {
      const r = certgate(dir, ['cert', 'list', ...bad]);
      expect(r.code, bad.join(' ')).toBe(1);
    }
  }, 240_000);

  it('report inventory prints the counts GET /v1/reports/inventory answers, as tables with header rows, JSON or CSV', async () => {
    const dir = tempDir();
    const init = certgate(dir, ['init', '--json']).json();
    const env = { CERTGATE_DATA_DIR: dir, CERTGATE_HTTP_PORT: '0', CERTGATE_HTTPS_PORT: '0', DATABASE_URL: '', REDIS_URL: '' };
    const server = await startCli(['serve', '--json'], env, (l) => !!l.url);
    const url = server.lines.find((l) => l.url)!.url as string;
    const auth = { authorization: `Bearer ${init.admin_api_key as string}` };
    for (const [cn, validityDays] of [['short.report.test', 5], ['long.report.test', 200]] as const) {
      const res = await fetch(`${url}/v1/certificates`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ caId: init.issuing_ca_id, csrPem: makeCsr(dir, { subject: `/CN=${cn}` }).csrPem, validityDays }),
      });
      expect(res.status).toBe(201);
    }
    const rest = (await (await fetch(`${url}/v1/reports/inventory`, { headers: auth })).json()) as { generated_at: string; by_key_algorithm: { key_algorithm: string; count: number }[] };
    expect(await server.stop()).toBe(0);

    const json = certgate(dir, ['report', 'inventory', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const cli = json.json() as unknown as Record<string, unknown> & { total: number; by_expiry: Record<string, number>; by_key_algorithm: { key_algorithm: string; count: number }[] };
    // The same counts; REST spells key algorithms as Certman does, the CLI as certgate does.
    const spelled: Record<string, string> = { 'ECDSA-P256': 'ec-p256', 'ECDSA-P384': 'ec-p384', 'RSA-2048': 'rsa-2048' };
    const { generated_at: _r, ...restCounts } = { ...rest, by_key_algorithm: rest.by_key_algorithm.map((k) => ({ ...k, key_algorithm: spelled[k.key_algorithm] ?? k.key_algorithm })) };
    const { generated_at: _c, ...cliCounts } = cli;
    expect(cliCounts).toEqual(restCounts);
    expect(cli.by_expiry.within_7_days).toBeGreaterThanOrEqual(1);
    expect(cli.by_expiry.beyond_90_days).toBeGreaterThanOrEqual(1);

    const text = certgate(dir, ['report', 'inventory']).stdout;
    expect(text).toMatch(new RegExp(`^inventory at \\S+: ${cli.total} certificates\n`));
    for (const header of ['PRODUCT ID  +PRODUCT  +COUNT', 'CA ID  +CA  +COUNT', 'STATUS  +COUNT', 'KEY ALGORITHM  +COUNT', 'EXPIRY  +COUNT']) expect(text).toMatch(new RegExp(`^${header}$`, 'm'));
    expect(text).toMatch(/^within_7_days +[1-9]\d*$/m);
    const csv = certgate(dir, ['report', 'inventory', '--csv']).stdout.split('\r\n');
    expect(csv[0]).toBe('dimension,value,name,count');
    expect(csv[1]).toBe(`total,,,${cli.total}`);
    expect(certgate(dir, ['report', 'inventory', '--csv', '--json']).code).toBe(1);
  }, 240_000);

  it('audit export --json prints the same JSON lines as without it: the export has no other form', () => {
    const dir = tempDir();
    expect(certgate(dir, ['init', '--json']).code).toBe(0);
    const plain = certgate(dir, ['audit', 'export', '--since', '2000-01-01T00:00:00Z']);
    const json = certgate(dir, ['audit', 'export', '--since', '2000-01-01T00:00:00Z', '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout).toBe(plain.stdout);
    const lines = json.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ seq: expect.any(Number), action: expect.any(String) });
  });

  it('refuses several HTTP processes without Redis, naming both settings', () => {
    const r = certgate(tempDir(), ['serve', '--processes', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CERTGATE_HTTP_PROCESSES=2 needs REDIS_URL/);
  });

  it.skipIf(!redisUrl)('serve --processes 2: the HTTP processes share the port, a dead one is replaced, SIGTERM stops them all', async () => {
    const dir = tempDir();
    const env = { CERTGATE_DATA_DIR: dir, CERTGATE_HTTP_PORT: '0', CERTGATE_HTTPS_PORT: '0', DATABASE_URL: '', REDIS_URL: redisUrl as string, CERTGATE_QUEUE_PREFIX: queuePrefix };
    const server = await startCli(['start', '--processes', '2', '--json'], env, (l) => !!l.url);
    const init = server.lines.find((l) => l.created)!;
    const served = server.lines.find((l) => l.url)!;
    expect(served.processes).toBe(2);
    const children = (): number[] => childPids(server.pid);
    expect(children()).toHaveLength(2);
    // Taken by an HTTP process, signed by the worker in the primary through Redis.
    await expectIssuance(dir, served.url as string, init.admin_api_key as string, init.issuing_ca_id as string);

    const [victim] = children() as [number];
    process.kill(victim, 'SIGKILL');
    await until(() => children().length === 2 && !children().includes(victim));
    await expectIssuance(dir, served.url as string, init.admin_api_key as string, init.issuing_ca_id as string);

    const last = children();
    expect(await server.stop()).toBe(0);
    for (const pid of last) expect(() => process.kill(pid, 0)).toThrow();
  });
});

/** openssl without blocking the event loop (the server under test may run in this process's children). */
function opensslAsync(args: string[]): Promise<string> {
  return new Promise((resolve) => execFile('openssl', args, { encoding: 'utf8' }, (_e, stdout, stderr) => resolve(`${stdout}${stderr}`)));
}

/** Direct children of a process (Linux). */
function childPids(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
}

/** Spawns the CLI and resolves once a stdout line satisfies `ready`. */
async function startCli(args: string[], env: Record<string, string>, ready: (line: Record<string, unknown>) => boolean, entry = cliArgs) {
  const child = spawn(process.execPath, [...entry, ...args], { cwd: root, env: { ...process.env, CERTGATE_LOG_LEVEL: 'silent', ...env } });
  const lines: Record<string, unknown>[] = [];
  let buffer = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const text = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        if (ready(line)) resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`certgate ${args.join(' ')} exited ${code}: ${stderr}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return {
    lines,
    pid: child.pid as number,
    exited,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

async function expectIssuance(dir: string, url: string, token: string, caId: string): Promise<{ id: string; serial_number: string; certificate_pem: string }> {
  const { csrPem } = makeCsr(dir, { subject: '/CN=cli.host1.test' });
  const res = await fetch(`${url}/v1/certificates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ caId, csrPem }),
  });
  expect(res.status).toBe(201);
  const cert = ((await res.json()) as { certificate: { id: string; serial_number: string; certificate_pem: string; chain_pem: string } }).certificate;
  const [issuingPem, rootPem] = cert.chain_pem.split(/(?<=-----END CERTIFICATE-----\n)/);
  expect(opensslVerify(dir, rootPem as string, issuingPem as string, cert.certificate_pem)).toMatch(/: OK/);
  return cert;
}
