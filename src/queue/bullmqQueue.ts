// BullMQ back-end for the scaled-out deployment: jobs live in Redis, any number of processes
// enqueue, work and wait.
//
// - jobId = request id (escaped when BullMQ would refuse it), so BullMQ itself ignores an enqueue
//   of a request whose job still exists (waiting, delayed for a retry, or running). Finished jobs are
//   removed at once (removeOnComplete/removeOnFail), so the request can be enqueued again later,
//   e.g. after approval.
// - Retries: `attempts` and exponential backoff (backoffMs * 2^(attempt-1)) are BullMQ job options.
//   A handler's RetryLaterError moves the job to BullMQ's delayed set for its delay, as the same attempt.
//   The processor itself calls handler.onExhausted when the last attempt throws, and awaits it
//   before rethrowing, so by the time the job is failed (and waitFor says so) the request has been
//   marked failed. It is called once per final failure; only a crash during onExhausted itself
//   makes it run again (after the stalled job is picked up again).
// - Dead workers: a running job holds a lock that its worker renews every lockDuration/2. When a
//   worker dies, the lock expires and another worker's stalled check (every stalledInterval) moves
//   the job back to waiting. A job whose workers died more than maxStalledCount times (a request
//   that crashes the process) is failed through onExhausted like any exhausted job.
// - waitFor: one QueueEvents reader per process, started on the first enqueue/waitFor from the
//   events stream's tail as it was then, so no outcome of a job enqueued here is missed.
//   Outcomes are remembered (bounded) to answer a waitFor that comes after the job finished. An
//   outcome from before the reader started (a job enqueued and finished by other processes
//   earlier) cannot be known: such a waitFor ends in 'timeout' and the caller reads the store.
// - close(): the worker stops fetching and waits for its running jobs; waiting and delayed jobs
//   stay in Redis for the next worker.
// - Connections: node-redis (the `redis` package). BullMQ recognises a node-redis client passed
//   as `connection` and wraps it in its own adapter. A Queue uses the client it is given, and so
//   does a Worker for its ordinary commands; neither closes it. A Worker's blocking fetch and
//   QueueEvents use duplicates of the client they are given, which BullMQ closes. This class
//   closes the clients it made: the producer (the Queue, ping, the events stream's tail) and the
//   worker's.
// - Lost connections: the clients come from redis.ts, which reconnects them by itself and keeps
//   node-redis's offline queue off (why is said there; here it was a worker that stopped
//   fetching). A command in flight when a connection drops is rejected, never reported as done.
//   - The producer's commands therefore fail at once while its connection is down. enqueue waits
//     for the reconnect itself and retries (the job id makes a repeat safe) for up to
//     reconnectWaitMs, then reports the failure; ping fails.
//   - BullMQ wants the worker's and the events reader's commands to wait for the reconnect (as
//     ioredis does with maxRetriesPerRequest: null); failing at once would make its fetch loop spin
//     without ever yielding to the reconnect. Their clients are wrapped (waitingWhileDown) so that
//     a command issued while the connection is down is held back until it is up again, and only
//     then handed to node-redis. close() releases held commands (they fail).
//   A job whose pick-up reply is lost stays active, unknown to the worker, until its lock expires
//   and the stalled check hands it out again (as for a dead worker); a worker that cannot record a
//   finished job retries it. So a lost connection can delay a job by up to lockDuration +
//   stalledInterval, or make it run again; that is allowed (handlers are idempotent).
import { ConnectionClosedError, DelayedError, Queue, QueueEvents, QueueKeys, UnrecoverableError, Worker, type Job } from 'bullmq';
import { ClientClosedError, ClientOfflineError, ConnectionTimeoutError, DisconnectsClientError, SocketClosedUnexpectedlyError } from 'redis';
import { checkQueueOptions, RetryLaterError, type JobHandler, type JobOutcome, type JobQueue, type QueueOptions } from './types.js';
import { closeRedisClient, redisClient, type RedisClient } from './redis.js';
import { Waiters } from './waiters.js';

