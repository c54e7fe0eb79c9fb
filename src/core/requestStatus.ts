// The one table of enrollment status transitions. Every writer of a request's status (the
// store's compare-and-set, the worker, the operator's approve/reject) goes through it.
import type { RequestStatus } from './types.js';

export const TRANSITIONS: Readonly<Record<RequestStatus, readonly RequestStatus[]>> = {
  // The worker decides: refuse, hold for an operator or for name validation, or claim to sign.
  queued: ['signing', 'pending_approval', 'pending_dcv', 'rejected', 'failed'],
  // An operator approves (back to the queue, approved) or refuses.
  pending_approval: ['queued', 'rejected'],
  // The protocol that validates names re-queues it, or gives up.
  pending_dcv: ['queued', 'rejected'],
  // A claimed request: signed, refused, failed for good, re-claimed once its lease ran out, or
  // released back to the queue by its worker after a transient error (it keeps its serial).
  signing: ['signing', 'queued', 'issued', 'rejected', 'failed'],
  issued: [],
  rejected: [],
  failed: [],
};

export class TransitionError extends Error {
  override readonly name = 'TransitionError';
}

export function canTransition(from: RequestStatus, to: RequestStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Throws for a transition the table does not allow: a programming error, never the caller's. */
export function assertTransitions(from: readonly RequestStatus[], to: RequestStatus): void {
  for (const f of from) if (!canTransition(f, to)) throw new TransitionError(`no transition from ${f} to ${to}`);
}

/** Statuses a waiting front-end can answer from (nothing more will happen without another event). */
export const SETTLED_STATUSES: readonly RequestStatus[] = ['issued', 'rejected', 'failed', 'pending_approval', 'pending_dcv'];
