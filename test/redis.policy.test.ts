// The one Redis policy (src/queue/redis.ts: no offline queue, reconnect for as long as a client is
// open) as each user of it lives with it while Redis is down: the rate counter counts nothing,
// one-time tokens fail at once as an outage, a publish is reported and not thrown, the queue's
// ping fails; and each works again once Redis is back, the broadcast's subscriptions included
// (also those made while Redis was still away).
//
// Runs its own redis-server: it is killed and started again here.
import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisOneTimeTokens } from '../src/core/oneTimeTokens.js';
import { RedisRateCounter } from '../src/core/rateCounter.js';
import { isDependencyDown } from '../src/core/unavailable.js';
import { createBroadcast, type Broadcast } from '../src/queue/broadcast.js';
import { BullmqQueue } from '../src/queue/bullmqQueue.js';
import { closeRedisClient, reconnectDelay, redisClient } from '../src/queue/redis.js';
import { startRedis, type RunningRedis } from './harness/redis.js';
import { freePort } from './helpers/net.js';
import { until } from './helpers/until.js';

const available = await startRedis();
await available?.stop();

/** How long "at once" may take on a busy machine: far below any reconnect or retry wait. */
const AT_ONCE_MS = 1000;

async function elapsed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await work();
  return { value, ms: Date.now() - started };
}

describe('reconnect delay', () => {
  it('grows from about 50 ms and never passes 2 s plus its jitter', () => {
    for (let retries = 0; retries < 40; retries++) {
      const delay = reconnectDelay(retries);
      expect(delay).toBeGreaterThanOrEqual(Math.min(2 ** retries * 50, 2000));
      expect(delay).toBeLessThan(Math.min(2 ** retries * 50, 2000) + 200);
    }
  });
});

describe('closing a client while it connects', () => {
  it('leaves no connection open (a short-lived command that closes at once can exit)', async () => {
    // A listener that takes connections and answers nothing: what a client closed while its
    // connection attempt is under way leaves behind is seen as a connection still open here.
    const open = new Set<Socket>();
    let accepted = 0;
    const server = createServer((socket) => {
      accepted++;
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      for (let i = 0; i < 5; i++) await closeRedisClient(redisClient(`redis://127.0.0.1:${port}`, 'test', () => undefined));
      await until(() => accepted === 5 && open.size === 0, 5_000, 'every connection made was closed again');
    } finally {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe.skipIf(!available)('every Redis user while Redis is down, and after it is back', () => {
  const errors: string[] = [];
  const onError = (message: string): void => {
    errors.push(message);
  };
  const prefix = `cgpolicy-${randomUUID()}`;
  const closing: { close(): Promise<void> }[] = [];
  let server: RunningRedis | undefined;
  let url = '';

  afterAll(async () => {
    await Promise.all(closing.map((c) => c.close()));
    await server?.stop();
  });

  it('subscriptions made before Redis is up are heard once it is, and again after it restarted', async () => {
    const port = await freePort();
    url = `redis://127.0.0.1:${port}/0`;
    const listener = createBroadcast({ redisUrl: url, prefix, onError });
    const speaker = createBroadcast({ redisUrl: url, prefix, onError });
    closing.push(listener, speaker);
    const heard: string[] = [];
    listener.subscribe('news', (m) => heard.push(m));

    // Nobody listens on the port yet: the publish is reported, not thrown, and does not wait long.
    const early = await elapsed(() => speaker.publish('news', 'too early'));
    expect(early.ms).toBeLessThan(2000 + AT_ONCE_MS);
    expect(errors).toContain('could not broadcast on news');

    server = (await startRedis({ port })) as RunningRedis;
    await heardAfterPublishing(speaker, heard, 'first');

    await server.kill();
    server = (await startRedis({ port })) as RunningRedis;
    await heardAfterPublishing(speaker, heard, 'second');
    expect(heard).not.toContain('too early');
  });

  it('the rate counter counts nothing at once while Redis is down, and counts again after', async () => {
    const counter = new RedisRateCounter(url, prefix, onError);
    closing.push(counter);
    await until(async () => (await counter.hit('k', 60_000)).count > 0, 10_000, 'the counter counts');
    await (server as RunningRedis).kill();
    await until(async () => {
      const { value, ms } = await elapsed(() => counter.hit('k', 60_000));
      expect(ms).toBeLessThan(AT_ONCE_MS);
      return value.count === 0;
    }, 10_000, 'the counter counts nothing');
    expect((await counter.peek('k', 60_000)).count).toBe(0);
    server = (await startRedis({ port: (server as RunningRedis).port })) as RunningRedis;
    await until(async () => (await counter.hit('k', 60_000)).count === 1, 10_000, 'the counter counts on a fresh Redis');
  });

  it('one-time tokens fail at once, as an outage, while Redis is down, and work again after', async () => {
    const tokens = new RedisOneTimeTokens(url, prefix, onError);
    closing.push(tokens);
    await until(async () => tokens.put('t', 'before', 60_000).then(() => true, () => false), 10_000, 'tokens can be put');
    expect(await tokens.take('t', 'before')).toBe(true);
    expect(await tokens.take('t', 'before')).toBe(false);
    // A claim is one SET NX: of two at once, one wins.
    expect((await Promise.all([tokens.claim('seen', 'n', 60_000), tokens.claim('seen', 'n', 60_000)])).sort()).toEqual([false, true]);

    await (server as RunningRedis).kill();
    await until(async () => {
      const started = Date.now();
      const error = await tokens.put('t', 'during', 60_000).then(() => undefined, (e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(AT_ONCE_MS);
      if (error === undefined) return false;
      expect(isDependencyDown(error)).toBe(true);
      return true;
    }, 10_000, 'put fails');
    await expect(tokens.take('t', 'during')).rejects.toSatisfy(isDependencyDown);

    server = (await startRedis({ port: (server as RunningRedis).port })) as RunningRedis;
    await until(async () => tokens.put('t', 'after', 60_000).then(() => true, () => false), 10_000, 'tokens can be put again');
    expect(await tokens.take('t', 'after')).toBe(true);
  });

  it("the queue's ping fails at once while Redis is down, and answers again after", async () => {
    const queue = new BullmqQueue({ redisUrl: url, prefix, attempts: 1, backoffMs: 10, onError });
    closing.push(queue);
    await until(async () => queue.ping().then(() => true, () => false), 10_000, 'ping answers');
    await (server as RunningRedis).kill();
    await until(async () => {
      const started = Date.now();
      const failed = await queue.ping().then(() => false, () => true);
      expect(Date.now() - started).toBeLessThan(AT_ONCE_MS);
      return failed;
    }, 10_000, 'ping fails');
    server = (await startRedis({ port: (server as RunningRedis).port })) as RunningRedis;
    await until(async () => queue.ping().then(() => true, () => false), 10_000, 'ping answers again');
  });
});

/** Publishes `word` until `heard` has it (a subscription is made in the background). */
async function heardAfterPublishing(speaker: Broadcast, heard: string[], word: string): Promise<void> {
  await until(async () => {
    await speaker.publish('news', word);
    return heard.includes(word);
  }, 15_000, `the listener heard "${word}"`);
}
