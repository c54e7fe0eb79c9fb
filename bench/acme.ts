// npm run bench -- acme [--orders N] [--concurrency C] [--rounds R] [--warmup W] [--idle S]
//                       [--sides embedded,scaled,pebble,step-ca] [--api-processes P] [--workers K]
//
// ACME orders with real http-01 validation, each for a fresh name, driven by acme-client: C clients
// (default 8), each with its own account, take the N orders of a round (default 64) one after the
// other. Sides:
// - certgate embedded (`serve`: SQLite, in-process queue and worker) and certgate scaled out
//   (durable PostgreSQL, Redis, `serve --no-worker --processes P` (default 2) and K separate
//   workers (default 1)), both started by bench/deployment.ts;
// - Pebble (Debian package `pebble`, PEBBLE_VA_NOSLEEP=1, PEBBLE_WFE_NONCEREJECT=0);
// - step-ca 0.19 with its badger store (bench/peers/stepca-start.sh; built once from Debian's Go
//   sources). It fetches http-01 from port 80 only, so the one http-01 responder every side
//   validates against listens on 127.0.0.1:80 when step-ca runs; when port 80 cannot be bound,
//   step-ca is skipped with a note line.
// All sides are served over HTTPS and resolve names through the same stub DNS server (every name
// 127.0.0.1). Each side first runs W unmeasured orders (default 2×C), then sits idle S seconds
// (default 3; 0 skips) while its CPU per second is read. Rounds then alternate the sides
// (reversed every other round). Every order must have had its http-01 token fetched and end
// `valid` with a certificate for its name and its key, chained to the issuer sent with it;
// anything else counts as a failure.
// Per round and side: orders/s, requests per order (polls included), p50/p99 per order and the
// server's own CPU per order read from /proc (its processes and threads; scaled out also
// PostgreSQL and Redis, and both together); then each side's median of rounds, and certgate's CPU
// per order against step-ca's (target ≤ 1×) and Pebble's. Scaled out, the figure set beside the
// peers (whose stores are in-process) is certgate's and its stores' CPU together.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { Agent } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as acme from 'acme-client';
import { startHttp01Responder, type Http01Responder } from '../test/helpers/acmeResponders.js';
import { startDnsServer } from '../test/helpers/dnsServer.js';
import { openssl } from '../test/helpers/openssl.js';
import { cpuMeter, startDeployment, type CpuPerOp, type DeploymentKind } from './deployment.js';
import { argValue, cpuSeconds, emit, freePort, percentile, round, stopChild, waitForPort } from './lib.js';
import { argList, machine, median } from './rest.js';

const PEERS = join(import.meta.dirname, 'peers');
const SIDES = ['embedded', 'scaled', 'pebble', 'step-ca'] as const;
type SideName = (typeof SIDES)[number];
/** What certgate's CPU per order is held to, as a multiple of step-ca's (issue 22). */
const TARGET_VS_STEPCA = 1;

interface Side {
  name: string;
  directoryUrl: string;
  /** Starts counting the server's CPU; the function returned gives it per order since then. */
  meter(): (orders: number) => CpuPerOp;
  stop(): Promise<void>;
}

/** CPU per order of one process tree (a peer: one Go process with its store inside). */
function processMeter(pid: number): () => (orders: number) => CpuPerOp {
  return () => {
    const before = cpuSeconds(pid);
    return (orders) => ({ server_cpu_ms_per_op: round(((cpuSeconds(pid) - before) * 1000) / Math.max(1, orders), 3) });
  };
}

async function startCertgate(kind: DeploymentKind, dnsAddress: string, http01Port: number, args: string[]): Promise<Side> {
  const d = await startDeployment({
    kind,
    apiProcesses: argValue(args, 'api-processes', 2),
    workers: argValue(args, 'workers', 1),
    env: { CERTGATE_DNS_SERVER: dnsAddress, CERTGATE_HTTP01_PORT: String(http01Port) },
  });
  return { name: `certgate ${d.label}`, directoryUrl: `${d.https}/acme/directory`, meter: () => cpuMeter(d), stop: () => d.stop() };
}

