// The job queue: BullMQ on Redis when a Redis URL is configured (scaled out), in-process otherwise.
import { BullmqQueue } from './bullmqQueue.js';
import { MemoryQueue } from './memoryQueue.js';
import type { JobQueue } from './types.js';

export type { JobHandler, JobOutcome, JobQueue, QueueOptions } from './types.js';

export interface CreateQueueOptions {
  /** redis://host:port/db — BullMQ when set, the in-process queue otherwise. */
  redisUrl?: string;
  /** Redis key prefix (BullMQ only). Default 'certgate'. */
  prefix?: string;
  /** Queue name (BullMQ only); the in-process back-end keeps each queue in its own object. Default 'enrollment'. */
  queueName?: string;
  /** Total attempts per job including the first. Default 5. */
  attempts?: number;
  /** Base delay of the exponential backoff between attempts. Default 500 ms. */
  backoffMs?: number;
  /** BullMQ only: lock duration of a running job; a dead worker's job is retried after it. Default 10 s. */
  lockDurationMs?: number;
  /** BullMQ only: how often workers look for jobs of dead workers. Default 5 s. */
  stalledIntervalMs?: number;
  /** BullMQ only: the connection to Redis is back after it was lost (its jobs may be gone). */
  onReconnect?: () => void;
  /** Where background errors go (connection trouble, a failing onExhausted). Default console.error. */
  onError?: (message: string, error: Error) => void;
}

export const DEFAULT_ATTEMPTS = 5;
export const DEFAULT_BACKOFF_MS = 500;

export function createQueue(options: CreateQueueOptions = {}): JobQueue {
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS;
  const backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
  if (options.redisUrl) {
    return new BullmqQueue({
      redisUrl: options.redisUrl,
      prefix: options.prefix,
      queueName: options.queueName,
      attempts,
      backoffMs,
      lockDurationMs: options.lockDurationMs,
      stalledIntervalMs: options.stalledIntervalMs,
      onError: options.onError,
      onReconnect: options.onReconnect,
    });
  }
  return new MemoryQueue({ attempts, backoffMs, onError: options.onError });
}

export { BullmqQueue, type BullmqQueueOptions } from './bullmqQueue.js';
export { MemoryQueue, type MemoryQueueOptions } from './memoryQueue.js';
