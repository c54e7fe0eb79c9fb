// The one way this gateway connects to Redis: BullMQ, the broadcast, the rate counter and the
// one-time tokens (ACME's nonces) all get their clients here, so they share one policy.
//
// - No offline queue, for every client. In node-redis 5.12, commands queued while a connection is
//   being re-established can be written into the dead socket and the new connection's replies
//   then paired with the wrong commands (seen after CLIENT KILL under load: a client wedged for
//   good). So a command issued while the connection is down fails at once (ClientOfflineError);
//   each user decides what that means for it (bullmqQueue.ts waits and retries, the rate counter
//   counts nothing, a publish is reported, a one-time token fails the request).
// - Reconnect: for as long as the client is open, exponential backoff up to 2 s with a little
//   jitter (so that the processes of a deployment do not all knock at once).
// - Errors: every failed attempt is an 'error' event, which would crash the process if nobody
//   listened; each goes to the caller's onError as `Redis <role> connection`.
import { createClient } from 'redis';

export type RedisClient = ReturnType<typeof createClient>;
export type RedisErrorSink = (message: string, error: Error) => void;

const MAX_RECONNECT_DELAY_MS = 2000;
/** How long closeRedisClient lets a client's pending replies arrive before dropping the connection. */
const CLOSE_GRACE_MS = 2000;

export function reconnectDelay(retries: number): number {
  return Math.min(2 ** retries * 50, MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 200);
}

/**
 * A client for `url` (redis://[user:password@]host:port/db, rediss:// for TLS) under the policy
 * above. With `connect: false` it is not opened (BullMQ's QueueEvents opens duplicates of the
 * client it is given, never that client itself) and reports nothing.
 */
export function redisClient(url: string, role: string, onError: RedisErrorSink, options: { connect?: boolean } = {}): RedisClient {
  const client = createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy: reconnectDelay } });
  if (options.connect === false) return client;
  client.on('error', (err: Error) => onError(`Redis ${role} connection`, err));
  connecting.add(client);
  client.on('reconnecting', () => connecting.add(client));
  client.on('connect', () => connecting.delete(client));
  client.on('error', () => connecting.delete(client));
  client.connect().catch(() => undefined); // every failed attempt was emitted as 'error'
  return client;
}

/**
 * Clients whose socket is being opened. node-redis 5.12 drops a client destroyed then as closed
 * but still completes that connection and keeps its socket, out of reach (it kept a short-lived
 * command, a second `certgate init`, from exiting), so closeRedisClient lets the attempt end first.
 */
const connecting = new WeakSet<RedisClient>();

/**
 * Lets the replies still due arrive (for up to CLOSE_GRACE_MS), then drops the connection. A
 * client that is not connected (Redis down, or reconnecting) is dropped at once, which also ends
 * its reconnect attempts.
 */
export async function closeRedisClient(client: RedisClient): Promise<void> {
  if (!client.isOpen) return;
  if (connecting.has(client)) {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_GRACE_MS);
      client.once('connect', resolve).once('error', resolve);
    });
    clearTimeout(timer);
  }
  if (client.isReady) {
    // Replies come in order: once this PING is answered, so is everything sent before it. (Not
    // client.close(), which waits for them without a limit, and after which destroy() no longer
    // drops the socket.)
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.ping().catch(() => undefined),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS))),
    ]);
    clearTimeout(timer);
  }
  if (client.isOpen) client.destroy();
}

/** A user of Redis with a client of its own and its keys under `<prefix>:`. */
export abstract class RedisKeyspace {
  protected readonly client: RedisClient;

  constructor(
    redisUrl: string,
    private readonly prefix: string,
    role: string,
    onError: RedisErrorSink,
  ) {
    this.client = redisClient(redisUrl, role, onError);
  }

  protected key(...parts: (string | number)[]): string {
    return `${this.prefix}:${parts.join(':')}`;
  }

  close(): Promise<void> {
    return closeRedisClient(this.client);
  }
}
