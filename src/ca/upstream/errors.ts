// How an upstream ACME CA's answers reach the worker: a refusal (the request is rejected with the
// upstream's words), a request to wait (the request goes back on the queue for that long), or no
// answer at all (retried like any passing failure).

/** The upstream refused (a problem document, RFC 8555 §6.7): final for this request. */
export class UpstreamProblem extends Error {
  override readonly name = 'UpstreamProblem';
  constructor(
    /** e.g. urn:ietf:params:acme:error:rejectedIdentifier ('' when the upstream gave none). */
    readonly type: string,
    readonly detail: string,
    readonly status: number,
    readonly document: Record<string, unknown> | null = null,
  ) {
    super(`upstream refused: ${detail}${type ? ` (${type.replace('urn:ietf:params:acme:error:', '')})` : ''}`);
  }
}

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

/** The upstream could not be reached or failed on its side (transport error, 5xx). */
export class UpstreamUnreachable extends Error {
  override readonly name = 'UpstreamUnreachable';
}
