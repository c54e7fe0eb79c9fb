// Fire-and-forget notices to every process of one deployment: Redis pub/sub when scaled out,
// an in-process emitter otherwise. Used for what makes other processes' caches stale (a
// revocation): a lost notice only costs freshness up to the caches' own age bound, so there is no
// retry and no persistence, and a failed publish is reported, never thrown.
import { EventEmitter } from 'node:events';
import { createClient } from 'redis';

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
  private readonly publisher;
  private readonly subscriber;

  constructor(
    redisUrl: string,
    private readonly prefix: string,
    private readonly onError: (message: string, error: Error) => void,
  ) {
    // No offline queue for the publisher: a notice that cannot go now is stale by the time it could.
    this.publisher = createClient({ url: redisUrl, disableOfflineQueue: true });
    this.subscriber = createClient({ url: redisUrl });
    this.publisher.on('error', (e: Error) => onError('Redis broadcast connection', e));
    this.subscriber.on('error', (e: Error) => onError('Redis broadcast subscription', e));
    // Both keep reconnecting on their own, for as long as they are open; every failed attempt is
    // an 'error' event. node-redis subscribes again after a reconnect.
    this.publisher.connect().catch(() => undefined);
    this.subscriber.connect().catch(() => undefined);
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
    // Queued until the subscriber's connection is up.
    this.subscriber.subscribe(`${this.prefix}:${channel}`, handler).catch((e: Error) => this.onError(`could not subscribe to ${channel}`, e));
  }

  async close(): Promise<void> {
    for (const client of [this.publisher, this.subscriber]) {
      if (client.isReady) await client.close().catch(() => client.destroy());
      else if (client.isOpen) client.destroy();
    }
  }
}

export function createBroadcast(options: BroadcastOptions = {}): Broadcast {
  const onError = options.onError ?? ((message: string, error: Error) => console.error(message, error.message));
  return options.redisUrl ? new RedisBroadcast(options.redisUrl, options.prefix ?? 'certgate', onError) : new LocalBroadcast();
}
