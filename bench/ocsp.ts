// npm run bench -- ocsp [--certs N] [--seconds N] [--rounds N] [--connections N] [--ca ec-p256,rsa-2048 | ''] [--autocannon]
// OCSP answers per second for random known serials from certgate's responder, and from
// `openssl ocsp -index … -port` serving the same CA under the same load, for a P-256 and an
// RSA-2048 issuing CA; and the responder's own answer rate while certificates are being revoked,
// against the same with none. (CRL build times: `npm run bench -- codecs`.)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caSecretFor, sealedKeyOf } from '../src/ca/createCa.js';
import { decryptPrivateKey } from '../src/ca/keyProtection.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { loadConfig } from '../src/config.js';
import type { CaRecord, CertificateRecord, KeyAlgorithm } from '../src/core/types.js';
import { initialize } from '../src/init.js';
import { readCertificateBasics } from '../src/pki/certInfo.js';
import { publicKeyBits } from '../src/pki/certificate.js';
import { nullValue, octetString, oid, sequence, unsignedInteger } from '../src/pki/der.js';
import { OID } from '../src/pki/oids.js';
import { fromPem } from '../src/pki/pem.js';
import { createOcspResponder } from '../protocols/status/index.js';
import { openRuntime } from '../src/runtime.js';
import { argValue, cpuSeconds, emit, freePort, killTree, load, makeP256Csrs, round, waitForPort, type Line } from './lib.js';
import { hasWrk, wrkLoad, type WrkResult } from './wrk.js';

const root = join(import.meta.dirname, '..');

