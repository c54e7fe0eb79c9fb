// npm run bench -- pkcs11 [--seconds S=6] [--rounds R=3] [--warmup S=2] [--connections C=16] [--threads T=2] [--csrs N=3000]
//
// REST issuance (csr mode, wrk) on one embedded certgate from two issuing CAs of the same key type
// (ECDSA P-256) side by side: the software-key issuing CA `init` makes, and one whose key is in a
// SoftHSM2 token. Rounds alternate the order of the sides. Each run prints certs/s, p50/p99 and
// certgate's CPU per certificate; the summary the medians and the token's ratio to the software key.
import { startSoftHsm } from '../test/harness/softhsm.js';
import { cpuMeter, startDeployment, type Deployment } from './deployment.js';
import { argValue, emit, makeP256Csrs, round } from './lib.js';
import { alternatingRounds, machine, runFigures, summarize, type Measured } from './rest.js';
import { hasWrk, wrkLoad } from './wrk.js';

const PIN = 'bench-pin-4711';
const PIN_VAR = 'CERTGATE_BENCH_TOKEN_PIN';

interface Side {
  server: string;
  caId: string;
}

export async function benchPkcs11(args: string[]): Promise<void> {
  const seconds = argValue(args, 'seconds', 6);
  const rounds = argValue(args, 'rounds', 3);
  const warmup = argValue(args, 'warmup', 2);
  const connections = argValue(args, 'connections', 16);
  const threads = argValue(args, 'threads', 2);
  if (!(await hasWrk())) throw new Error('the pkcs11 benchmark drives its load with wrk: apt-get install wrk');
  const hsm = startSoftHsm();
  if (!hsm) throw new Error('the pkcs11 benchmark needs SoftHSM2 (softhsm2) and pkcs11-tool (opensc)');
  hsm.initToken('bench', PIN);
  const csrs = makeP256Csrs(argValue(args, 'csrs', 3000));
  let d: Deployment | undefined;
  try {
    d = await startDeployment({ kind: 'embedded', env: { SOFTHSM2_CONF: process.env.SOFTHSM2_CONF as string, [PIN_VAR]: PIN } });
    const dep = d;
    const parent = (JSON.parse(dep.cli(['ca', 'list', '--json'])) as { id: string; type: string }[]).find((c) => c.type === 'root')?.id as string;
    const token = JSON.parse(
      dep.cli(['ca', 'create', '--name', 'bench-token-issuing', '--parent', parent, '--key-algorithm', 'ec-p256', '--pkcs11-module', hsm.module, '--pkcs11-token', 'bench', '--pkcs11-key-label', 'issuing', '--pkcs11-pin-env', PIN_VAR, '--json']),
    ) as { id: string };
    // Issued under a product of its own, with the same defaults as the product `init` made for the software CA.
    dep.cli(['product', 'create', '--name', 'bench-token', '--ca', token.id]);
    const sides: Side[] = [
      { server: 'certgate embedded, software key (ECDSA P-256)', caId: dep.caId },
      { server: 'certgate embedded, SoftHSM2 token key (ECDSA P-256)', caId: token.id },
    ];
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${dep.adminToken}` };
    const url = `${dep.http}/v1/certificates`;
    const bodiesOf = (s: Side) => csrs.map((csrPem) => Buffer.from(JSON.stringify({ caId: s.caId, mode: 'csr', csrPem })));
    const measure = async (s: Side, secs: number): Promise<Measured> => {
      const meter = cpuMeter(dep);
      const r = await wrkLoad(url, bodiesOf(s), headers, { seconds: secs, connections, threads });
      return { ...r, cpu: meter(r.requests - r.non2xx) };
    };
    for (const s of sides) {
      // One answer checked before timing: a load test of refusals would measure nothing.
      const res = await fetch(url, { method: 'POST', headers, body: bodiesOf(s)[0] as Buffer });
      const text = await res.text();
      if (res.status !== 201 || !text.includes('certificate_pem')) throw new Error(`${s.server}: the probe answered ${res.status}: ${text.slice(0, 300)}`);
      if (warmup > 0) await measure(s, warmup);
    }
    const results = await alternatingRounds(sides, rounds, (s) => measure(s, seconds), (s, m, round) =>
      emit({ scenario: 'pkcs11', round, ...machine(), case: 'csr', server: s.server, load: `wrk -t${threads} -c${connections}`, seconds, ...runFigures(m) }),
    );
    const [soft, tok] = sides.map((s) => summarize(results.get(s) ?? [])) as [ReturnType<typeof summarize>, ReturnType<typeof summarize>];
    for (const [s, sum] of [
      [sides[0], soft],
      [sides[1], tok],
    ] as const) {
      emit({ scenario: 'pkcs11', summary: true, server: s?.server, rounds, certs_per_s: sum.rate, p50_ms: sum.p50, p99_ms: sum.p99, ...sum.cpu, failures: sum.failures });
    }
    emit({
      scenario: 'pkcs11',
      summary: 'token vs software key',
      rate_ratio: round(tok.rate / Math.max(soft.rate, 0.001), 3),
      p50_ratio: round(tok.p50 / Math.max(soft.p50, 0.001), 3),
      p99_ratio: round(tok.p99 / Math.max(soft.p99, 0.001), 3),
      cpu_per_cert_ratio: round(tok.cpu.server_cpu_ms_per_op / Math.max(soft.cpu.server_cpu_ms_per_op, 0.001), 3),
    });
  } finally {
    await d?.stop();
    hsm.remove();
  }
}
