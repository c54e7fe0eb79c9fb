// RFC 8555 §6.7 errors as application/problem+json (RFC 7807).
import type { Failure } from '../../src/core/failure.js';
import type { Rejection } from '../../src/core/types.js';
import type { Identifier, StoredProblem } from './db.js';

export type ProblemType =
  | 'accountDoesNotExist'
  | 'alreadyReplaced'
  | 'alreadyRevoked'
  | 'badCSR'
  | 'badNonce'
  | 'badPublicKey'
  | 'badRevocationReason'
  | 'badSignatureAlgorithm'
  | 'caa'
  | 'connection'
  | 'dns'
  | 'externalAccountRequired'
  | 'incorrectResponse'
  | 'invalidContact'
  | 'malformed'
  | 'orderNotReady'
  | 'rateLimited'
  | 'rejectedIdentifier'
  | 'serverInternal'
  | 'tls'
  | 'unauthorized'
  | 'unsupportedContact'
  | 'unsupportedIdentifier'
  | 'userActionRequired';

const STATUS: Partial<Record<ProblemType, number>> = {
  accountDoesNotExist: 400,
  orderNotReady: 403,
  unauthorized: 403,
  externalAccountRequired: 401,
  rateLimited: 429,
  serverInternal: 500,
};

export const problemUrn = (type: ProblemType): string => `urn:ietf:params:acme:error:${type}`;

export class AcmeProblem extends Error {
  override readonly name = 'AcmeProblem';
  readonly status: number;

  constructor(
    readonly type: ProblemType,
    detail: string,
    options: { status?: number; subproblems?: StoredProblem['subproblems']; headers?: Record<string, string>; extra?: Record<string, unknown> } = {},
  ) {
    super(detail);
    this.status = options.status ?? STATUS[type] ?? 400;
    this.subproblems = options.subproblems;
    this.headers = options.headers ?? {};
    this.extra = options.extra ?? {};
  }

  readonly subproblems: StoredProblem['subproblems'];
  readonly headers: Record<string, string>;
  /** Members some problem types carry (badSignatureAlgorithm: `algorithms`). */
  readonly extra: Record<string, unknown>;

  toJSON(): StoredProblem {
    return { ...this.extra, type: problemUrn(this.type), detail: this.message, status: this.status, ...(this.subproblems?.length ? { subproblems: this.subproblems } : {}) };
  }
}

export const malformed = (detail: string): AcmeProblem => new AcmeProblem('malformed', detail);
export const unauthorized = (detail: string): AcmeProblem => new AcmeProblem('unauthorized', detail);

/** A product's refusal in ACME's terms. */
export function problemOfRejection(r: Rejection): AcmeProblem {
  const type: ProblemType = r.code === 'badCsr' || r.code === 'badKey' ? 'badCSR' : r.code === 'unauthorized' ? 'unauthorized' : 'rejectedIdentifier';
  const subproblems = r.sub?.map((s) => ({ type: problemUrn(type), detail: s.detail, identifier: identifierOf(s.identifier) }));
  return new AcmeProblem(type, `${r.detail} [rule: ${r.rule}]`, { subproblems });
}

export function identifierOf(value: string): Identifier {
  return /^[0-9.]+$|:/.test(value) ? { type: 'ip', value } : { type: 'dns', value };
}

/** Any other failure (src/core/failure.ts) in ACME's terms. */
export function problemOfFailure(failure: Failure): AcmeProblem {
  if (failure.kind !== 'refused') {
    // A request that cannot be read is malformed; an outage or a bug is the server's, as a problem type.
    return new AcmeProblem(failure.kind === 'unreadable' ? 'malformed' : 'serverInternal', failure.sentence, { status: failure.status, headers: failure.headers });
  }
  const err = failure.error;
  if (err.kind === 'rate_limited') return new AcmeProblem('rateLimited', err.message, { headers: { 'Retry-After': String(err.retryAfterSeconds ?? 60) } });
  if (err.rejection) return problemOfRejection(err.rejection);
  return new AcmeProblem(err.kind === 'forbidden' ? 'unauthorized' : 'malformed', err.message, { status: err.kind === 'not_found' ? 404 : undefined });
}