/** A minimal OCSPRequest (SHA-1 CertID, no nonce), what most relying parties send. */
function ocspRequest(issuerCertDer: Buffer, serialHex: string): Buffer {
  const basics = readCertificateBasics(issuerCertDer);
  const keyBits = publicKeyBits(basics.spkiDer);
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

interface Prepared {
  dataDir: string;
  certCount: number;
  /** The ids of the certificates left unrevoked. */
  liveIds: string[];
  caPem: string;
  caKeyPem: string;
  indexTxt: string;
  bodies: Buffer[];
}

/** Issues the certificates through the real path under a fresh CA, revoking a tenth of them. */
async function prepare(keyAlgorithm: KeyAlgorithm, certCount: number): Promise<Prepared> {
  const dataDir = mkdtempSync(join(tmpdir(), 'certgate-bench-ocsp-'));
  const rt = await openRuntime(loadConfig({ env: { CERTGATE_DATA_DIR: dataDir, CERTGATE_LOG_LEVEL: 'warn' } }));
  const issuing = (await initialize(rt, { keyAlgorithm })).issuing as CaRecord;
  await rt.startWorker();
  const certs: { serialHex: string; notAfter: Date; revokedAt: Date | null }[] = [];
  const liveIds: string[] = [];
  for (const csrPem of makeP256Csrs(certCount)) {
    const { request } = await rt.enrollments.submit({ principal: 'bench', protocol: 'cli', product: { caId: issuing.id } }, csrPem);
    const done = await rt.enrollments.waitForOutcome(request, 60_000);
    const cert = (done.state === 'issued' ? done.certificate : undefined) as CertificateRecord;
    const revokedAt = certs.length % 10 === 0 ? (await rt.revocations.revoke(cert.id, { reason: 'keyCompromise' }, CLI_CONTEXT, () => undefined)).revokedAt : null;
    certs.push({ serialHex: cert.serialNumber, notAfter: cert.validTo, revokedAt });
    if (!revokedAt) liveIds.push(cert.id);
  }
  const caKey = decryptPrivateKey(sealedKeyOf(issuing), caSecretFor(issuing, rt.secrets));
  await rt.close();
  const issuingDer = fromPem(issuing.certificatePem, ['CERTIFICATE']);
  return {
    dataDir,
    certCount,
    liveIds,
    caPem: issuing.certificatePem,
    caKeyPem: caKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    indexTxt: certs.map((c, i) => indexLine(c.serialHex, c.notAfter, c.revokedAt, `/CN=host${i}.bench.test`)).join('\n') + '\n',
    bodies: Array.from({ length: 20_000 }, () => ocspRequest(issuingDer, (certs[Math.floor(Math.random() * certs.length)] as { serialHex: string }).serialHex)),
  };
}

interface LoadOptions {
  wrk: boolean;
  seconds: number;
  connections: number;
}

const HEADERS = { 'content-type': 'application/ocsp-request' };

function measureLoad(url: string, bodies: Buffer[], opts: LoadOptions, seconds = opts.seconds): Promise<WrkResult> {
  return opts.wrk ? wrkLoad(url, bodies, HEADERS, { seconds, connections: opts.connections }) : load(url, bodies.slice(0, Math.round(bodies.length * (seconds / opts.seconds))), HEADERS);
}

/**
 * Polls with a real OCSP request until the server answers one with a certificate status (checked
 * by openssl), so both servers are known to answer for real before the load. A probe that
 * connects and sends nothing would do: openssl 3.0's responder spins forever on such a connection.
 */
async function firstAnswer(url: string, body: Buffer, child: ChildProcess, dir: string): Promise<void> {
  const end = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${url}: server exited with ${child.exitCode}`);
    const res = await fetch(url, { method: 'POST', headers: HEADERS, body, signal: AbortSignal.timeout(5000) }).catch(() => null);
    if (res) {
      writeFileSync(join(dir, 'sample.resp'), Buffer.from(await res.arrayBuffer()));
      const text = execFileSync('openssl', ['ocsp', '-respin', join(dir, 'sample.resp'), '-resp_text', '-noverify'], { encoding: 'utf8' });
      if (!/Cert Status: (good|revoked)/.test(text)) throw new Error(`no certificate status from ${url}`);
      return;
    }
    if (Date.now() > end) throw new Error(`${url} did not come up`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A load's results, with the CPU seconds the server (and its children) used during it. */
type ServerRun = WrkResult & { cpu: number };

async function measureServer(url: string, pid: number, p: Prepared, opts: LoadOptions, warmupSeconds: number): Promise<ServerRun> {
  if (warmupSeconds > 0) await measureLoad(url, p.bodies, opts, warmupSeconds);
  const cpu0 = cpuSeconds(pid);
  const r = await measureLoad(url, p.bodies, opts);
  return { ...r, cpu: cpuSeconds(pid) - cpu0 };
}

/** `certgate serve` on the prepared data dir; with processes > 1, a cluster sharing the port through Redis. */
async function runCertgate(p: Prepared, opts: LoadOptions, processes = 1): Promise<ServerRun> {
  const port = await freePort();
  const env = {
    ...process.env,
    CERTGATE_DATA_DIR: p.dataDir,
    CERTGATE_HTTP_PORT: String(port),
    CERTGATE_HTTPS_PORT: '0',
    CERTGATE_LOG_LEVEL: 'warn',
    CERTGATE_HTTP_PROCESSES: String(processes),
    REDIS_URL: processes > 1 ? (process.env.REDIS_URL ?? '') : '',
    DATABASE_URL: '',
  };
  const server = spawn(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'main.ts'), 'serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    const url = `http://127.0.0.1:${port}/ocsp`;
    await firstAnswer(url, p.bodies[0] as Buffer, server, p.dataDir);
    // JIT and answer caches warm up first, as a long-running responder's would be.
    return await measureServer(url, server.pid as number, p, opts, 3);
  } finally {
    killTree(server.pid as number);
  }
}

/**
 * openssl's responder on the same CA and index, signing with the CA key, forking one process per
 * core (-multi 2); each process answers one connection at a time. It needs no warm-up, and is
 * started fresh for the run: the connections a load generator drops at its end leave openssl's
 * processes spinning (the empty-connection bug above).
 */
