// The facts one process counts (metrics/types.ts), as Prometheus counters and a histogram in a
// registry of this process. Aggregation across processes happens at scrape time (host.ts).
import { Counter, Histogram, Registry } from 'prom-client';
import type { Metrics, RequestOutcome } from './types.js';

/** From a REST call answered at once to an approval that waits for a person. */
const ISSUANCE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3_600, 86_400];

export class ProcessMetrics implements Metrics {
  readonly registry = new Registry();
  private counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private readonly requests = this.counter('certgate_requests_total', 'Enrollment requests by protocol, product and where they ended up (issued, rejected, pending_approval, pending_dcv, failed; refused at submission).', ['protocol', 'product', 'outcome']);
  private readonly issuances = this.counter('certgate_issuances_total', 'Certificates signed and recorded, by protocol and product.', ['protocol', 'product']);
  private readonly issuanceSeconds = new Histogram({
    name: 'certgate_issuance_duration_seconds',
    help: 'Time from an enrollment request to its certificate, approvals and validations included.',
    labelNames: ['protocol'],
    buckets: ISSUANCE_BUCKETS,
    registers: [this.registry],
  });
  private readonly signingErrors = this.counter('certgate_signing_errors_total', 'Signing attempts the CA backend failed (the job is retried).');
  private readonly dcv = this.counter('certgate_dcv_attempts_total', 'Domain control validation attempts by method and outcome (valid, or the ACME problem type).', ['method', 'outcome']);
  private readonly ocsp = this.counter('certgate_ocsp_responses_total', 'OCSP answers by certificate status (or error status) and whether the answer came from the cache.', ['status', 'cache']);
  private readonly authFailures = this.counter('certgate_auth_failures_total', 'Refused credentials by protocol and reason.', ['protocol', 'reason']);
  private readonly rateLimits = this.counter('certgate_rate_limited_total', 'Requests refused for going past a rate limit, by protocol and limit.', ['protocol', 'limit']);

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
