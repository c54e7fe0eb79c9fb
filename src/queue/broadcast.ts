// Fire-and-forget notices to every process of one deployment: Redis pub/sub when scaled out,
// an in-process emitter otherwise. Used for what makes other processes' caches stale (a
// revocation): a lost notice only costs freshness up to the caches' own age bound, so there is no
// retry and no persistence, and a failed publish is reported, never thrown.
import { EventEmitter } from 'node:events';
import { closeRedisClient, redisClient, type RedisClient } from './redis.js';

export interface Broadcast {
  publish(channel: string, message: string): Promise<void>;
  /** Calls `handler` for every message on `channel`, from this process and the others. */
  subscribe(channel: string, handler: (message: string) => void): void;
  close(): Promise<void>;
}

export interface BroadcastOptions {
  redisUrl?: string;
  /** Namespaces the channels (Redis pub/sub channels are shared by every database number). */
  prefix?: string;
  onError?: (message: string, error: Error) => void;
}

class LocalBroadcast implements Broadcast {
  private readonly emitter = new EventEmitter();

  async publish(channel: string, message: string): Promise<void> {
    this.emitter.emit(channel, message);
  }

  subscribe(channel: string, handler: (message: string) => void): void {
    this.emitter.on(channel, handler);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

const CONNECT_WAIT_MS = 2000;

class RedisBroadcast implements Broadcast {
  // A subscribed connection can do nothing else, so publishing has its own.
  private readonly publisher: RedisClient;
  private readonly subscriber: RedisClient;
  /** Subscriptions Redis has not confirmed yet: made on the subscriber's next 'ready'. */
  private readonly pending = new Map<string, Set<(message: string) => void>>();

  constructor(
    redisUrl: string,
    private readonly prefix: string,
    private readonly onError: (message: string, error: Error) => void,
  ) {
    // Both have no offline queue (redis.ts). For the publisher that costs nothing: a notice that
    // cannot go now is stale by the time it could. For the subscriber it means a SUBSCRIBE is
    // only sent on a live connection (one sent while the connection is down is dropped with the
    // next failed attempt, and its handler with it): subscribe() keeps what Redis has not
    // confirmed and sends it when the subscriber is ready. What Redis did confirm, node-redis
    // subscribes to again by itself as part of every reconnect, before it reports 'ready'.
    this.publisher = redisClient(redisUrl, 'broadcast', onError);
    this.subscriber = redisClient(redisUrl, 'broadcast subscription', onError);
    this.subscriber.on('ready', () => this.subscribePending());
  }

  /** Resolves once the publisher is connected, or after `ms` (a short-lived CLI process publishes right after it starts). */
  private publisherReady(ms: number): Promise<void> {
    if (this.publisher.isReady || !this.publisher.isOpen) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.publisher.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.publisher.on('ready', done);
    });
  }

  async publish(channel: string, message: string): Promise<void> {
    try {
      await this.publisherReady(CONNECT_WAIT_MS);
      await this.publisher.publish(`${this.prefix}:${channel}`, message);
    } catch (e) {
      this.onError(`could not broadcast on ${channel}`, e as Error);
    }
  }

  subscribe(channel: string, handler: (message: string) => void): void {
    const handlers = this.pending.get(channel) ?? new Set();
    handlers.add(handler);
    this.pending.set(channel, handlers);
    if (this.subscriber.isReady) this.subscribePending();
  }

  private subscribePending(): void {
    for (const [channel, handlers] of this.pending) {
      for (const handler of handlers) {
        this.subscriber.subscribe(`${this.prefix}:${channel}`, handler).then(
          () => {
            handlers.delete(handler);
            if (handlers.size === 0 && this.pending.get(channel) === handlers) this.pending.delete(channel);
          },
          // Still pending: the next 'ready' tries again.
          (e: Error) => this.onError(`could not subscribe to ${channel}`, e),
        );
      }
    }
  }

  async close(): Promise<void> {
    this.pending.clear();
    await closeRedisClient(this.publisher);
    // A subscriber has no replies worth waiting for.
    if (this.subscriber.isOpen) this.subscriber.destroy();
  }
}

export function createBroadcast(options: BroadcastOptions = {}): Broadcast {
  const onError = options.onError ?? ((message: string, error: Error) => console.error(message, error.message));
  return options.redisUrl ? new RedisBroadcast(options.redisUrl, options.prefix ?? 'certgate', onError) : new LocalBroadcast();
}