async function runOpenssl(p: Prepared, opts: LoadOptions): Promise<ServerRun> {
  const dir = mkdtempSync(join(tmpdir(), 'openssl-ocsp-'));
  writeFileSync(join(dir, 'ca.pem'), p.caPem);
  writeFileSync(join(dir, 'ca.key'), p.caKeyPem);
  writeFileSync(join(dir, 'index.txt'), p.indexTxt);
  const port = await freePort();
  // -port takes only a number, so it listens on every interface; the load stays on loopback.
  const openssl = spawn('openssl', ['ocsp', '-index', join(dir, 'index.txt'), '-port', String(port), '-rsigner', join(dir, 'ca.pem'), '-rkey', join(dir, 'ca.key'), '-CA', join(dir, 'ca.pem'), '-nmin', '60', '-multi', '2'], { stdio: 'ignore' });
  try {
    const url = `http://127.0.0.1:${port}/`;
    await firstAnswer(url, p.bodies[0] as Buffer, openssl, dir);
    return await measureServer(url, openssl.pid as number, p, opts, 0);
  } finally {
    // -multi forks children that outlive a signal to the parent alone (and spin): end them all.
    killTree(openssl.pid as number);
  }
}

/**
 * A reference: bare node:http answering every request with the same fixed bytes (an OCSP response
 * of the usual size), under the same load. No responder built on node:http could do better.
 */
async function runNodeHttp(p: Prepared, opts: LoadOptions): Promise<ServerRun> {
  const port = await freePort();
  const script = `
    const answer = Buffer.alloc(900, 0x30);
    require('node:http').createServer((req, res) => {
      req.on('data', () => {});
      req.on('end', () => { res.writeHead(200, { 'content-type': 'application/ocsp-response', 'content-length': answer.length }); res.end(answer); });
    }).listen(${port}, '127.0.0.1');`;
  const server = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  try {
    await waitForPort(port, server);
    return await measureServer(`http://127.0.0.1:${port}/ocsp`, server.pid as number, p, opts, 3);
  } finally {
    server.kill();
  }
}

/**
 * The responder in process, answering the prepared requests round-robin for `seconds` (every
 * answer already cached once) while `perSecond` live certificates are revoked each second. A
 * revocation should cost the signature for that one certificate, not the CA's whole cache.
 */
async function answersWhileRevoking(p: Prepared, perSecond: number, seconds: number): Promise<{ rate: number; revoked: number }> {
  const rt = await openRuntime(loadConfig({ env: { CERTGATE_DATA_DIR: p.dataDir, CERTGATE_LOG_LEVEL: 'warn' } }));
  // As the status protocol builds it, hearing of this process's revocations.
  const ocsp = createOcspResponder(rt.core);
  try {
    for (const body of p.bodies) await ocsp.respond(body);
    const toRevoke = p.liveIds.splice(0, Math.ceil(perSecond * seconds));
    const revocations: Promise<unknown>[] = [];
    const revoker =
      perSecond > 0
        ? setInterval(() => {
            const id = toRevoke[revocations.length];
            if (id) revocations.push(rt.revocations.revoke(id, { reason: 'superseded' }, CLI_CONTEXT, () => undefined));
          }, 1000 / perSecond)
        : undefined;
    let answered = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    while (performance.now() < end) {
      for (let k = 0; k < 200; k++) await ocsp.respond(p.bodies[answered++ % p.bodies.length] as Buffer);
      // Let the revocation timer in between.
      await new Promise((r) => setImmediate(r));
    }
    const rate = answered / ((performance.now() - start) / 1000);
    clearInterval(revoker);
    await Promise.all(revocations);
    return { rate, revoked: revocations.length };
  } finally {
    await rt.close();
  }
}

