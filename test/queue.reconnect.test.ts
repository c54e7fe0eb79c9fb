// BullMQ back-end when the connection to Redis is lost or was never there: no job is lost or
// silently dropped, enqueue fails loudly when Redis stays away, ping fails, nothing crashes, and
// close() still returns (and leaves nothing open, or this process would not exit).
//
// Runs its own redis-server: CLIENT KILL TYPE normal would also cut the connections of the suites
// that share the global one.
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BullmqQueue, type BullmqQueueOptions } from '../src/queue/bullmqQueue.js';
import { startRedis, type RunningRedis } from './harness/redis.js';
import { freePort } from './helpers/net.js';
import { until } from './helpers/until.js';

const redis = await startRedis();

/** Stands in for a little work inside a handler. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe.skipIf(!redis)('BullMQ queue: lost and missing Redis connections', () => {
  const server = redis as RunningRedis;
  const opened: BullmqQueue[] = [];
  const errors: string[] = [];

  function queue(extra: Partial<BullmqQueueOptions> = {}): BullmqQueue {
    const q = new BullmqQueue({
      redisUrl: server.url,
      prefix: `cgreconnect-${randomUUID()}`,
      attempts: 3,
      backoffMs: 50,
      onError: (message, error) => errors.push(`${message}: ${error.message}`),
      ...extra,
    });
    opened.push(q);
    return q;
  }

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((q) => q.close()));
    errors.length = 0;
  });

  let killer: ReturnType<typeof createClient>;
  beforeAll(async () => {
    killer = createClient({ url: server.url });
    killer.on('error', () => undefined);
    await killer.connect();
  });

  afterAll(async () => {
    killer?.destroy();
    await server.stop();
  });

  /** Cuts every client connection but the killer's own, as a Redis restart or a proxy would. */
  async function killConnections(): Promise<number> {
    return Number(await killer.sendCommand(['CLIENT', 'KILL', 'TYPE', 'normal']));
  }

  it('loses no job when its connections are cut while it enqueues and works', async () => {
    // A job whose pick-up reply was cut off stays active, unknown to the worker, until its lock
    // expires and the stalled check hands it out again, as for a dead worker: short locks here.
    const q = queue({ lockDurationMs: 2000, stalledIntervalMs: 1000 });
    const processed = new Set<string>();
    await q.startWorker(
      {
        async process(id) {
          processed.add(id);
          await sleep(1);
        },
        async onExhausted(id, err) {
          throw new Error(`unexpected onExhausted(${id}, ${err.message})`);
        },
      },
      4,
    );
    const ids = Array.from({ length: 400 }, (_, i) => `r-${i}`);
    let kills = 0;
    for (const [i, id] of ids.entries()) {
      if (i % 100 === 50) {
        expect(await killConnections()).toBeGreaterThan(0);
        kills++;
      }
      await q.enqueue(id); // resolves only once the job is in Redis
    }
    expect(kills).toBe(4);
    const outcomes = await Promise.all(ids.map((id) => q.waitFor(id, 30_000)));
    expect(outcomes.filter((o) => o !== 'completed')).toEqual([]);
    expect(ids.filter((id) => !processed.has(id))).toEqual([]);

    // Connections cut once more, while idle: the next job still goes through.
    await killConnections();
    await q.enqueue('after');
    expect(await q.waitFor('after', 30_000)).toBe('completed');
    await expect(q.ping()).resolves.toBeUndefined();
    // The cuts were reported, not thrown.
    expect(errors.length).toBeGreaterThan(0);
  }, 120_000);

  it('fails ping at once and enqueue after reconnectWaitMs when Redis is not there; close() works', async () => {
    const port = await freePort();
    const q = queue({ redisUrl: `redis://127.0.0.1:${port}/0`, reconnectWaitMs: 1500 });
    let t = performance.now();
    await expect(q.ping()).rejects.toThrow(/no connection to Redis: .*ECONNREFUSED/);
    expect(performance.now() - t).toBeLessThan(4000);
    t = performance.now();
    await expect(q.enqueue('never')).rejects.toThrow(/no connection to Redis: .*ECONNREFUSED/);
    expect(performance.now() - t).toBeGreaterThanOrEqual(1400);
    expect(errors.some((e) => /ECONNREFUSED/.test(e))).toBe(true);
    await q.close();
    await expect(q.ping()).rejects.toThrow(/closed/);
  }, 60_000);

  it('close() returns while Redis is unreachable, with a worker and an events reader running', async () => {
    // A server of its own, to stop.
    const own = (await startRedis()) as RunningRedis;
    let stopped = false;
    try {
      const q = queue({ redisUrl: own.url });
      await q.startWorker({ async process() {}, async onExhausted() {} }, 2);
      await q.enqueue('one');
      expect(await q.waitFor('one', 30_000)).toBe('completed');
      await own.stop();
      stopped = true;
      // Close only once the queue's connections know Redis is gone and are trying to reconnect.
      await until(() => ['producer', 'worker'].every((role) => errors.some((e) => e.startsWith(`Redis ${role} connection error`))), 20_000, 'both connections reported the loss');
      await expect(q.ping()).rejects.toThrow(/no connection to Redis/);
      const t = performance.now();
      await q.close();
      expect(performance.now() - t).toBeLessThan(10_000);
    } finally {
      if (!stopped) await own.stop();
    }
  }, 60_000);
});
