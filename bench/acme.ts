// npm run bench -- acme [--orders N] [--concurrency C] [--rounds R]
// N orders with real http-01 validation, C at a time, driven by acme-client, each order a fresh
// name, against certgate (`start`, a separate process) and Pebble (Debian package `pebble`,
// PEBBLE_VA_NOSLEEP=1, PEBBLE_WFE_NONCEREJECT=0), both over HTTPS, both resolving through the same
// stub DNS server and validating against the same http-01 responder. Rounds alternate between the
// two; the median round is reported, with the ratio certgate / Pebble.
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent } from 'node:https';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as acme from 'acme-client';
import { startHttp01Responder, type Http01Responder } from '../test/helpers/acmeResponders.js';
import { startDnsServer } from '../test/helpers/dnsServer.js';
import { openssl } from '../test/helpers/openssl.js';
import { argValue, emit, freePort, percentile, round, waitForPort } from './lib.js';

const root = join(import.meta.dirname, '..');

interface Target {
  name: string;
  directoryUrl: string;
  stop(): Promise<void>;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function startCertgate(dnsAddress: string, http01Port: number): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'certgate-bench-acme-'));
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const child = spawn(process.execPath, [...(process.env.CERTGATE_BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CERTGATE_BENCH_PROF}`] : []), '--import', 'tsx', join(root, 'main.ts'), 'start'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      CERTGATE_DATA_DIR: dir,
      CERTGATE_HTTP_PORT: String(httpPort),
      CERTGATE_HTTPS_PORT: String(httpsPort),
      CERTGATE_LOG_LEVEL: 'warn',
      CERTGATE_DNS_SERVER: dnsAddress,
      CERTGATE_HTTP01_PORT: String(http01Port),
      DATABASE_URL: '',
      REDIS_URL: '',
    },
  });
  await waitForPort(httpsPort, child, 60_000);
  return { name: 'certgate', directoryUrl: `https://localhost:${httpsPort}/acme/directory`, stop: () => stopChild(child) };
}

async function startPebble(dnsAddress: string, http01Port: number): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'pebble-bench-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost']);
  const port = await freePort();
  writeFileSync(
    join(dir, 'pebble.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${await freePort()}`,
        certificate: join(dir, 'cert.pem'),
        privateKey: join(dir, 'key.pem'),
        httpPort: http01Port,
        tlsPort: await freePort(),
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  const child = spawn('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', dnsAddress], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
  });
  await waitForPort(port, child, 30_000);
  return { name: 'pebble', directoryUrl: `https://localhost:${port}/dir`, stop: () => stopChild(child) };
}

async function runOrders(target: Target, csrs: { name: string; csr: Buffer }[], concurrency: number, http01: Http01Responder) {
  // The client polls with backoff; its default (5 s at first) would measure the client, not the
  // server. Both servers get the same short one.
  const client = new acme.Client({ directoryUrl: target.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey('P-256'), backoffMin: 20, backoffMax: 500, backoffAttempts: 40 });
  await client.createAccount({ termsOfServiceAgreed: true });
  const latencies: number[] = [];
  let failures = 0;
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < csrs.length) {
      const { csr } = csrs[next++] as { name: string; csr: Buffer };
      const t0 = performance.now();
      try {
        await client.auto({
          csr,
          termsOfServiceAgreed: true,
          challengePriority: ['http-01'],
          skipChallengeVerification: true,
          challengeCreateFn: async (_a, challenge, keyAuthorization) => http01.set(challenge.token, keyAuthorization),
          challengeRemoveFn: async (_a, challenge) => http01.unset(challenge.token),
        });
        latencies.push(performance.now() - t0);
      } catch (e) {
        failures++;
        if (failures <= 3) console.error(`${target.name}: order failed: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { orders_per_s: round(latencies.length / seconds), p50_ms: round(percentile(latencies, 50), 1), p99_ms: round(percentile(latencies, 99), 1), failures };
}

export async function benchAcme(args: string[]): Promise<void> {
  const orders = argValue(args, 'orders', 200);
  const concurrency = argValue(args, 'concurrency', 16);
  const rounds = argValue(args, 'rounds', 3);
  // Self-signed HTTPS on both sides: this measures throughput, not trust.
  acme.axios.defaults.httpsAgent = new Agent({ rejectUnauthorized: false, keepAlive: true });
  const dns = await startDnsServer();
  const http01 = await startHttp01Responder();
  const targets = [await startCertgate(dns.address, http01.port), await startPebble(dns.address, http01.port)];
  const results = new Map<string, { orders_per_s: number; p50_ms: number; p99_ms: number; failures: number }[]>();
  try {
    let serial = 0;
    for (let r = 0; r < rounds; r++) {
      for (const target of targets) {
        const csrs: { name: string; csr: Buffer }[] = [];
        for (let i = 0; i < orders; i++) {
          const name = `o${serial++}.bench.test`;
          const [, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
          csrs.push({ name, csr });
        }
        const result = await runOrders(target, csrs, concurrency, http01);
        emit({ scenario: 'acme', round: r + 1, server: target.name, orders, concurrency, ...result });
        results.set(target.name, [...(results.get(target.name) ?? []), result]);
      }
    }
  } finally {
    for (const t of targets) await t.stop();
    await http01.stop();
    await dns.stop();
  }
  const median = (name: string) => {
    const list = [...(results.get(name) ?? [])].sort((a, b) => a.orders_per_s - b.orders_per_s);
    return list[Math.floor(list.length / 2)] as { orders_per_s: number; p50_ms: number; p99_ms: number; failures: number };
  };
  const ours = median('certgate');
  const theirs = median('pebble');
  emit({ scenario: 'acme', server: 'certgate', summary: 'median round', orders, concurrency, ...ours });
  emit({ scenario: 'acme', server: 'pebble', summary: 'median round', orders, concurrency, ...theirs });
  emit({ scenario: 'acme', comparison: 'certgate / pebble', ratio: round(ours.orders_per_s / theirs.orders_per_s), target: 3, failures: [...results.values()].flat().reduce((n, r) => n + r.failures, 0) });
}
