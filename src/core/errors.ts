// Errors the core raises for the caller's mistakes. Each front-end maps `kind` to its protocol's
// error form; anything else is our fault and is logged, never shown.
import type { Rejection } from './types.js';

export type ErrorKind = 'bad_request' | 'unauthorized' | 'forbidden' | 'not_found' | 'conflict' | 'unprocessable' | 'rate_limited';

export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** Set when the error is a policy refusal that a protocol renders in its own terms. */
    readonly rejection?: Rejection,
    /** `rate_limited`: when the caller may try again, in seconds. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** A refusal found before anything was stored (a CSR that does not parse or verify, a name refused up front). */
export const refused = (kind: ErrorKind, rejection: Rejection): AppError => new AppError(kind, `${rejection.detail} [rule: ${rejection.rule}]`, rejection);

export const badRequest = (m: string): AppError => new AppError('bad_request', m);
export const unauthorized = (m: string): AppError => new AppError('unauthorized', m);
export const forbidden = (m: string): AppError => new AppError('forbidden', m);
export const notFound = (m: string): AppError => new AppError('not_found', m);
export const conflict = (m: string): AppError => new AppError('conflict', m);
export const unprocessable = (m: string): AppError => new AppError('unprocessable', m);
/** A limit was reached (issuance per credential, failed logins per source): each protocol renders its own 429 form. */
export const rateLimited = (m: string, retryAfterSeconds: number): AppError => new AppError('rate_limited', m, undefined, Math.max(1, Math.ceil(retryAfterSeconds)));
