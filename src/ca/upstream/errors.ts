// How an upstream ACME CA's answers reach the worker: a refusal (the request is rejected with the
// upstream's words), a request to wait (the request goes back on the queue for that long), or no
// answer at all (retried like any passing failure).

import { DependencyUnavailableError } from '../../core/unavailable.js';
// A refusal is the core's UpstreamProblem (RFC 8555 §6.7 problem document): the worker rejects the
// request with it, and the revocation service sorts it into the caller's answer, from one class.
export { UpstreamProblem } from '../../core/upstreamRevocation.js';

/** The upstream is rate limiting or not ready yet: try again after `seconds`. */
export class UpstreamRetryLater extends Error {
  override readonly name = 'UpstreamRetryLater';
  constructor(
    message: string,
    readonly seconds: number,
  ) {
    super(message);
  }
}

/**
 * The upstream could not be reached or failed on its side (transport error, 5xx): an outage, which
 * the worker waits out (the request stays queued) and callers answer 503.
 */
export class UpstreamUnreachable extends DependencyUnavailableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('upstream CA', message, options);
  }
}