async function startPebble(dnsAddress: string, http01Port: number): Promise<Side> {
  const dir = mkdtempSync(join(tmpdir(), 'pebble-bench-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
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
  const child: ChildProcess = spawn('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', dnsAddress], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
  });
  await waitForPort(port, child, 30_000);
  return {
    name: 'pebble',
    directoryUrl: `https://127.0.0.1:${port}/dir`,
    meter: processMeter(child.pid as number),
    stop: () => stopChild(child).then(() => rmSync(dir, { recursive: true, force: true })),
  };
}

/** step-ca validates http-01 on port 80 of the name's address, whatever the responder's port. */
async function startStepCa(dnsAddress: string): Promise<Side> {
  const out = execFileSync(join(PEERS, 'stepca-start.sh'), [String(await freePort()), dnsAddress], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const vars = new Map(out.split('\n').flatMap((l) => {
    const m = /^(\w+)=(.*)$/.exec(l);
    return m ? [[m[1] as string, m[2] as string] as const] : [];
  }));
  const pid = Number(vars.get('STEPCA_PID'));
  const dir = vars.get('STEPCA_DIR') ?? '';
  const directoryUrl = vars.get('STEPCA_ACME_DIR');
  if (!pid || !directoryUrl) throw new Error(`stepca-start.sh printed no STEPCA_PID/STEPCA_ACME_DIR: ${out}`);
  return {
    name: 'step-ca',
    directoryUrl,
    meter: processMeter(pid),
    stop: async () => void execFileSync(join(PEERS, 'stepca-stop.sh'), [String(pid), dir], { stdio: 'inherit' }),
  };
}

interface Order {
  name: string;
  key: Buffer;
  csr: Buffer;
}

async function makeOrders(n: number, prefix: string): Promise<Order[]> {
  const orders: Order[] = [];
  for (let i = 0; i < n; i++) {
    const name = `${prefix}-${i}.bench.test`;
    const key = await acme.crypto.createPrivateEcdsaKey('P-256');
    const [, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] }, key);
    orders.push({ name, key, csr });
  }
  return orders;
}

/** The chain must start with a certificate for the order's name and key, issued by the next one. */
function checkCertificate(chainPem: string, order: Order): void {
  const pems = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const [leafPem, issuerPem] = pems;
  if (!leafPem || !issuerPem) throw new Error(`${order.name}: expected a leaf and its issuer, got ${pems.length} certificate(s)`);
  const leaf = new X509Certificate(leafPem);
  const issuer = new X509Certificate(issuerPem);
  if (!(leaf.subjectAltName ?? '').split(', ').includes(`DNS:${order.name}`)) throw new Error(`${order.name}: the certificate names ${leaf.subjectAltName}`);
  if (!leaf.publicKey.equals(createPublicKey(order.key))) throw new Error(`${order.name}: the certificate is for another key`);
  if (!leaf.checkIssued(issuer) || !leaf.verify(issuer.publicKey)) throw new Error(`${order.name}: the certificate is not signed by the issuer sent with it`);
}

/** newOrder, the authorization, http-01, finalize, the certificate: the steps of `acme-client auto`, each checked. */
async function completeOrder(client: acme.Client, order: Order, http01: Http01Responder): Promise<void> {
  const placed = await client.createOrder({ identifiers: [{ type: 'dns', value: order.name }] });
  const [authz] = await client.getAuthorizations(placed);
  const challenge = authz?.challenges.find((c) => c.type === 'http-01');
  if (!challenge) throw new Error(`${order.name}: no http-01 challenge offered`);
  http01.set(challenge.token, await client.getChallengeKeyAuthorization(challenge));
  try {
    await client.completeChallenge(challenge);
    await client.waitForValidStatus(challenge);
    // A server that marked the challenge valid without fetching it would be measured doing less.
    if (!http01.requests.some((r) => r.path.endsWith(`/${challenge.token}`))) throw new Error(`${order.name}: the challenge turned valid, but nothing fetched its token`);
  } finally {
    http01.unset(challenge.token);
  }
  const finalized = await client.finalizeOrder(placed, order.csr);
  const done = finalized.status === 'valid' ? finalized : await client.waitForValidStatus(finalized);
  if (done.status !== 'valid') throw new Error(`${order.name}: the order ended ${done.status}`);
  checkCertificate(await client.getCertificate(done), order);
}