export async function benchOcsp(args: string[]): Promise<void> {
  const certCount = argValue(args, 'certs', 1000);
  const i = args.indexOf('--ca');
  // `--ca ''` skips the load against the HTTP servers.
  const algorithms = (i >= 0 ? (args[i + 1] ?? '') : 'ec-p256,rsa-2048').split(',').filter(Boolean) as KeyAlgorithm[];
  const opts: LoadOptions = {
    wrk: !args.includes('--autocannon') && (await hasWrk()),
    seconds: argValue(args, 'seconds', 5),
    connections: argValue(args, 'connections', 32),
  };
  // The machine is shared and noisy: each server runs `rounds` times, interleaved with the others,
  // and the run with the median throughput stands for it.
  const median = (runs: ServerRun[]): ServerRun => [...runs].sort((a, b) => a.rate - b.rate)[Math.floor(runs.length / 2)] as ServerRun;
  const perCpu = (r: ServerRun): number => round(r.requests / Math.max(r.cpu, 0.01), 0);
  const line = (server: string, ca: KeyAlgorithm, runs: ServerRun[]): Line => {
    const r = median(runs);
    return {
      scenario: 'ocsp', server, ca, load: opts.wrk ? 'wrk' : 'autocannon', connections: opts.connections, certs: certCount, requests: r.requests,
      responses_per_s: round(r.rate, 0), responses_per_cpu_s: perCpu(r), p50_ms: round(r.p50, 2), p99_ms: round(r.p99, 2), non2xx: r.non2xx, errors: r.errors,
      each_round_per_s: runs.map((x) => round(x.rate, 0)),
    };
  };
  const compare = (ca: KeyAlgorithm, ours: ServerRun, theirs: ServerRun, comparison: string): void =>
    emit({
      scenario: 'ocsp',
      ca,
      comparison,
      throughput_ratio: round(ours.rate / theirs.rate, 2),
      per_cpu_ratio: round(perCpu(ours) / perCpu(theirs), 2),
      p50_latency_ratio: round(theirs.p50 / Math.max(ours.p50, 0.01), 1),
      target: 5,
    });
  // Two processes a side, as openssl runs here; the cluster needs Redis (run.ts starts one).
  const clustered = !!process.env.REDIS_URL;
  const rounds = argValue(args, 'rounds', 3);
  for (const ca of algorithms) {
    const prepared = await prepare(ca, certCount);
    const runs: Record<'ours' | 'ours2' | 'theirs' | 'nodeHttp', ServerRun[]> = { ours: [], ours2: [], theirs: [], nodeHttp: [] };
    for (let r = 0; r < rounds; r++) {
      runs.ours.push(await runCertgate(prepared, opts));
      if (clustered) runs.ours2.push(await runCertgate(prepared, opts, 2));
      runs.theirs.push(await runOpenssl(prepared, opts));
      if (ca === algorithms[0]) runs.nodeHttp.push(await runNodeHttp(prepared, opts));
    }
    const [ours, theirs] = [median(runs.ours), median(runs.theirs)];
    if (runs.nodeHttp.length) {
      emit({ ...line('bare node:http, fixed answer (the best any responder on node:http could do)', ca, runs.nodeHttp), ratio_to_openssl: round(median(runs.nodeHttp).rate / theirs.rate, 2) });
    }
    emit(line('certgate', ca, runs.ours));
    emit(line('openssl ocsp -multi 2', ca, runs.theirs));
    compare(ca, ours, theirs, 'certgate / openssl ocsp -multi 2');
    if (runs.ours2.length) {
      emit(line('certgate --processes 2', ca, runs.ours2));
      compare(ca, median(runs.ours2), theirs, 'certgate --processes 2 / openssl ocsp -multi 2');
    }
  }
  const churn = await prepare('ec-p256', certCount);
  const quiet = await answersWhileRevoking(churn, 0, opts.seconds);
  const busy = await answersWhileRevoking(churn, 20, opts.seconds);
  emit({
    scenario: 'ocsp-revoking',
    ca: 'ec-p256',
    certs: certCount,
    revocations_per_s: round(busy.revoked / opts.seconds, 1),
    answers_per_s: round(busy.rate, 0),
    answers_per_s_without_revocations: round(quiet.rate, 0),
    ratio: round(busy.rate / quiet.rate, 2),
  });
}
