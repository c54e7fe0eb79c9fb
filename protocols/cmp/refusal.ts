// What a CMP exchange refuses, as the error message will say it (RFC 9483 §3.6.4): a
// PKIFailureInfo bit and a sentence for statusString. Everything else that reaches the error
// handler is sorted by the core's classifyFailure and mapped here too, so that certgate's own
// faults leave as systemFailure/systemUnavail and never as a stack trace.
import { classifyFailure, type Failure } from '../../src/core/failure.js';
import type { ErrorKind } from '../../src/core/errors.js';
import { CmpDecodeError } from './asn1.js';
import type { FailInfo } from './messages.js';
import { ProductSettingsError } from '../../src/core/productSettings.js';
import { NoCmpSigner } from './signers.js';

export class CmpRefusal extends Error {
  override readonly name = 'CmpRefusal';
  constructor(
    readonly failInfo: FailInfo,
    message: string,
  ) {
    super(message);
  }
}

/** The failInfo of each core refusal that was not answered more precisely on the way. */
const FAIL_INFO_OF: Readonly<Record<ErrorKind, FailInfo>> = {
  bad_request: 'badRequest',
  unauthorized: 'notAuthorized',
  forbidden: 'notAuthorized',
  not_found: 'badRequest',
  conflict: 'badRequest',
  unprocessable: 'badCertTemplate',
  // RFC 9483 has no rate bit: the server cannot take the request now.
  rate_limited: 'systemUnavail',
};

/** The failInfo and sentence of anything thrown while answering, and the Failure to log when it is ours. */
export function refusalOf(err: unknown): { failInfo: FailInfo; text: string; failure: Failure | null } {
  if (err instanceof CmpRefusal || err instanceof CmpDecodeError) return { failInfo: err.failInfo, text: err.message, failure: null };
  // The operator's mistake, not the client's: said as it is, so that whoever reads the client's log can pass it on.
  if (err instanceof ProductSettingsError) return { failInfo: 'systemFailure', text: err.message, failure: null };
  if (err instanceof NoCmpSigner) return { failInfo: 'systemUnavail', text: err.message, failure: null };
  const failure = classifyFailure(err);
  switch (failure.kind) {
    case 'refused': {
      const e = failure.error;
      const failInfo = e.rejection?.rule === 'proofOfPossession' ? 'badPOP' : e.rejection?.code === 'badCsr' ? 'badDataFormat' : FAIL_INFO_OF[e.kind];
      const retry = e.retryAfterSeconds === undefined ? '' : ` (try again in ${e.retryAfterSeconds} seconds)`;
      return { failInfo, text: `${e.message}${retry}`, failure: null };
    }
    case 'unreadable':
      return { failInfo: 'badDataFormat', text: failure.sentence, failure: null };
    case 'unavailable':
      return { failInfo: 'systemUnavail', text: failure.sentence, failure };
    case 'internal':
      return { failInfo: 'systemFailure', text: 'internal error', failure };
  }
}