/** HTTP requests acme-client has sent so far (polls included): a server that answers `processing` longer is asked more often. */
let requestsSent = 0;

interface RoundResult {
  orders_per_s: number;
  requests_per_order: number;
  p50_ms: number;
  p99_ms: number;
  valid: number;
  failures: number;
  cpu: CpuPerOp;
}

async function runOrders(side: Side, clients: acme.Client[], orders: Order[], http01: Http01Responder): Promise<RoundResult> {
  const latencies: number[] = [];
  let failures = 0;
  let next = 0;
  const requests0 = requestsSent;
  const cpu = side.meter();
  const started = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      while (next < orders.length) {
        const order = orders[next++] as Order;
        const t0 = performance.now();
        try {
          await completeOrder(client, order, http01);
          latencies.push(performance.now() - t0);
        } catch (e) {
          if (++failures <= 3) console.error(`${side.name}: order failed: ${(e as Error).message}`);
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const perOrder = cpu(latencies.length);
  latencies.sort((a, b) => a - b);
  const requestsPerOrder = round((requestsSent - requests0) / Math.max(1, orders.length), 1);
  return { orders_per_s: round(latencies.length / seconds), requests_per_order: requestsPerOrder, p50_ms: round(percentile(latencies, 50), 1), p99_ms: round(percentile(latencies, 99), 1), valid: latencies.length, failures, cpu: perOrder };
}

/** The client polls with backoff; its default (5 s at first) would measure the client, not the server. Every side gets the same short one. */
async function newClient(side: Side): Promise<acme.Client> {
  const client = new acme.Client({ directoryUrl: side.directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey('P-256'), backoffMin: 20, backoffMax: 500, backoffAttempts: 40 });
  await client.createAccount({ termsOfServiceAgreed: true });
  return client;
}

/**
 * CPU per second of a side with no orders: timers, pollers, housekeeping. At a few orders a second
 * it is part of every per-order figure, and it explains a gap that no request's path does.
 */
async function idleCpu(side: Side, seconds: number): Promise<Record<string, number>> {
  const cpu = side.meter();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return Object.fromEntries(Object.entries(cpu(1)).map(([k, ms]) => [k.replace('_per_op', '_per_s'), round(ms / seconds, 1)]));
}

/** The CPU per order a side is compared by: scaled out, certgate's processes and its stores together. */
const comparable = (cpu: CpuPerOp): number => cpu.total_cpu_ms_per_op ?? cpu.server_cpu_ms_per_op;

function summarize(list: RoundResult[]): RoundResult {
  const cpuKeys = Object.keys(list[0]?.cpu ?? {}) as (keyof CpuPerOp)[];
  return {
    orders_per_s: median(list.map((r) => r.orders_per_s)),
    requests_per_order: median(list.map((r) => r.requests_per_order)),
    p50_ms: median(list.map((r) => r.p50_ms)),
    p99_ms: median(list.map((r) => r.p99_ms)),
    valid: list.reduce((n, r) => n + r.valid, 0),
    failures: list.reduce((n, r) => n + r.failures, 0),
    cpu: Object.fromEntries(cpuKeys.map((k) => [k, median(list.map((r) => r.cpu[k] as number))])) as unknown as CpuPerOp,
  };
}

const line = (r: RoundResult) => ({ orders_per_s: r.orders_per_s, requests_per_order: r.requests_per_order, p50_ms: r.p50_ms, p99_ms: r.p99_ms, ...r.cpu, valid: r.valid, failures: r.failures });

export async function benchAcme(args: string[]): Promise<void> {
  const ordersPerRound = argValue(args, 'orders', 64);
  const concurrency = argValue(args, 'concurrency', 8);
  const rounds = argValue(args, 'rounds', 3);
  const warmup = argValue(args, 'warmup', 2 * concurrency);
  const idleSeconds = argValue(args, 'idle', 3);
  const asked = argList(args, 'sides', [...SIDES]);
  const unknown = asked.filter((s) => !(SIDES as readonly string[]).includes(s));
  if (unknown.length) throw new Error(`unknown side(s) ${unknown.join(', ')}; known: ${SIDES.join(', ')}`);
  const wanted = asked as SideName[];
  // Self-signed HTTPS on every side: this measures cost, not trust.
  acme.axios.defaults.httpsAgent = new Agent({ rejectUnauthorized: false, keepAlive: true });
  acme.axios.interceptors.request.use((config) => {
    requestsSent++;
    return config;
  });

  const dns = await startDnsServer();
  let http01: Http01Responder | null = null;
  if (wanted.includes('step-ca')) {
    http01 = await startHttp01Responder({ port: 80 }).catch((e: Error) => {
      emit({ scenario: 'acme', server: 'step-ca', skipped: `port 80 cannot be bound (${e.message}); step-ca validates http-01 on port 80 only` });
      wanted.splice(wanted.indexOf('step-ca'), 1);
      return null;
    });
  }
  http01 ??= await startHttp01Responder();
  const sides: Side[] = [];
  try {
    for (const name of wanted) {
      if (name === 'embedded' || name === 'scaled') sides.push(await startCertgate(name, dns.address, http01.port, args));
      else if (name === 'pebble') sides.push(await startPebble(dns.address, http01.port));
      else sides.push(await startStepCa(dns.address));
    }
    // Unmeasured: accounts, JIT, first allocations and connections.
    const clients = new Map<Side, acme.Client[]>();
    for (const side of sides) {
      clients.set(side, await Promise.all(Array.from({ length: concurrency }, () => newClient(side))));
      const w = await runOrders(side, clients.get(side) as acme.Client[], await makeOrders(warmup, `warm-${sides.indexOf(side)}`), http01);
      if (w.failures) throw new Error(`${side.name}: ${w.failures} of ${warmup} warm-up orders failed`);
      if (idleSeconds > 0) emit({ scenario: 'acme', server: side.name, idle_seconds: idleSeconds, ...(await idleCpu(side, idleSeconds)) });
    }
    const results = new Map<Side, RoundResult[]>();
    for (let r = 0; r < rounds; r++) {
      for (const side of r % 2 ? [...sides].reverse() : sides) {
        const orders = await makeOrders(ordersPerRound, `r${r}-s${sides.indexOf(side)}`);
        const result = await runOrders(side, clients.get(side) as acme.Client[], orders, http01);
        results.set(side, [...(results.get(side) ?? []), result]);
        emit({ scenario: 'acme', round: r + 1, ...machine(), server: side.name, orders: ordersPerRound, concurrency, ...line(result) });
      }
    }
    const summaries = new Map(sides.map((side) => [side.name, summarize(results.get(side) ?? [])]));
    for (const [name, s] of summaries) emit({ scenario: 'acme', summary: 'median of rounds', server: name, orders: ordersPerRound, concurrency, rounds, ...line(s) });
    const stepca = summaries.get('step-ca');
    const pebble = summaries.get('pebble');
    for (const [name, s] of summaries) {
      if (!name.startsWith('certgate')) continue;
      const cpu = comparable(s.cpu);
      emit({
        scenario: 'acme',
        summary: 'certgate against the peers',
        server: name,
        cpu_ms_per_order: cpu,
        ...(stepca
          ? { stepca_cpu_ms_per_order: stepca.cpu.server_cpu_ms_per_op, cpu_vs_stepca: round(cpu / stepca.cpu.server_cpu_ms_per_op), target_vs_stepca: TARGET_VS_STEPCA, meets_target: cpu <= TARGET_VS_STEPCA * stepca.cpu.server_cpu_ms_per_op, rate_vs_stepca: round(s.orders_per_s / stepca.orders_per_s) }
          : {}),
        ...(pebble ? { pebble_cpu_ms_per_order: pebble.cpu.server_cpu_ms_per_op, cpu_vs_pebble: round(cpu / pebble.cpu.server_cpu_ms_per_op), rate_vs_pebble: round(s.orders_per_s / pebble.orders_per_s) } : {}),
        failures: [...summaries.values()].reduce((n, x) => n + x.failures, 0),
      });
    }
  } finally {
    for (const side of sides) await side.stop();
    await http01.stop();
    await dns.stop();
  }
}