export interface BullmqQueueOptions extends QueueOptions {
  /** redis://[user:password@]host:port/db or rediss://... */
  redisUrl: string;
  /** Redis key prefix. Default 'certgate'. */
  prefix?: string;
  /** Default 'enrollment'. */
  queueName?: string;
  /**
   * How long a running job's lock lasts without renewal (the worker renews it every half of it).
   * Default 10 s. Shorter: a dead worker's job is taken over sooner, at the cost of more lock
   * renewals, and of a job whose worker is stalled longer than this (a blocked event loop, a slow
   * Redis) being handed to a second runner: allowed, since handlers are idempotent.
   */
  lockDurationMs?: number;
  /** How often workers look for jobs whose lock expired. Default 5 s. */
  stalledIntervalMs?: number;
  /** A job whose workers died more often than this fails (through onExhausted). Default 2. */
  maxStalledCount?: number;
  /** Approximate length the events stream is trimmed to. Default 50,000. */
  eventsMaxLen?: number;
  /**
   * How long enqueue waits for a lost or not yet established connection to Redis to come (back)
   * before it fails. Default 10 s.
   */
  reconnectWaitMs?: number;
  /** Where background errors (connection trouble, a failing onExhausted) go. Default console.error. */
  onError?: (message: string, error: Error) => void;
  /**
   * Called when the producer's connection to Redis is up again after it was lost. Redis may have
   * restarted without its data: jobs of requests still to do may be gone, and the caller can
   * enqueue them again (enqueue is idempotent).
   */
  onReconnect?: () => void;
}

interface JobData {
  requestId: string;
  /** Times the handler asked to run later (RetryLaterError): pick-ups that were no death. */
  delays?: number;
}

const JOB_NAME = 'enroll';
export const DEFAULT_LOCK_DURATION_MS = 10_000;
export const DEFAULT_STALLED_INTERVAL_MS = 5_000;
const PING_TIMEOUT_MS = 5000;

export class BullmqQueue implements JobQueue {
  readonly kind = 'bullmq' as const;

  private readonly options: Required<Omit<BullmqQueueOptions, 'onError' | 'onReconnect'>>;
  private readonly onError: (message: string, error: Error) => void;
  /** The producer: the Queue's connection; also answers ping and reads the events stream's tail. */
  private readonly client: RedisClient;
  private readonly queue: Queue<JobData>;
  private worker: Worker<JobData> | undefined;
  /** The worker's connection for its ordinary commands (its blocking fetch uses a duplicate). */
  private workerClient: RedisClient | undefined;
  /** Resolves when close() starts: commands held back while a connection is down fail then. */
  private readonly closingStarted: Promise<void>;
  private startClosing!: () => void;
  private events: QueueEvents | undefined;
  private eventsReady: Promise<void> | undefined;
  /** Why the producer's connection is down, while it is (for error messages). */
  private producerDown: Error | undefined;
  /** Errors already passed to onError by a client's own 'error' listener. */
  private readonly reported = new WeakSet<Error>();
  private readonly waiters = new Waiters();
  private closing = false;
  private closed = false;
  private closePromise: Promise<void> | undefined;

  constructor(options: BullmqQueueOptions) {
    checkQueueOptions(options);
    this.options = {
      redisUrl: options.redisUrl,
      attempts: options.attempts,
      backoffMs: options.backoffMs,
      prefix: options.prefix ?? 'certgate',
      queueName: options.queueName ?? 'enrollment',
      lockDurationMs: options.lockDurationMs ?? DEFAULT_LOCK_DURATION_MS,
      stalledIntervalMs: options.stalledIntervalMs ?? DEFAULT_STALLED_INTERVAL_MS,
      maxStalledCount: options.maxStalledCount ?? 2,
      eventsMaxLen: options.eventsMaxLen ?? 50_000,
      reconnectWaitMs: options.reconnectWaitMs ?? 10_000,
    };
    this.onError = options.onError ?? ((message, error) => console.error(message, error));
    this.closingStarted = new Promise<void>((resolve) => (this.startClosing = resolve));
    this.client = this.newClient('producer');
    let wasUp = false;
    let lost = false;
    this.client.on('error', (err: Error) => {
      if (!this.client.isReady) this.producerDown = err;
      if (wasUp) lost = true;
    });
    this.client.on('ready', () => {
      this.producerDown = undefined;
      const again = lost;
      wasUp = true;
      lost = false;
      if (again && !this.closing) options.onReconnect?.();
    });
    this.queue = new Queue<JobData>(this.options.queueName, {
      connection: this.client,
      prefix: this.options.prefix,
      streams: { events: { maxLen: this.options.eventsMaxLen } },
      defaultJobOptions: {
        attempts: this.options.attempts,
        backoff: { type: 'exponential', delay: this.options.backoffMs },
        removeOnComplete: true,
        removeOnFail: true,
      },
    });
    this.queue.on('error', (err) => this.reportError('queue', err));
  }

