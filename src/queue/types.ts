// One queue interface, two back-ends: in-process (embedded) and BullMQ on Redis (scaled out).
// A job carries only the id of an enrollment request; everything else lives in the store.

export interface JobHandler {
  /**
   * Processes one request. Resolves when the job is done (whatever the outcome for the request).
   * Any error it throws asks for a retry with backoff: the queue cannot tell a passing failure
   * from a lasting one, and a handler that knows the outcome is final records it and returns.
   * When the last attempt fails, `onExhausted` is called instead.
   */
  process(requestId: string, attempt: number): Promise<void>;
  /** Called once after the final failed attempt; should mark the request `failed`. */
  onExhausted(requestId: string, error: Error): Promise<void>;
}

/**
 * Thrown by a handler whose work waits on someone else for a known time (an upstream CA's
 * Retry-After): the job runs again after `delayMs`. It is not a failed attempt: neither the
 * backoff nor the attempt count applies.
 */
export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError';
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
  }
}

export interface QueueOptions {
  /** Total attempts per job including the first. */
  attempts: number;
  /** Base delay for exponential backoff: base, 2*base, 4*base, ... */
  backoffMs: number;
}

/** Both back-ends refuse the same nonsense up front. */
export function checkQueueOptions(options: QueueOptions): void {
  if (!Number.isInteger(options.attempts) || options.attempts < 1) {
    throw new RangeError(`attempts must be a positive integer, got ${options.attempts}`);
  }
  if (!(options.backoffMs >= 0)) throw new RangeError(`backoffMs must be >= 0, got ${options.backoffMs}`);
}

export type JobOutcome = 'completed' | 'failed' | 'timeout';

export interface JobQueue {
  readonly kind: 'memory' | 'bullmq';
  /** Adds a job for this request. Adding a request that is already waiting or running is a no-op. */
  enqueue(requestId: string): Promise<void>;
  /** Starts consuming jobs in this process. */
  startWorker(handler: JobHandler, concurrency: number): Promise<void>;
  /**
   * Resolves when the job for this request completes or finally fails, or after timeoutMs.
   * Works across processes on the BullMQ back-end.
   */
  waitFor(requestId: string, timeoutMs: number): Promise<JobOutcome>;
  /** Throws when the queue back-end cannot be reached. */
  ping(): Promise<void>;
  /** Graceful: stops taking jobs, lets in-flight jobs finish, then closes connections. */
  close(): Promise<void>;
}
