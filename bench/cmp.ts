// npm run bench -- cmp [--seconds S=6] [--rounds R=3] [--warmup S=2] [--connections C=16] [--threads T=2] [--messages N=6000] [--only rest|cmp]
//
// CMP enrollments (RFC 9483 ir, MAC-protected with a cmp credential's secret by PasswordBasedMac as
// `openssl cmp -ref -secret` sends it, implicitConfirm asked for so that one message is one
// enrollment) beside REST csr issuance, on one embedded certgate, under the same wrk load, rounds
// alternating the order. Each ir is built before the timing starts (a fresh P-256 key, its POP
// signature and the MAC) and sent once: CMP refuses a replayed senderNonce, so a body wrk sends twice
// would be counted as a failure, not a certificate. A CMP answer is HTTP 200 even when it is an
// error, so certificates are counted in certgate's inventory, not from the HTTP status. The figure
// that does not depend on the load generator sharing the cores is certgate's CPU per certificate;
// the issue's target is at most 1.5 times REST's.
import { generateKeyPairSync } from 'node:crypto';
import { CmpClient, crmfRequest } from '../test/helpers/cmpClient.js';
import { cpuMeter, NO_RATE_LIMITS, startDeployment, type Deployment } from './deployment.js';
import { argValue, emit, makeP256Csrs, round } from './lib.js';
import { alternatingRounds, argList, machine, runFigures, summarize, type Measured } from './rest.js';
import { hasWrk, wrkLoad } from './wrk.js';

const TARGET_CPU_RATIO = 1.5;

interface Side {
  server: string;
  case: 'REST csr' | 'CMP ir (PBM, implicitConfirm)';
  url: string;
  headers: Record<string, string>;
  /** The bodies of one run, made before it is timed. */
  bodies(count: number): Buffer[];
}

/** Certificates in the inventory: what a CMP run issued, since its answers are all HTTP 200. */
async function certificateCount(d: Deployment): Promise<number> {
  const res = await fetch(`${d.http}/v1/certificates?pageSize=1`, { headers: { authorization: `Bearer ${d.adminToken}` } });
  return ((await res.json()) as { total: number }).total;
}

