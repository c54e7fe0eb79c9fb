// npm run bench -- est [--seconds S=8] [--rounds R=3] [--warmup S=3] [--connections C=16]
//                      [--threads T=2] [--scaled N=2] [--max-rate M=1200]
// EST simpleenroll (HTTP Basic with an est credential, base64 PKCS#10) against REST csr issuance
// (POST /v1/certificates with an API key, the baseline), both over TLS with keep-alive under the
// same wrk load (T threads, C connections), on certgate embedded (`serve`: SQLite, the in-process
// queue and worker) and scaled out (durable PostgreSQL, Redis, `serve --no-worker --processes N`,
// one `worker`; `--scaled 0` leaves it out). Every request carries a P-256 CSR of its own, made
// before the clock: EST knows a CSR sent again as the same enrollment and answers it with the
// certificate it already has, which would measure a lookup, not an issuance. Each run is given
// S × M CSRs; a run that sends them all and starts again says so (csrs_reused: raise --max-rate).
// Every side answers one request with a certificate first (else the run stops), then gets W
// seconds unmeasured (JIT, caches, the stores' first pages; a warm-up not all 2xx stops the run),
// then R rounds of S seconds alternating the order of the sides. Each run prints certs/s (requests over wrk's own clock), p50/p99 and certgate's CPU per
// certificate from /proc (server, scaled out also its stores, and the total); then per deployment
// the medians of each side and EST's total CPU per certificate over REST's (target ≤ 1.2×).
import { request as httpsRequest } from 'node:https';
import { cpuMeter, startDeployment, type Deployment } from './deployment.js';
import { argValue, emit, makeP256Csrs, round } from './lib.js';
import { argList, machine, runFigures, summarize, totalCpu, type Measured, type RunSummary } from './rest.js';
import { hasWrk, wrkLoad } from './wrk.js';

const TARGET_CPU_RATIO = 1.2;

/** Fresh CSRs in order: a run looks at the next ones and consumes those it may have sent. */
class CsrPool {
  private csrs: string[] = [];
  private next = 0;
  made = 0;

  /** The next n unsent CSRs, made now if there are not enough (between runs, never while one is timed). */
  peek(n: number): string[] {
    const missing = this.next + n - this.csrs.length;
    if (missing > 0) {
      // A key of its own per CSR: no two are alike, whatever their names.
      this.csrs.push(...makeP256Csrs(missing));
      this.made += missing;
    }
    return this.csrs.slice(this.next, this.next + n);
  }

  consume(n: number): void {
    this.next += n;
    // What is sent is never needed again.
    this.csrs = this.csrs.slice(this.next);
    this.next = 0;
  }
}

interface Side {
  deployment: Deployment;
  path: 'EST simpleenroll' | 'REST POST /v1/certificates';
  url: string;
  headers: Record<string, string>;
  body(csrPem: string): string;
}

/**
 * One request, answered with a certificate, before any load: a load test of error answers would
 * measure nothing. The deployment's TLS certificate is its own throw-away one, so it is not checked.
 */
