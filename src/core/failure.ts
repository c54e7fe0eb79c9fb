// What went wrong with a request, sorted once for every front-end: each protocol's renderer maps
// the classification to its own wire form (REST's JSON, ACME's problem document, EST's and SCEP's
// plain text) in a few lines, so that a refusal, a request the HTTP layer cannot read, a
// dependency that is down and a bug are told apart, answered and logged alike everywhere.
// Protocol-specific errors (ACME problems, SCEP's malformed messages, zod's issues) are the
// renderer's own and are handled before this.
import type { Logger } from 'pino';
import { AppError, type ErrorKind } from './errors.js';
import { isDependencyDown, RETRY_AFTER_SECONDS } from './unavailable.js';

/** An answer every HTTP front-end gives alike: a status, a sentence for its body, headers. */
export interface PlainFailure {
  /**
   * unreadable: the HTTP layer could not read the request (body-parser, a broken %-escape), a 4xx;
   * unavailable: the store or the queue cannot be reached, 503 with Retry-After;
   * internal: certgate's own fault, 500 without details.
   */
  kind: 'unreadable' | 'unavailable' | 'internal';
  status: number;
  sentence: string;
  headers: Record<string, string>;
  /** For the log (unavailable, internal): the error's name and message, no stack, no credentials. */
  logged: string;
}

/** The core's refusal of the caller (`rate_limited` carries retryAfterSeconds), or a PlainFailure. */
export type Failure = { kind: 'refused'; error: AppError } | PlainFailure;

/** The HTTP status of each refusal, for front-ends without a mapping of their own. */
export const HTTP_STATUS_OF: Readonly<Record<ErrorKind, number>> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  rate_limited: 429,
};

export const UNAVAILABLE_SENTENCE = 'service temporarily unavailable, try again later';

interface HttpError {
  status?: unknown;
  type?: unknown;
  message?: unknown;
  expose?: unknown;
  limit?: unknown;
}

/** The sentence for an error body-parser or the router raised, by its `type`. */
function unreadableSentence(e: HttpError): string {
  switch (e.type) {
    case 'entity.parse.failed':
      return 'the request body is not valid JSON';
    case 'entity.too.large':
      return typeof e.limit === 'number' ? `the request body is larger than ${e.limit} bytes` : 'the request body is too large';
    case 'encoding.unsupported':
      return typeof e.message === 'string' ? e.message : 'unsupported Content-Encoding';
  }
  // http-errors marks the messages a client may see (its 4xx) with `expose`.
  return e.expose === true && typeof e.message === 'string' && e.message ? e.message : 'bad request';
}

// A URL's user:password, should an error message carry a connection string.
const CREDENTIALS_IN_URL = /\/\/[^/\s:@]+:[^/\s@]+@/g;

const loggable = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).replace(CREDENTIALS_IN_URL, '//***@');

/** Sorts an error that reached a front-end's error handler into what it must answer. */
export function classifyFailure(err: unknown): Failure {
  if (err instanceof AppError) return { kind: 'refused', error: err };
  // The router decodes path parameters; a broken %-escape (%ff) is the client's mistake.
  if (err instanceof URIError) return { kind: 'unreadable', status: 400, sentence: 'the request path is not valid percent-encoded UTF-8', headers: {}, logged: '' };
  const e = (typeof err === 'object' && err !== null ? err : {}) as HttpError;
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return { kind: 'unreadable', status: e.status, sentence: unreadableSentence(e), headers: {}, logged: '' };
  if (isDependencyDown(err)) {
    return { kind: 'unavailable', status: 503, sentence: UNAVAILABLE_SENTENCE, headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) }, logged: loggable(err) };
  }
  return { kind: 'internal', status: 500, sentence: 'internal error', headers: {}, logged: loggable(err) };
}

/** Any failure as a status, a sentence and headers, for a front-end that answers all in one form. */
export function plainAnswerOf(failure: Failure, statusOf: Readonly<Record<ErrorKind, number>> = HTTP_STATUS_OF): Pick<PlainFailure, 'status' | 'sentence' | 'headers'> {
  if (failure.kind !== 'refused') return failure;
  const e = failure.error;
  return { status: statusOf[e.kind], sentence: e.message, headers: e.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(e.retryAfterSeconds) } };
}

/** Logs what a front-end must know about: a dependency that is down (warn), a bug (error). */
export function logFailure(log: Pick<Logger, 'warn' | 'error'>, failure: Failure, frontEnd: string, path: string): void {
  if (failure.kind === 'unavailable') log.warn({ err: failure.logged, path }, `dependency unavailable (${frontEnd})`);
  else if (failure.kind === 'internal') log.error({ err: failure.logged, path }, `unhandled error in ${frontEnd}`);
}