export async function benchCmp(args: string[]): Promise<void> {
  const seconds = argValue(args, 'seconds', 6);
  const rounds = argValue(args, 'rounds', 3);
  const warmup = argValue(args, 'warmup', 2);
  const connections = argValue(args, 'connections', 16);
  const threads = argValue(args, 'threads', 2);
  const messages = argValue(args, 'messages', 6000);
  if (!(await hasWrk())) throw new Error('the cmp benchmark drives its load with wrk: apt-get install wrk');
  const csrs = makeP256Csrs(messages);
  let d: Deployment | undefined;
  try {
    d = await startDeployment({ kind: 'embedded', env: { ...NO_RATE_LIMITS, CERTGATE_CMP_ISSUE_PER_PRODUCT_PER_MINUTE: '0' } });
    const dep = d;
    const { reference, secret } = JSON.parse(dep.cli(['credential', 'create', '--type', 'cmp', '--name', 'bench', '--product', '*', '--json'])) as { reference: string; secret: string };
    const cmpUrl = `${dep.http}/.well-known/cmp`;
    const client = new CmpClient(cmpUrl, { kind: 'mac', reference, secret, mac: 'pbm' });
    let serial = 0;
    const irMessage = (): Buffer => {
      const n = serial++;
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const request = crmfRequest({ key: privateKey, subject: `CN=c${n}.bench.test`, san: { dns: [`c${n}.bench.test`] } });
      return client.build({ type: 'ir', requests: [request] }, { implicitConfirm: true }).der;
    };
    const restBodies = csrs.map((csrPem) => Buffer.from(JSON.stringify({ caId: dep.caId, mode: 'csr', csrPem })));
    const only = argList(args, 'only', ['rest', 'cmp']);
    const all: Side[] = [
      {
        server: `certgate ${dep.label}`,
        case: 'REST csr',
        url: `${dep.http}/v1/certificates`,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${dep.adminToken}` },
        bodies: () => restBodies,
      },
      {
        server: `certgate ${dep.label}`,
        case: 'CMP ir (PBM, implicitConfirm)',
        url: cmpUrl,
        headers: { 'content-type': 'application/pkixcmp' },
        bodies: (count) => Array.from({ length: count }, irMessage),
      },
    ];
    const sides = all.filter((s) => only.includes(s.case === 'REST csr' ? 'rest' : 'cmp'));

    // One enrollment checked end to end before timing: a load test of error answers would measure nothing.
    const probe = await client.send(client.build({ type: 'ir', requests: [crmfRequest({ key: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey, subject: 'CN=probe.bench.test', san: { dns: ['probe.bench.test'] } })] }, { implicitConfirm: true }));
    const answered = probe.message.body;
    if (answered.type !== 'ip' || !answered.responses[0]?.certificateDer || probe.protection !== 'mac' || !probe.answersUs) {
      throw new Error(`the CMP probe was answered with ${answered.type} (${JSON.stringify(answered.type === 'error' ? answered.status : answered.type === 'ip' ? answered.responses[0]?.status : null)}), protection ${probe.protection}`);
    }

    const measure = async (s: Side, secs: number): Promise<Measured> => {
      // Enough fresh messages for the fastest run seen so far, with room to spare.
      const bodies = s.bodies(messages);
      const before = await certificateCount(dep);
      const meter = cpuMeter(dep);
      const r = await wrkLoad(s.url, bodies, s.headers, { seconds: secs, connections, threads });
      const issued = (await certificateCount(dep)) - before;
      // Every answer that is not a certificate counts as a failure, whatever its HTTP status.
      const failures = Math.max(0, r.requests - issued);
      return { ...r, okRate: issued / secs, non2xx: failures, cpu: meter(issued) };
    };
    if (warmup > 0) for (const s of sides) await measure(s, warmup);
    const results = await alternatingRounds(sides, rounds, (s) => measure(s, seconds), (s, m, r) =>
      emit({ scenario: 'cmp', round: r, ...machine(), case: s.case, server: s.server, load: `wrk -t${threads} -c${connections}`, seconds, ...runFigures(m), bodies_reused: m.reused }),
    );
    const summaries = new Map(sides.map((s) => [s.case, summarize(results.get(s) ?? [])]));
    for (const s of sides) {
      const sum = summaries.get(s.case) as ReturnType<typeof summarize>;
      emit({ scenario: 'cmp', summary: `median of ${rounds} rounds`, ...machine(), case: s.case, server: s.server, certs_per_s: sum.rate, p50_ms: sum.p50, p99_ms: sum.p99, ...sum.cpu, failures: sum.failures, bodies_reused: sum.reused });
    }
    const rest = summaries.get('REST csr');
    const cmp = summaries.get('CMP ir (PBM, implicitConfirm)');
    if (!rest || !cmp) return;
    const ratio = cmp.cpu.server_cpu_ms_per_op / Math.max(rest.cpu.server_cpu_ms_per_op, 0.001);
    emit({
      scenario: 'cmp',
      summary: 'CMP ir vs REST csr',
      baseline: 'REST csr (same server, same run)',
      baseline_cpu_ms_per_op: rest.cpu.server_cpu_ms_per_op,
      cpu_ms_per_op: cmp.cpu.server_cpu_ms_per_op,
      cpu_per_cert_ratio: round(ratio, 3),
      rate_ratio: round(cmp.rate / Math.max(rest.rate, 0.001), 3),
      target_cpu_ratio: TARGET_CPU_RATIO,
      meets_target: ratio <= TARGET_CPU_RATIO,
    });
  } finally {
    await d?.stop();
  }
}
