// The facts one process counts (metrics/types.ts), as Prometheus counters and a histogram in a
// registry of this process. Aggregation across processes happens at scrape time (aggregate.ts).
import { Counter, Histogram, Registry } from 'prom-client';
import type { Metrics, RequestOutcome } from './types.js';

/** From a REST call answered at once to an approval that waits for a person. */
const ISSUANCE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3_600, 86_400];

export class ProcessMetrics implements Metrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'certgate_requests_total',
    help: 'Enrollment requests by protocol, product and where they ended up (issued, rejected, pending_approval, pending_dcv, failed; refused at submission).',
    labelNames: ['protocol', 'product', 'outcome'],
    registers: [this.registry],
  });
  private readonly issuances = new Counter({
    name: 'certgate_issuances_total',
    help: 'Certificates signed and recorded, by protocol and product.',
    labelNames: ['protocol', 'product'],
    registers: [this.registry],
  });
  private readonly issuanceSeconds = new Histogram({
    name: 'certgate_issuance_duration_seconds',
    help: 'Time from an enrollment request to its certificate, approvals and validations included.',
    labelNames: ['protocol'],
    buckets: ISSUANCE_BUCKETS,
    registers: [this.registry],
  });
  private readonly signingErrors = new Counter({
    name: 'certgate_signing_errors_total',
    help: 'Signing attempts the CA backend failed (the job is retried).',
    registers: [this.registry],
  });
  private readonly dcv = new Counter({
    name: 'certgate_dcv_attempts_total',
    help: 'Domain control validation attempts by method and outcome (valid, or the ACME problem type).',
    labelNames: ['method', 'outcome'],
    registers: [this.registry],
  });
  private readonly ocsp = new Counter({
    name: 'certgate_ocsp_responses_total',
    help: 'OCSP answers by certificate status (or error status) and whether the answer came from the cache.',
    labelNames: ['status', 'cache'],
    registers: [this.registry],
  });
  private readonly authFailures = new Counter({
    name: 'certgate_auth_failures_total',
    help: 'Refused credentials by protocol and reason.',
    labelNames: ['protocol', 'reason'],
    registers: [this.registry],
  });
  private readonly rateLimits = new Counter({
    name: 'certgate_rate_limited_total',
    help: 'Requests refused for going past a rate limit, by protocol and limit.',
    labelNames: ['protocol', 'limit'],
    registers: [this.registry],
  });

  request(protocol: string, product: string, outcome: RequestOutcome): void {
    this.requests.inc({ protocol, product, outcome });
  }

  issued(protocol: string, product: string, seconds: number): void {
    this.issuances.inc({ protocol, product });
    this.issuanceSeconds.observe({ protocol }, Math.max(0, seconds));
  }

  signingError(): void {
    this.signingErrors.inc();
  }

  dcvAttempt(method: string, outcome: string): void {
    this.dcv.inc({ method, outcome });
  }

  ocspAnswer(status: string, cached: boolean): void {
    this.ocsp.inc({ status, cache: cached ? 'hit' : 'miss' });
  }

  authFailure(protocol: string, reason: string): void {
    this.authFailures.inc({ protocol, reason });
  }

  rateLimited(protocol: string, limit: string): void {
    this.rateLimits.inc({ protocol, limit });
  }
}
