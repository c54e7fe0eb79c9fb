// How reading a SCEP message fails: with nothing to answer (HTTP 400), or with a CertRep FAILURE.
import type { FailInfo } from './algorithms.js';

/** Nothing to reply to: not a pkiMessage, or one without the fields a CertRep must echo. HTTP 400. */
export class MalformedMessage extends Error {
  override readonly name = 'MalformedMessage';
}

/** A request that can be answered, but only with FAILURE and this failInfo. */
export class ScepFailure extends Error {
  override readonly name = 'ScepFailure';
  constructor(
    readonly failInfo: FailInfo,
    message: string,
  ) {
    super(message);
  }
}