  async enqueue(requestId: string): Promise<void> {
    if (this.closing) throw new Error('queue is closed');
    await this.ensureEvents();
    this.waiters.forget(requestId);
    // Safe to repeat: the job id makes a second add of the same job a no-op.
    await this.retryWhileReconnecting(() => this.queue.add(JOB_NAME, { requestId }, { jobId: toJobId(requestId) }));
  }

  async startWorker(handler: JobHandler, concurrency: number): Promise<void> {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    }
    if (this.closing) throw new Error('queue is closed');
    if (this.worker) throw new Error('worker already started');
    this.workerClient = this.newClient('worker');
    const worker = new Worker<JobData>(this.options.queueName, (job, token) => this.processJob(handler, job, token), {
      connection: this.waitingWhileDown(this.workerClient),
      prefix: this.options.prefix,
      concurrency,
      lockDuration: this.options.lockDurationMs,
      stalledInterval: this.options.stalledIntervalMs,
      // One more than ours, so that processJob sees the job once more and fails it through
      // onExhausted instead of BullMQ failing it behind our back.
      maxStalledCount: this.options.maxStalledCount + 1,
    });
    worker.on('error', (err) => this.reportError('worker', err));
    this.worker = worker;
    await worker.waitUntilReady();
  }

  async waitFor(requestId: string, timeoutMs: number): Promise<JobOutcome> {
    if (this.closed) return 'timeout';
    const deadline = Date.now() + timeoutMs;
    await this.ensureEvents();
    const known = this.waiters.known(requestId);
    if (known) return known;
    return this.waiters.wait(requestId, deadline - Date.now(), (finish) => {
      // Finished before our reader could see it and still kept? (Normally finished jobs are removed.)
      this.queue.getJobState(toJobId(requestId)).then(
        (state) => {
          if (state === 'completed' || state === 'failed') finish(state);
        },
        () => undefined,
      );
    });
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('queue is closed');
    // Known to be down (it failed since it was last up): say so now rather than after the timeout.
    if (!this.client.isReady && this.producerDown) throw unreachable(this.producerDown);
    let timer: NodeJS.Timeout | undefined;
    let onError: ((err: Error) => void) | undefined;
    const deadline = Date.now() + PING_TIMEOUT_MS;
    try {
      const reply = await Promise.race([
        // Still connecting for the first time: wait for it, up to the deadline...
        this.whenReady(this.client, deadline).then(() => this.client.ping()),
        // ...unless that attempt fails.
        new Promise<never>((_, reject) => {
          onError = (err) => {
            if (!this.client.isReady) reject(unreachable(err));
          };
          this.client.on('error', onError);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`Redis did not answer PING within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
        }),
      ]);
      if (reply !== 'PONG') throw new Error(`unexpected PING reply from Redis: ${String(reply)}`);
    } finally {
      clearTimeout(timer);
      if (onError) this.client.off('error', onError);
    }
  }

  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.startClosing();
    try {
      // First the worker, waiting for its running jobs; the events reader stays up meanwhile so
      // that waiters in this process hear how those jobs ended.
      await this.worker?.close();
      if (this.workerClient) await closeRedisClient(this.workerClient);
      await this.eventsReady?.catch(() => undefined);
      await this.events?.close();
      await this.queue.close();
      await closeRedisClient(this.client);
    } finally {
      this.closed = true;
      this.waiters.timeoutAll();
    }
  }

  private async processJob(handler: JobHandler, job: Job<JobData>, token: string | undefined): Promise<void> {
    const requestId = typeof job.data?.requestId === 'string' ? job.data.requestId : fromJobId(String(job.id));
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    // attemptsStarted counts every pick-up; starts that ended neither in success nor in a failed
    // attempt are workers that died holding this job.
    const deaths = job.attemptsStarted - job.attemptsMade - 1 - (job.data?.delays ?? 0);
    if (deaths > this.options.maxStalledCount) {
      const error = new Error(`the worker processing this request died ${deaths === 1 ? 'once' : `${deaths} times`}`);
      await this.exhausted(handler, requestId, error);
      throw new UnrecoverableError(error.message);
    }
    try {
      await handler.process(requestId, attempt);
    } catch (e) {
      if (e instanceof RetryLaterError) {
        // Delayed as the same attempt (BullMQ skips the attempt count); the pick-up is counted so it is not taken for a death.
        await job.updateData({ ...job.data, requestId, delays: (job.data?.delays ?? 0) + 1 });
        await job.moveToDelayed(Date.now() + e.delayMs, token);
        throw new DelayedError();
      }
      const error = toError(e);
      if (attempt >= attempts) await this.exhausted(handler, requestId, error);
      throw error;
    }
  }

  /**
   * Runs `operation` on the producer connection, and again while it fails because that connection
   * is down or was lost and node-redis is re-establishing it, for up to reconnectWaitMs.
   */
  private async retryWhileReconnecting<T>(operation: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.options.reconnectWaitMs;
    for (;;) {
      await this.whenReady(this.client, deadline);
      try {
        return await operation();
      } catch (err) {
        if (this.closing || !isConnectionError(err)) throw err;
        if (Date.now() >= deadline) throw unreachable(this.producerDown ?? (err as Error));
        // The connection may still look ready for a moment after it was lost.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  /** A client connecting in the background, whose errors are reported once (BullMQ passes them on too). */
  private newClient(role: string): RedisClient {
    return redisClient(this.options.redisUrl, role, (message, err) => {
      this.reportError(message, err);
      this.reported.add(err);
    });
  }

  /**
   * `client` for BullMQ, except that a command issued while its connection is down waits until the
   * connection is up again (or close() starts) before it goes to node-redis. The same holds for its
   * duplicates. Members that are not Redis commands are the client's own.
   */
  private waitingWhileDown(client: RedisClient): RedisClient {
    return new Proxy(client, {
      get: (target, property) => {
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        const method = value as (...args: unknown[]) => unknown;
        if (property === 'duplicate') {
          return (...args: unknown[]) => this.waitingWhileDown(method.apply(target, args) as RedisClient);
        }
        if (property === 'connect') {
          // BullMQ reopens a blocking connection after an interrupted read. Once close() has
          // started that must fail: with Redis down it would wait for it, and close() with it.
          return () => (this.closing ? Promise.reject(new ClientClosedError()) : method.apply(target));
        }
        if (typeof property === 'symbol' || property.startsWith('_') || NOT_COMMANDS.has(property)) {
          return method.bind(target);
        }
        return async (...args: unknown[]) => {
          if (!target.isReady && !this.closing) await this.whenReady(target, Infinity);
          return method.apply(target, args);
        };
      },
    });
  }

  /**
   * Resolves true when `client` is ready; false at `deadline`, when the client is closed, or when
   * close() starts.
   */
  private async whenReady(client: RedisClient, deadline: number): Promise<boolean> {
    if (client.isReady) return true;
    if (!client.isOpen || this.closing || Date.now() >= deadline) return false;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        nextReady(client),
        this.closingStarted,
        ...(Number.isFinite(deadline) ? [new Promise<void>((resolve) => (timer = setTimeout(resolve, deadline - Date.now())))] : []),
      ]);
    } finally {
      clearTimeout(timer);
    }
    return client.isReady;
  }

  private async exhausted(handler: JobHandler, requestId: string, error: Error): Promise<void> {
    try {
      await handler.onExhausted(requestId, error);
    } catch (e) {
      this.onError(`onExhausted failed for request ${requestId}`, toError(e));
    }
  }

  private ensureEvents(): Promise<void> {
    this.eventsReady ??= this.startEvents();
    return this.eventsReady;
  }

  private async startEvents(): Promise<void> {
    let lastEventId: string;
    try {
      lastEventId = await this.eventsTail();
    } catch (err) {
      this.eventsReady = undefined; // let the next call try again
      throw err;
    }
    // QueueEvents reads from a duplicate of the client it is given (and closes that), so this one
    // is never opened.
    const events = new QueueEvents(this.options.queueName, {
      connection: redisClient(this.options.redisUrl, 'events', () => undefined, { connect: false }),
      prefix: this.options.prefix,
      lastEventId,
      blockingTimeout: 5000,
    });
    events.on('error', (err) => this.reportError('events', err));
    events.on('added', ({ jobId }) => this.waiters.forget(fromJobId(jobId)));
    events.on('completed', ({ jobId }) => this.waiters.settle(fromJobId(jobId), 'completed'));
    // Emitted only when a job is finally failed; a failed attempt that will be retried emits
    // 'delayed' (or 'waiting' without backoff) instead.
    events.on('failed', ({ jobId }) => this.waiters.settle(fromJobId(jobId), 'failed'));
    this.events = events;
  }

  /** Id of the newest event in the stream, or 0-0 when there is none yet. */
  private async eventsTail(): Promise<string> {
    if (this.closed) throw new Error('queue is closed');
    const key = `${this.options.prefix}:${this.options.queueName}:events`;
    const newest = await this.retryWhileReconnecting(() => this.client.xRevRange(key, '+', '-', { COUNT: 1 }));
    return newest[0]?.id ?? '0-0';
  }

  private reportError(source: string, err: Error): void {
    // A client's own 'error' listener reported it already; BullMQ passes it on as well.
    if (this.reported.has(err)) return;
    // Closing connections interrupt blocking reads; that is not worth a log line. Neither is a
    // reconnect attempt that was still under way when the queue was closed.
    if (this.closed || (this.closing && isConnectionError(err))) return;
    this.onError(source.startsWith('Redis') ? `${source} error` : `BullMQ ${source} error`, err);
  }
}

// BullMQ refuses job ids that contain ':' or look like integers. A job's keys also sit beside the
// queue's own (prefix:queue:<job id>, <job id>:failed, ...), so an id named like one of those
// ('marker', 'wait', 'events', 'metrics', ...) would make BullMQ's scripts read or overwrite the
// queue's bookkeeping (a job 'marker' fails with WRONGTYPE). Ids that are none of these (UUIDs,
// ULIDs) are used as they are; others, and any id starting with the escape marker, become the
// marker plus their base64url form. The mapping is one-to-one.
const ESCAPE = 'x~';
const QUEUE_KEY_NAMES = new Set([...Object.keys(new QueueKeys().getKeys('queue')), 'metrics']);

export function toJobId(requestId: string): string {
  if (requestId !== '' && !requestId.includes(':') && !/^\d+$/.test(requestId) && !requestId.startsWith(ESCAPE) && !QUEUE_KEY_NAMES.has(requestId)) {
    return requestId;
  }
  return ESCAPE + Buffer.from(requestId, 'utf8').toString('base64url');
}

export function fromJobId(jobId: string): string {
  return jobId.startsWith(ESCAPE) ? Buffer.from(jobId.slice(ESCAPE.length), 'base64url').toString('utf8') : jobId;
}

function unreachable(cause: Error): Error {
  return new Error(`no connection to Redis: ${cause.message}`, { cause });
}

/** The connection is down or was lost (as opposed to Redis answering with an error). */
function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (
    err instanceof ClientOfflineError ||
    err instanceof SocketClosedUnexpectedlyError ||
    err instanceof ConnectionTimeoutError ||
    err instanceof ClientClosedError ||
    err instanceof DisconnectsClientError ||
    err instanceof ConnectionClosedError
  ) {
    return true;
  }
  const code = (err as NodeJS.ErrnoException).code;
  return (
    (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)$/.test(code)) ||
    /connection (is )?closed|ECONNREFUSED|ECONNRESET|EPIPE/i.test(err.message)
  );
}

/**
 * Members of a node-redis client that are not Redis commands (besides those starting with _).
 * multi() only builds a transaction; BullMQ runs MULTI only for what this class never asks of it
 * (bulk adds, flows, job logs).
 */
const NOT_COMMANDS = new Set([
  'on', 'once', 'off', 'addListener', 'prependListener', 'prependOnceListener', 'removeListener',
  'removeAllListeners', 'emit', 'listeners', 'rawListeners', 'listenerCount', 'eventNames',
  'setMaxListeners', 'getMaxListeners', 'connect', 'close', 'destroy', 'disconnect', 'quit', 'QUIT',
  'multi', 'MULTI', 'ref', 'unref', 'createPool', 'withCommandOptions', 'withTypeMapping',
  'withAbortSignal', 'asap', 'legacy', 'scanIterator', 'hScanIterator', 'hScanNoValuesIterator',
  'sScanIterator', 'zScanIterator',
]);

const readyWaits = new WeakMap<RedisClient, Promise<void>>();

/** Resolves at the client's next 'ready' (or 'end'); one set of listeners however many wait. */
function nextReady(client: RedisClient): Promise<void> {
  let wait = readyWaits.get(client);
  if (!wait) {
    wait = new Promise<void>((resolve) => {
      const done = (): void => {
        client.off('ready', done);
        client.off('end', done);
        readyWaits.delete(client);
        resolve();
      };
      client.on('ready', done);
      client.on('end', done);
    });
    readyWaits.set(client, wait);
  }
  return wait;
}

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
