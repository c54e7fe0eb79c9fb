// In-process job queue for the embedded deployment: one process, no Redis.
//
// Semantics (shared with the BullMQ back-end, see test/queue.contract.test.ts):
// - FIFO, at most `concurrency` handlers at a time.
// - Enqueueing an id that is waiting, running or waiting for a retry is a no-op; once its job has
//   finished (completed or finally failed) the id can be enqueued again.
// - A failed attempt is retried after backoffMs * 2^(attempt-1), up to `attempts` attempts in
//   total; after the last one handler.onExhausted is awaited, then the job counts as failed.
// - A handler that throws RetryLaterError runs again after its delay, as the same attempt.
// - close() stops taking jobs, waits for the handlers that are running (including their
//   onExhausted) and DROPS what has not started: waiting jobs and pending retries. Nothing is
//   lost for good: their requests are still `queued` in the store, and start-up recovery
//   re-queues those. A handler that fails while the queue is closing is not retried either.
// - Nothing survives the process. A job whose process dies is recovered the same way.
import { Fifo } from './fifo.js';
import { checkQueueOptions, RetryLaterError, type JobHandler, type JobOutcome, type JobQueue, type QueueOptions } from './types.js';
import { Waiters, type FinalOutcome } from './waiters.js';

interface PendingJob {
  readonly id: string;
  readonly attempt: number;
}

export interface MemoryQueueOptions extends QueueOptions {
  /** Where errors thrown by handler.onExhausted go (they cannot be retried). Default: console.error. */
  onError?: (message: string, error: Error) => void;
}

export class MemoryQueue implements JobQueue {
  readonly kind = 'memory' as const;

  private readonly ready = new Fifo<PendingJob>();
  /** Ids waiting, running or waiting for a retry. */
  private readonly pending = new Set<string>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private readonly waiters = new Waiters();
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly onError: (message: string, error: Error) => void;
  private handler: JobHandler | undefined;
  private concurrency = 0;
  private pumpScheduled = false;
  private closing = false;
  private closed = false;
  private closePromise: Promise<void> | undefined;

  constructor(options: MemoryQueueOptions) {
    checkQueueOptions(options);
    this.attempts = options.attempts;
    this.backoffMs = options.backoffMs;
    this.onError = options.onError ?? ((message, error) => console.error(message, error));
  }

  async enqueue(requestId: string): Promise<void> {
    if (this.closing) throw new Error('queue is closed');
    if (this.pending.has(requestId)) return;
    this.pending.add(requestId);
    this.waiters.forget(requestId);
    this.ready.push({ id: requestId, attempt: 1 });
    this.schedulePump();
  }

  async startWorker(handler: JobHandler, concurrency: number): Promise<void> {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    }
    if (this.closing) throw new Error('queue is closed');
    if (this.handler) throw new Error('worker already started');
    this.handler = handler;
    this.concurrency = concurrency;
    this.schedulePump();
  }

  waitFor(requestId: string, timeoutMs: number): Promise<JobOutcome> {
    const known = this.waiters.known(requestId);
    if (known) return Promise.resolve(known);
    if (this.closed) return Promise.resolve('timeout');
    return this.waiters.wait(requestId, timeoutMs);
  }

  async ping(): Promise<void> {
    // Nothing to reach.
  }

  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    // Dropped (see the header): pending retries and jobs that have not started.
    for (const [id, timer] of this.retryTimers) {
      clearTimeout(timer);
      this.pending.delete(id);
    }
    this.retryTimers.clear();
    for (const job of this.ready.drain()) this.pending.delete(job.id);
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    this.closed = true;
    // Whoever still waits would wait for nothing.
    this.waiters.timeoutAll();
  }

  private schedulePump(): void {
    if (this.pumpScheduled || !this.handler || this.closing) return;
    this.pumpScheduled = true;
    // Handlers never start inside enqueue(); the caller's synchronous code runs first.
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    const handler = this.handler;
    if (!handler) return;
    while (!this.closing && this.running.size < this.concurrency && this.ready.length > 0) {
      const job = this.ready.shift() as PendingJob;
      const run = this.run(handler, job);
      this.running.add(run);
      void run.finally(() => {
        this.running.delete(run);
        this.pump();
      });
    }
  }

  /** Never rejects. */
  private async run(handler: JobHandler, job: PendingJob): Promise<void> {
    let error: Error | undefined;
    try {
      await handler.process(job.id, job.attempt);
    } catch (e) {
      error = toError(e);
    }
    if (!error) {
      this.finish(job.id, 'completed');
      return;
    }
    const later = error instanceof RetryLaterError ? error : null;
    if (later || job.attempt < this.attempts) {
      if (this.closing) {
        this.pending.delete(job.id); // retry dropped, see the header
        return;
      }
      const delay = later ? later.delayMs : this.backoffMs * 2 ** (job.attempt - 1);
      const timer = setTimeout(() => {
        this.retryTimers.delete(job.id);
        if (this.closing) return;
        this.ready.push({ id: job.id, attempt: later ? job.attempt : job.attempt + 1 });
        this.pump();
      }, delay);
      this.retryTimers.set(job.id, timer);
      return;
    }
    try {
      await handler.onExhausted(job.id, error);
    } catch (e) {
      this.onError(`onExhausted failed for request ${job.id}`, toError(e));
    }
    this.finish(job.id, 'failed');
  }

  private finish(id: string, outcome: FinalOutcome): void {
    this.pending.delete(id);
    this.waiters.settle(id, outcome);
  }
}

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
