// npm run bench -- scep --messages [--count N] [--concurrency C] [--rounds R]
// PKCSReq enrollments per second over HTTP POST against certgate (`start`, its own process, the
// embedded deployment), from pkiMessages built before the clock starts: RSA-2048 requesters (a
// pool of keys, each message with its own self-signed certificate, transactionID and CSR), AES-256
// content encryption, SHA-256, a static challenge. Each enrollment costs the server one RSA-2048
// private-key operation to unwrap the content key and one to sign the CertRep, plus the issuance
// (an ECDSA P-256 signature by the default issuing CA, the request and certificate stored).
// Baseline, measured in the same run with the server idle: raw native RSA-2048 private-key
// operations per second on one thread (node:crypto sign); the target is 40% of that rate / 2.
// A first line (`cms-only`) gives what the CMS work of one enrollment costs on one thread, RSA
// included, measured in this process: the ceiling of one CMS thread.
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { initialize } from '../src/init.js';
import { fromPem } from '../src/pki/pem.js';
import { openRuntime } from '../src/runtime.js';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { PROTOCOLS } from '../protocols/index.js';
import { AES_256_CBC, MESSAGE_TYPE } from '../protocols/scep/algorithms.js';
import { inlineCms } from '../protocols/scep/cmsPool.js';
import { reusePkijsSchemas } from '../protocols/scep/pkijsSchemas.js';
import { buildRequest, getCaCert, pkiOperation, readReply, rsaKey, selfSigned, type RaInfo } from '../test/helpers/scepClient.js';
import { NO_RATE_LIMITS } from './deployment.js';
import { argValue, emit, freePort, load, round, stopChild, waitForPort } from './lib.js';

const root = join(import.meta.dirname, '..');
const MASTER_KEY = 'bench-master-key-scep-0123456789';
const TARGET_RATIO = 0.4;

/** Raw RSA-2048 private-key operations per second on this thread (PKCS#1 v1.5 signatures). */
function rawRsaRate(seconds = 3): number {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const data = randomBytes(400);
  for (let i = 0; i < 50; i++) sign('sha256', data, privateKey);
  let n = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 20; i++) sign('sha256', data, privateKey);
    n += 20;
  }
  return n / ((performance.now() - started) / 1000);
}

/**
 * What the CMS work of one enrollment costs on one thread, apart from the RSA operations: reading
 * and opening the pkiMessage (pkijs SignedData and EnvelopedData, one RSA decryption) and building
 * the CertRep (certs-only SignedData, EnvelopedData, signed attributes, one RSA signature).
 */
async function cmsCosts(ra: RaInfo & { key: KeyObject }, message: Buffer, rounds = 300): Promise<{ read_ms: number; reply_ms: number }> {
  // As the CMS threads run it.
  reusePkijsSchemas();
  const cms = inlineCms();
  const material = [{ id: 'ra', der: ra.der, key: ra.key }];
  const read = async () => {
    const r = await cms.read({ der: message, now: Date.now(), maxClockSkewMs: 86_400_000 }, material);
    if (r.kind !== 'verified' || !r.opened) throw new Error('the sample message did not open');
    return r;
  };
  const sample = await read();
  const reply = () =>
    cms.reply({
      signer: { der: ra.der, issuerDer: ra.issuerDer, serial: ra.serial, key: ra.key },
      digest: 'sha256',
      transactionId: sample.message.transactionId,
      recipientNonce: sample.message.senderNonce,
      status: 'SUCCESS',
      success: { certificates: [ra.der], crls: [], recipient: sample.message.signer, cipherOid: (sample.opened as { cipherOid: string }).cipherOid },
    });
  // CPU time of this process (the RSA signature runs on libuv's pool, counted too): on a shared
  // machine, wall time measures the neighbours.
  const cpuMs = async (f: () => Promise<unknown>): Promise<number> => {
    const start = process.cpuUsage();
    for (let i = 0; i < rounds; i++) await f();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000 / rounds;
  };
  await cpuMs(read);
  await cpuMs(reply);
  return { read_ms: round(await cpuMs(read), 3), reply_ms: round(await cpuMs(reply), 3) };
}

/** A data directory with CAs, the default product and a static SCEP challenge for it. */
async function prepare(dir: string): Promise<{ challenge: string; adminToken: string }> {
  const config = loadConfig({ env: {}, overrides: { dataDir: dir, masterKey: MASTER_KEY, logLevel: 'warn', httpPort: 0, httpsPort: 0 } });
  const rt = await openRuntime(config, { protocols: PROTOCOLS });
  try {
    const init = await initialize(rt);
    const product = init.product?.id as string;
    const { secret } = await rt.credentials.create({ type: 'scep', products: [product], name: 'bench' }, { actor: 'cli', protocol: 'cli', sourceIp: null });
    return { challenge: secret, adminToken: init.adminToken as string };
  } finally {
    await rt.close();
  }
}

/** `count` PKCSReq messages: keys from a pool, everything else fresh per message. */
async function buildMessages(ra: RaInfo, challenge: string, count: number, tag: string): Promise<Buffer[]> {
  const keys = Array.from({ length: Math.min(32, count) }, () => rsaKey());
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const key = keys[i % keys.length] as (typeof keys)[number];
    const cn = `h${i}-${tag}.bench.test`;
    const requester = selfSigned(key, `CN=${cn}`);
    const csr = fromPem(buildCsr(key, `CN=${cn}`, {}, { challengePassword: challenge }), ['CERTIFICATE REQUEST']);
    out.push(await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csr, transactionId: `bench-${tag}-${i}`, cipher: AES_256_CBC, digest: 'sha256' }));
  }
  return out;
}

