// The validation job: proves control of one challenge's identifier with the validation authority
// (src/dcv), and records the outcome on the challenge and its authorization. Network trouble is
// retried by the queue; a wrong answer fails at once.
import { checkCaa, validateChallenge } from '../../src/dcv/index.js';
import { VALIDATION_ATTEMPTS } from '../../src/core/dcvSettings.js';
import type { DcvSettings } from '../../src/dcv/types.js';
import type { JobHandler } from '../../src/queue/types.js';
import type { Logger } from 'pino';
import type { AcmeDb, Authz, Challenge, StoredProblem } from './db.js';
import { problemUrn, type ProblemType } from './problems.js';

/** What is told of a validation that failed for good (core.webhooks: `dcv.failed`). */
export type ValidationFailed = (failure: { challenge: Challenge; problem: StoredProblem }) => Promise<void>;
/** What is told of a validation that made its authorization valid (the domain registry records it). */
export type ValidationSucceeded = (proof: { challenge: Challenge; authz: Authz; validatedAt: Date }) => Promise<void>;

export interface ValidationEvents {
  failed?: ValidationFailed;
  validated?: ValidationSucceeded;
  /** The deployment's clock, for the validation's time. */
  now?: () => Date;
}

export function validationJob(db: AcmeDb, settings: DcvSettings & { caaIdentities: string[] }, log: Logger, events: ValidationEvents = {}): JobHandler {
  const now = events.now ?? (() => new Date());
  const fail = async (challenge: Challenge, problem: StoredProblem): Promise<void> => {
    if (!(await db.moveChallenge(challenge.id, ['processing'], 'invalid', { error: problem }))) return;
    await db.moveAuthz(challenge.authzId, ['pending'], 'invalid');
    // Only the process whose move made it invalid tells, so a retried job tells once.
    await events.failed?.({ challenge, problem }).catch((e: Error) => log.warn({ err: e.message, challengeId: challenge.id }, 'could not record dcv.failed'));
  };
  return {
    async process(challengeId, attempt) {
      const challenge = await db.challenge(challengeId);
      if (!challenge || challenge.status !== 'processing') return;
      const authz = await db.authz(challenge.authzId);
      const account = authz && (await db.account(authz.accountId));
      if (!authz || !account || authz.status !== 'pending') return;
      // The account's thumbprint is stored with its key (and changed with it).
      const keyAuthorization = `${challenge.token}.${account.thumbprint}`;
      const last = attempt >= VALIDATION_ATTEMPTS;
      if (authz.identifier.type === 'dns') {
        const caa = await checkCaa({ domain: authz.identifier.value, wildcard: authz.wildcard, caaIdentities: settings.caaIdentities }, settings);
        if (!caa.ok) {
          if (caa.retryable && !last) throw new Error(`CAA lookup failed: ${caa.detail}`);
          return fail(challenge, { type: problemUrn('caa'), detail: caa.detail });
        }
      }
      const identifier = authz.wildcard ? { type: 'dns' as const, value: `*.${authz.identifier.value}` } : authz.identifier;
      const result = await validateChallenge({ type: challenge.type, identifier, token: challenge.token, keyAuthorization }, settings);
      if (result.ok) {
        const validatedAt = now();
        const validated = await db.validateChallenge(challenge.id, authz.id, validatedAt);
        // As with a failure, only the process whose move made it valid tells. Nothing told can undo
        // the proof: the client's order goes on whatever becomes of the telling.
        if (validated) await events.validated?.({ challenge: validated, authz, validatedAt }).catch((e: Error) => log.warn({ err: e.message, challengeId }, 'could not record the ACME validation in the domain registry'));
        return;
      }
      if (result.retryable && !last) throw new Error(`${challenge.type} for ${authz.identifier.value}: ${result.problem.detail}`);
      log.info({ challengeId, type: challenge.type, problem: result.problem.type }, 'ACME validation failed');
      return fail(challenge, { type: problemUrn(result.problem.type as ProblemType), detail: result.problem.detail });
    },
    async onExhausted(challengeId, error) {
      const challenge = await db.challenge(challengeId);
      if (challenge) await fail(challenge, { type: problemUrn('connection'), detail: error.message });
    },
  };
}
