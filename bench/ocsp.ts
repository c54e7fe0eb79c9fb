// npm run bench -- ocsp [--certs N] [--count N]
// OCSP answers per second for random known serials from certgate's responder, and from
// `openssl ocsp -index … -port` serving the same CA under the same load; then the build and
// parse time of a 100,000-entry CRL.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caSecretFor } from '../src/ca/createCa.js';
import { decryptPrivateKey } from '../src/ca/keyProtection.js';
import { loadConfig } from '../src/config.js';
import { initialize } from '../src/init.js';
import { readCertificateBasics } from '../src/pki/certInfo.js';
import { buildCrl, parseCrl } from '../src/pki/crl.js';
import { content, expectTag, children, nullValue, octetString, oid, readNode, sequence, unsignedInteger } from '../src/pki/der.js';
import { OID } from '../src/pki/oids.js';
import { fromPem } from '../src/pki/pem.js';
import { openRuntime } from '../src/runtime.js';
import { argValue, cpuSeconds, emit, killTree, freePort, load, makeP256Csrs, round, waitForHttp, waitForPort } from './lib.js';

const root = join(import.meta.dirname, '..');

/** A minimal OCSPRequest (SHA-1 CertID, no nonce), what most relying parties send. */
function ocspRequest(issuerCertDer: Buffer, serialHex: string): Buffer {
  const basics = readCertificateBasics(issuerCertDer);
  const spki = readNode(basics.spkiDer, 0);
  const keyBits = content(basics.spkiDer, expectTag(children(basics.spkiDer, spki)[1], 0x03, 'key')).subarray(1);
  const certId = sequence(
    sequence(oid(OID.sha1), nullValue()),
    octetString(createHash('sha1').update(basics.subjectDer).digest()),
    octetString(createHash('sha1').update(keyBits).digest()),
    unsignedInteger(Buffer.from(serialHex, 'hex')),
  );
  return sequence(sequence(sequence(sequence(certId))));
}

/** openssl's index.txt line for one certificate (V or R). */
function indexLine(serialHex: string, notAfter: Date, revokedAt: Date | null, subject: string): string {
  const t = (d: Date): string => d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  return [revokedAt ? 'R' : 'V', t(notAfter), revokedAt ? `${t(revokedAt)},keyCompromise` : '', serialHex.toUpperCase(), 'unknown', subject].join('\t');
}

async function crlAtScale(entries: number): Promise<void> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const list = Array.from({ length: entries }, (_, i) => ({
    serialHex: createHash('sha256').update(String(i)).digest('hex').slice(0, 32).replace(/^0+/, '1'),
    revokedAt: new Date(Date.now() - i * 1000),
    reason: i % 3 === 0 ? ('keyCompromise' as const) : null,
    invalidityDate: i % 5 === 0 ? new Date(Date.now() - i * 2000) : null,
  }));
  const t0 = performance.now();
  const der = buildCrl(
    { issuerDer: sequence(), authorityKeyId: null, crlNumber: 1n, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + 86_400_000), entries: list },
    { key: privateKey, algorithm: 'ec-p256' },
  );
  const built = performance.now() - t0;
  const t1 = performance.now();
  const parsed = parseCrl(der);
  const parsedMs = performance.now() - t1;
  emit({ scenario: 'crl', entries, bytes: der.length, build_ms: round(built, 1), parse_ms: round(parsedMs, 1), read_back: parsed.entries.length, target_build_ms: 5000 });
}

