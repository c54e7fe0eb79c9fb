// What both queue back-ends need to answer waitFor: callers waiting per request id, and the last
// outcomes (bounded), so that a waitFor arriving just after its job finished still hears how.
import type { JobOutcome } from './types.js';

export type FinalOutcome = Exclude<JobOutcome, 'timeout'>;
type Waiter = (outcome: JobOutcome) => void;

/** How many finished outcomes are remembered by default. */
export const RECENT_OUTCOMES = 5000;

export class Waiters {
  private readonly waiting = new Map<string, Set<Waiter>>();
  /** Oldest first (a Map keeps insertion order), so the first key is the one to drop. */
  private readonly recent = new Map<string, FinalOutcome>();

  constructor(private readonly remember = RECENT_OUTCOMES) {}

  /** The outcome of the last finished job for this id, while it is remembered. */
  known(requestId: string): FinalOutcome | undefined {
    return this.recent.get(requestId);
  }

  /** A new job for this id: an outcome remembered from an earlier one must not answer for it. */
  forget(requestId: string): void {
    this.recent.delete(requestId);
  }

  /** Remembers the outcome and resolves everyone waiting for this id. */
  settle(requestId: string, outcome: FinalOutcome): void {
    this.recent.delete(requestId);
    this.recent.set(requestId, outcome);
    if (this.recent.size > this.remember) {
      const oldest = this.recent.keys().next();
      if (!oldest.done) this.recent.delete(oldest.value);
    }
    const set = this.waiting.get(requestId);
    if (set) for (const waiter of [...set]) waiter(outcome);
  }

  /**
   * Resolves at the next settle() for this id, or with 'timeout' after timeoutMs or at
   * timeoutAll(). `finishEarly` lets the caller end this one wait by itself (the BullMQ back-end
   * asks Redis whether the job already finished); it does not touch the remembered outcomes.
   */
  wait(requestId: string, timeoutMs: number, finishEarly?: (finish: (outcome: FinalOutcome) => void) => void): Promise<JobOutcome> {
    return new Promise<JobOutcome>((resolve) => {
      let set = this.waiting.get(requestId);
      if (!set) {
        set = new Set();
        this.waiting.set(requestId, set);
      }
      const waiters = set;
      const waiter: Waiter = (outcome) => {
        // Whichever comes first wins; the others find it gone.
        if (!waiters.delete(waiter)) return;
        clearTimeout(timer);
        if (waiters.size === 0 && this.waiting.get(requestId) === waiters) this.waiting.delete(requestId);
        resolve(outcome);
      };
      const timer = setTimeout(() => waiter('timeout'), Math.max(0, timeoutMs));
      waiters.add(waiter);
      finishEarly?.(waiter);
    });
  }

  /** Ends every wait with 'timeout' (the queue is closed: nothing will settle them any more). */
  timeoutAll(): void {
    for (const set of [...this.waiting.values()]) for (const waiter of [...set]) waiter('timeout');
  }

  /** How many ids someone waits for: a finished or timed-out wait must leave nothing behind. */
  get waitingIds(): number {
    return this.waiting.size;
  }
}