function probe(s: Side, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(s.url, { method: 'POST', headers: s.headers, rejectUnauthorized: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        if (res.statusCode === 200 || res.statusCode === 201) resolve();
        else reject(new Error(`${s.deployment.label} ${s.path}: the probe answered ${res.statusCode}: ${text.slice(0, 300)}`));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A side's CPU figures named for the side, e.g. est_total_cpu_ms_per_op. */
const prefixed = (prefix: string, cpu: object): Record<string, unknown> => Object.fromEntries(Object.entries(cpu).map(([k, v]) => [prefix + k, v]));

const base64Der = (pem: string): string => pem.replace(/-----[^-]+-----|\s/g, '');

export async function benchEst(args: string[]): Promise<void> {
  const seconds = argValue(args, 'seconds', 8);
  const rounds = argValue(args, 'rounds', 3);
  const warmup = argValue(args, 'warmup', 3);
  const connections = argValue(args, 'connections', 16);
  const threads = argValue(args, 'threads', 2);
  const maxRate = argValue(args, 'max-rate', 1200);
  const scaled = argList(args, 'scaled', ['2']).map(Number).filter((n) => n > 0);
  if (!(await hasWrk())) throw new Error('the est benchmark drives its load with wrk: apt-get install wrk');

  const pool = new CsrPool();
  const t0 = performance.now();
  pool.peek(Math.ceil(Math.max(seconds, warmup) * maxRate));
  console.error(`made ${pool.made} P-256 CSRs in ${round((performance.now() - t0) / 1000)} s`);

  const deployments: Deployment[] = [];
  try {
    deployments.push(await startDeployment({ kind: 'embedded' }));
    for (const apiProcesses of scaled) deployments.push(await startDeployment({ kind: 'scaled', apiProcesses, workers: 1 }));
    const sides = deployments.flatMap((d): Side[] => {
      const est = JSON.parse(d.cli(['credential', 'create', '--type', 'est', '--name', 'bench', '--product', '*', '--json'])) as { username: string; password: string };
      return [
        {
          deployment: d,
          path: 'REST POST /v1/certificates',
          url: `${d.https}/v1/certificates`,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${d.adminToken}` },
          body: (csrPem) => JSON.stringify({ caId: d.caId, mode: 'csr', csrPem }),
        },
        {
          deployment: d,
          path: 'EST simpleenroll',
          url: `${d.https}/.well-known/est/simpleenroll`,
          headers: { 'content-type': 'application/pkcs10', authorization: `Basic ${Buffer.from(`${est.username}:${est.password}`).toString('base64')}` },
          body: base64Der,
        },
      ];
    });

    const measure = async (s: Side, secs: number): Promise<Measured> => {
      const bodies = pool.peek(Math.ceil(secs * maxRate)).map(s.body);
      const meter = cpuMeter(s.deployment);
      const r = await wrkLoad(s.url, bodies, s.headers, { seconds: secs, connections, threads });
      const cpu = meter(r.requests - r.non2xx);
      pool.consume(r.bodiesUsed);
      return { ...r, cpu };
    };
    for (const s of sides) {
      const [csr] = pool.peek(1) as [string];
      await probe(s, s.body(csr));
      pool.consume(1);
      const w = await measure(s, warmup);
      if (w.non2xx || w.errors) throw new Error(`${s.deployment.label} ${s.path}: the warm-up got ${w.non2xx} answers not 2xx and ${w.errors} errors in ${w.requests}`);
    }

    const results = new Map<Side, Measured[]>();
    for (let r = 0; r < rounds; r++) {
      for (const s of r % 2 ? [...sides].reverse() : sides) {
        const m = await measure(s, seconds);
        results.set(s, [...(results.get(s) ?? []), m]);
        emit({
          scenario: 'est',
          round: r + 1,
          ...machine(),
          deployment: s.deployment.label,
          path: s.path,
          tls: true,
          load: `wrk -t${threads} -c${connections}`,
          seconds,
          ...runFigures(m),
          csrs_reused: m.reused,
        });
      }
    }

    for (const d of deployments) {
      const [rest, est] = sides.filter((s) => s.deployment === d).map((s) => summarize(results.get(s) ?? [])) as [RunSummary, RunSummary];
      emit({
        scenario: 'est',
        summary: `median of ${rounds} rounds`,
        ...machine(),
        deployment: d.label,
        est_per_s: est.rate,
        est_p50_ms: est.p50,
        est_p99_ms: est.p99,
        ...prefixed('est_', est.cpu),
        rest_per_s: rest.rate,
        rest_p50_ms: rest.p50,
        rest_p99_ms: rest.p99,
        ...prefixed('rest_', rest.cpu),
        cpu_ratio: round(totalCpu(est.cpu) / totalCpu(rest.cpu), 3),
        target_cpu_ratio: TARGET_CPU_RATIO,
        meets_target: totalCpu(est.cpu) <= TARGET_CPU_RATIO * totalCpu(rest.cpu),
        rate_ratio: round(est.rate / rest.rate, 3),
        failures: est.failures + rest.failures,
        csrs_reused: est.reused || rest.reused,
      });
    }
  } finally {
    for (const d of deployments) await d.stop();
  }
}