export async function benchOcsp(args: string[]): Promise<void> {
  const certCount = argValue(args, 'certs', 2000);
  const count = argValue(args, 'count', 20_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'certgate-bench-ocsp-'));
  const port = await freePort();
  const env = { ...process.env, CERTGATE_DATA_DIR: dataDir, CERTGATE_HTTP_PORT: String(port), CERTGATE_HTTPS_PORT: '0', CERTGATE_LOG_LEVEL: 'warn', REDIS_URL: '', DATABASE_URL: '' };

  // Issue the certificates through the real path, revoke a tenth of them.
  const config = loadConfig({ env: { CERTGATE_DATA_DIR: dataDir, CERTGATE_LOG_LEVEL: 'warn' } });
  const rt = await openRuntime(config);
  const init = await initialize(rt);
  await rt.startWorker();
  const issuing = init.issuing!;
  const certs: { serialHex: string; notAfter: Date; revokedAt: Date | null }[] = [];
  for (const csrPem of makeP256Csrs(certCount)) {
    const { request } = await rt.enrollments.submit({ caId: issuing.id, csrPem, requester: 'bench', protocol: 'cli', authorize: () => undefined });
    const done = await rt.enrollments.waitForOutcome(request, 60_000);
    const cert = await rt.store.certificates.get(done.certificateId as string);
    let revokedAt: Date | null = null;
    if (certs.length % 10 === 0) revokedAt = (await rt.revocations.revoke(cert!.id, { reason: 'keyCompromise' }, () => undefined)).revokedAt;
    certs.push({ serialHex: cert!.serialNumber, notAfter: cert!.validTo, revokedAt });
  }
  const issuingDer = fromPem(issuing.certificatePem, ['CERTIFICATE']);
  const caKey = decryptPrivateKey(issuing.encryptedKey, caSecretFor(issuing, rt.secrets));
  await rt.close();

  const bodies = Array.from({ length: count }, () => ocspRequest(issuingDer, (certs[Math.floor(Math.random() * certs.length)] as { serialHex: string }).serialHex));
  const headers = { 'content-type': 'application/ocsp-request' };

  const server = spawn(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'src/cli.ts'), 'serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  let openssl: ChildProcess | undefined;
  try {
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, server);
    // Same warm-up for both servers (JIT, caches), then the measured run.
    const warmup = bodies.slice(0, Math.min(2000, bodies.length));
    await load(`http://127.0.0.1:${port}/ocsp`, warmup, headers);
    const ourCpu0 = cpuSeconds(server.pid as number);
    const ours = await load(`http://127.0.0.1:${port}/ocsp`, bodies, headers);
    const ourCpu = cpuSeconds(server.pid as number) - ourCpu0;

    // openssl's responder on the same CA, with the CA key as its signer, forking one process per
    // core (-multi 2). A single openssl process, which answers one connection at a time and
    // closes it, stalls under 32 concurrent connections.
    // (-port takes only a number, so it listens on every interface; the load stays on loopback.)
    const dir = mkdtempSync(join(tmpdir(), 'openssl-ocsp-'));
    writeFileSync(join(dir, 'ca.pem'), issuing.certificatePem);
    writeFileSync(join(dir, 'ca.key'), caKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    writeFileSync(join(dir, 'index.txt'), certs.map((c, i) => indexLine(c.serialHex, c.notAfter, c.revokedAt, `/CN=host${i}.bench.test`)).join('\n') + '\n');
    const oport = await freePort();
    openssl = spawn('openssl', ['ocsp', '-index', join(dir, 'index.txt'), '-port', String(oport), '-rsigner', join(dir, 'ca.pem'), '-rkey', join(dir, 'ca.key'), '-CA', join(dir, 'ca.pem'), '-nmin', '60', '-multi', '2'], { stdio: 'ignore' });
    // Any non-OCSP request (a health probe) makes openssl's responder exit, so only knock.
    await waitForPort(oport, openssl);
    await load(`http://127.0.0.1:${oport}/`, warmup, headers);
    const theirCpu0 = cpuSeconds(openssl.pid as number);
    const theirs = await load(`http://127.0.0.1:${oport}/`, bodies, headers);
    const theirCpu = cpuSeconds(openssl.pid as number) - theirCpu0;

    // Both must have answered for real: check one answer from each with openssl.
    const sample = bodies[0] as Buffer;
    for (const url of [`http://127.0.0.1:${port}/ocsp`, `http://127.0.0.1:${oport}/`]) {
      const res = await fetch(url, { method: 'POST', headers, body: sample });
      writeFileSync(join(dir, 'sample.resp'), Buffer.from(await res.arrayBuffer()));
      const text = execFileSync('openssl', ['ocsp', '-respin', join(dir, 'sample.resp'), '-resp_text', '-noverify'], { encoding: 'utf8' });
      if (!/Cert Status: (good|revoked)/.test(text)) throw new Error(`no certificate status from ${url}`);
    }

    // One autocannon process on this 2-core machine tops out near 5,000 requests/s, so when both
    // servers keep up, throughput says little; answers per CPU-second of the server is its
    // capacity, and latency under the same load shows who queues.
    const perCpu = (n: number, cpu: number): number => round(n / Math.max(cpu, 0.01), 0);
    emit({ scenario: 'ocsp', server: 'certgate', certs: certCount, count, responses_per_s: round(ours.rate, 1), responses_per_cpu_s: perCpu(count, ourCpu), p50_ms: ours.p50, p99_ms: ours.p99, non2xx: ours.non2xx, errors: ours.errors });
    emit({ scenario: 'ocsp', server: 'openssl ocsp -multi 2', certs: certCount, count, responses_per_s: round(theirs.rate, 1), responses_per_cpu_s: perCpu(count, theirCpu), p50_ms: theirs.p50, p99_ms: theirs.p99, non2xx: theirs.non2xx, errors: theirs.errors });
    emit({
      scenario: 'ocsp',
      comparison: 'certgate / openssl ocsp',
      throughput_ratio: round(ours.rate / theirs.rate, 2),
      capacity_ratio: round(perCpu(count, ourCpu) / perCpu(count, theirCpu), 2),
      p50_latency_ratio: round(theirs.p50 / Math.max(ours.p50, 0.1), 1),
      target: 5,
    });
  } finally {
    server.kill('SIGTERM');
    // -multi forks children that outlive a signal to the parent alone (and spin): end them all.
    if (openssl?.pid) killTree(openssl.pid);
  }
  await crlAtScale(100_000);
}