/** How many certificates the server has issued (REST). */
async function issuedCount(base: string, adminToken: string): Promise<number> {
  const res = await fetch(`${base}/v1/certificates?pageSize=1`, { headers: { authorization: `Bearer ${adminToken}` } });
  return ((await res.json()) as { total: number }).total;
}

export async function benchScepMessages(args: string[]): Promise<void> {
  const count = argValue(args, 'count', 2000);
  const concurrency = argValue(args, 'concurrency', 32);
  const rounds = argValue(args, 'rounds', 1);
  const dir = mkdtempSync(join(tmpdir(), 'certgate-bench-scep-'));
  const { challenge, adminToken } = await prepare(dir);
  const httpPort = await freePort();
  const child = spawn(process.execPath, [...(process.env.CERTGATE_BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CERTGATE_BENCH_PROF}`] : []), '--import', 'tsx', join(root, 'main.ts'), 'start'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, CERTGATE_DATA_DIR: dir, CERTGATE_MASTER_KEY: MASTER_KEY, CERTGATE_HTTP_PORT: String(httpPort), CERTGATE_HTTPS_PORT: '0', CERTGATE_LOG_LEVEL: 'warn', DATABASE_URL: '', REDIS_URL: '', ...NO_RATE_LIMITS, CERTGATE_SCEP_ISSUE_PER_PRODUCT_PER_MINUTE: '0' },
  });
  try {
    await waitForPort(httpPort, child, 60_000);
    const base = `http://127.0.0.1:${httpPort}`;
    const url = `${base}/scep`;
    const ra = await getCaCert(url);

    // A few enrollments, read back, before anything is timed: the server answers what we think.
    const warm = await buildMessages(ra, challenge, 40, 'warm');
    const probe = selfSigned(rsaKey(), 'CN=probe.bench.test');
    const probeCsr = fromPem(buildCsr(probe.key, 'CN=probe.bench.test', {}, { challengePassword: challenge }), ['CERTIFICATE REQUEST']);
    const probeReply = readReply((await pkiOperation(url, await buildRequest({ requester: probe, ra, messageType: MESSAGE_TYPE.PKCSReq, content: probeCsr, transactionId: 'bench-probe' }))).body, probe);
    if (probeReply.status !== 'SUCCESS') throw new Error(`the probe enrollment answered ${probeReply.status} ${probeReply.failInfo ?? ''}`);
    await load(`${url}?operation=PKIOperation`, warm, { 'content-type': 'application/x-pki-message' });

    // The CMS work alone, in this process with the server idle: what one thread can do at most.
    const standIn = selfSigned(rsaKey(), 'CN=bench RA');
    const sampleRequester = selfSigned(rsaKey(), 'CN=cms.bench.test');
    const sampleCsr = fromPem(buildCsr(sampleRequester.key, 'CN=cms.bench.test', {}, { challengePassword: challenge }), ['CERTIFICATE REQUEST']);
    const sample = await buildRequest({ requester: sampleRequester, ra: standIn, messageType: MESSAGE_TYPE.PKCSReq, content: sampleCsr, transactionId: 'bench-cms', cipher: AES_256_CBC });
    const costs = await cmsCosts({ ...standIn, chain: [] }, sample);
    const rsaMs = 1000 / rawRsaRate(1);
    emit({
      scenario: 'scep',
      operation: 'cms-only',
      ...costs,
      rsa2048_private_op_ms: round(rsaMs, 3),
      pkijs_ms_per_enrollment: round(costs.read_ms + costs.reply_ms - 2 * rsaMs, 3),
      ceiling_per_thread_per_s: round(1000 / (costs.read_ms + costs.reply_ms), 1),
    });

    for (let r = 0; r < rounds; r++) {
      const raw = rawRsaRate();
      const messages = await buildMessages(ra, challenge, count, `r${r}`);
      const before = await issuedCount(base, adminToken);
      const result = await load(`${url}?operation=PKIOperation`, messages, { 'content-type': 'application/x-pki-message' }, concurrency);
      const issued = (await issuedCount(base, adminToken)) - before;
      const rawAfter = rawRsaRate();
      const rawRate = (raw + rawAfter) / 2;
      const baseline = rawRate / 2;
      emit({
        scenario: 'scep',
        operation: 'PKCSReq',
        round: r + 1,
        count,
        concurrency,
        requester_key: 'rsa-2048',
        cipher: AES_256_CBC.name,
        enrollments_per_s: round(result.rate, 1),
        p50_ms: result.p50,
        p99_ms: result.p99,
        issued,
        non2xx: result.non2xx,
        errors: result.errors,
        raw_rsa2048_private_ops_per_s: round(rawRate, 1),
        baseline_per_s: round(baseline, 1),
        ratio: round(result.rate / baseline, 3),
        target_ratio: TARGET_RATIO,
        meets_target: result.rate >= TARGET_RATIO * baseline && issued === count,
      });
    }
  } finally {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  }
}
