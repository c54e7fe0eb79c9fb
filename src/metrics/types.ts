// What the gateway reports as it works, in its own words: the core, the worker, the validator and
// the OCSP responder call these at the one place each fact happens. Nothing here knows Prometheus
// (src/metrics/prometheus.ts does); with metrics off the calls land on NO_METRICS and cost nothing.

/** Where an enrollment request ended up when the worker (or the submission) was done with it. */
/** The product label of a request whose product is gone (or unreadable): a name no product can have. */
export const UNKNOWN_PRODUCT = '(unknown)';

export type RequestOutcome = 'issued' | 'rejected' | 'pending_approval' | 'pending_dcv' | 'failed' | 'refused';

export interface Metrics {
  /** A request reached `outcome`. `product` is the product's name (bounded by the operator), never an id of a request. */
  request(protocol: string, product: string, outcome: RequestOutcome): void;
  /** A certificate was signed and recorded, `seconds` after its request was made. */
  issued(protocol: string, product: string, seconds: number): void;
  /** The CA backend failed to sign (the queue retries the job). */
  signingError(): void;
  /** One domain control validation attempt: `outcome` is `valid` or the RFC 8555 problem type. */
  dcvAttempt(method: string, outcome: string): void;
  /** An OCSP answer: `status` is good, revoked, unknown, or the OCSPResponseStatus of an error. */
  ocspAnswer(status: string, cached: boolean): void;
  /** A presented credential was refused; `reason` is one of the verifier's refusal reasons. */
  authFailure(protocol: string, reason: string): void;
  /** A caller was refused for going past a limit; `limit` names which (`login` for the failed-login throttle). */
  rateLimited(protocol: string, limit: string): void;
}

/** Metrics off: every fact is dropped where it happens. */
export const NO_METRICS: Metrics = {
  request: () => undefined,
  issued: () => undefined,
  signingError: () => undefined,
  dcvAttempt: () => undefined,
  ocspAnswer: () => undefined,
  authFailure: () => undefined,
  rateLimited: () => undefined,
};
