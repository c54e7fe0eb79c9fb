// One contract, two back-ends: the in-process queue and BullMQ on the real redis-server that the
// global setup started. Timing assertions are lower bounds only (the machine may be slow and busy).
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { BullmqQueue, fromJobId, toJobId } from '../src/queue/bullmqQueue.js';
import { MemoryQueue } from '../src/queue/memoryQueue.js';
import { RetryLaterError, type JobHandler, type JobQueue } from '../src/queue/types.js';
import { until } from './helpers/until.js';

interface MakeOptions {
  attempts?: number;
  backoffMs?: number;
}

interface Backend {
  /**
   * A scope is one logical queue: every JobQueue made from the same scope sees the same jobs
   * (BullMQ: the same Redis key prefix). Each test uses its own scope.
   */
  scope(): (options?: MakeOptions) => JobQueue;
  /** Jobs not started when close() is called survive it and a new queue's worker runs them. */
  durable: boolean;
}

const LONG = 30_000;

/** Stands in for slow work inside a handler; the tests themselves wait for conditions. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const waitUntil = (condition: () => boolean, what: string): Promise<void> => until(condition, LONG, what);

function handler(process: JobHandler['process'], onExhausted?: JobHandler['onExhausted']): JobHandler {
  return {
    process,
    onExhausted:
      onExhausted ??
      (async (id, err) => {
        throw new Error(`unexpected onExhausted(${id}, ${err.message})`);
      }),
  };
}

function queueContract(name: string, backend: Backend | null): void {
  describe.skipIf(!backend)(name, () => {
    const opened: JobQueue[] = [];
    let make: (options?: MakeOptions) => JobQueue;

    const newScope = (): ((options?: MakeOptions) => JobQueue) => {
      const scoped = (backend as Backend).scope();
      return (options) => {
        const queue = scoped(options);
        opened.push(queue);
        return queue;
      };
    };

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((q) => q.close()));
    });

    it('processes jobs and waitFor says completed', async () => {
      make = newScope();
      const q = make();
      const done: string[] = [];
      await q.startWorker(
        handler(async (id) => {
          done.push(id);
        }),
        2,
      );
      await q.enqueue('job-a');
      await q.enqueue('job-b');
      expect(await q.waitFor('job-a', LONG)).toBe('completed');
      expect(await q.waitFor('job-b', LONG)).toBe('completed');
      expect(done.sort()).toEqual(['job-a', 'job-b']);
      await expect(q.ping()).resolves.toBeUndefined();
    });

    it('runs jobs first in, first out, including those enqueued before the worker started', async () => {
      make = newScope();
      const q = make();
      const ids = Array.from({ length: 8 }, (_, i) => `fifo-${i}`);
      for (const id of ids) await q.enqueue(id);
      const order: string[] = [];
      await q.startWorker(
        handler(async (id) => {
          order.push(id);
        }),
        1,
      );
      for (const id of ids) expect(await q.waitFor(id, LONG)).toBe('completed');
      expect(order).toEqual(ids);
    });

    it('passes any request id through unchanged (digits, colons, names of BullMQ keys)', async () => {
      make = newScope();
      const q = make();
      const ids = ['12345', 'acme:order:7', 'x~odd', 'marker', 'wait', 'metrics', randomUUID()];
      const seen: string[] = [];
      await q.startWorker(
        handler(async (id) => {
          seen.push(id);
        }),
        1,
      );
      for (const id of ids) await q.enqueue(id);
      for (const id of ids) expect(await q.waitFor(id, LONG)).toBe('completed');
      expect(seen.sort()).toEqual([...ids].sort());
    });

    it('processes an id enqueued again while waiting only once, and again after it finished', async () => {
      make = newScope();
      const q = make();
      await q.enqueue('dup');
      await q.enqueue('dup');
      await q.enqueue('dup');
      const runs: string[] = [];
      await q.startWorker(
        handler(async (id) => {
          runs.push(id);
        }),
        1,
      );
      expect(await q.waitFor('dup', LONG)).toBe('completed');
      // A job enqueued after the duplicates ran after them (FIFO): any duplicate would show by now.
      await q.enqueue('marker-1');
      expect(await q.waitFor('marker-1', LONG)).toBe('completed');
      expect(runs.filter((id) => id === 'dup')).toHaveLength(1);

      // Finished: the same id may be enqueued again (approval re-queues a request).
      await q.enqueue('dup');
      expect(await q.waitFor('dup', LONG)).toBe('completed');
      expect(runs.filter((id) => id === 'dup')).toHaveLength(2);
    });

    it('ignores an enqueue of an id whose job is running', async () => {
      make = newScope();
      const q = make();
      const gate = deferred();
      const runs: string[] = [];
      // One slot: a duplicate accepted while 'busy' runs would wait, and run before the marker
      // enqueued after it (FIFO), so the marker's outcome is the moment to count.
      await q.startWorker(
        handler(async (id) => {
          runs.push(id);
          if (id === 'busy') await gate.promise;
        }),
        1,
      );
      await q.enqueue('busy');
      await waitUntil(() => runs.includes('busy'), 'the job started');
      await q.enqueue('busy');
      await q.enqueue('busy');
      gate.resolve();
      expect(await q.waitFor('busy', LONG)).toBe('completed');
      await q.enqueue('marker-2');
      expect(await q.waitFor('marker-2', LONG)).toBe('completed');
      expect(runs).toEqual(['busy', 'marker-2']);
    });

    it('answers waitFor for a job that finished before waitFor was called, but not with an old outcome', async () => {
      make = newScope();
      const q = make();
      const finished: string[] = [];
      const secondRun = deferred();
      let runs = 0;
      await q.startWorker(
        handler(async (id) => {
          runs++;
          if (runs === 2) await secondRun.promise;
          finished.push(id);
        }),
        1,
      );
      await q.enqueue('early');
      await waitUntil(() => finished.length === 1, 'the job finished');
      // With no time to wait, only an outcome the queue already knows can answer. It arrives a
      // little after the handler returned (BullMQ: through the events stream).
      await until(async () => (await q.waitFor('early', 0)) === 'completed', LONG, 'waitFor knows the finished job');
      expect(await q.waitFor('early', LONG)).toBe('completed');

      // Enqueued again: the remembered outcome belongs to the earlier job.
      await q.enqueue('early');
      await waitUntil(() => runs === 2, 'the second run started');
      expect(await q.waitFor('early', 300)).toBe('timeout');
      secondRun.resolve();
      expect(await q.waitFor('early', LONG)).toBe('completed');
      expect(finished).toEqual(['early', 'early']);
    });

    it('retries a failing job with exponential backoff', async () => {
      make = newScope();
      const q = make({ attempts: 3, backoffMs: 50 });
      const attempts: number[] = [];
      const times: number[] = [];
      await q.startWorker(
        handler(async (_id, attempt) => {
          attempts.push(attempt);
          times.push(performance.now());
          if (attempt < 3) throw new Error(`database busy (attempt ${attempt})`);
        }),
        1,
      );
      await q.enqueue('flaky');
      expect(await q.waitFor('flaky', LONG)).toBe('completed');
      expect(attempts).toEqual([1, 2, 3]);
      const [t0, t1, t2] = times as [number, number, number];
      expect(t1 - t0).toBeGreaterThanOrEqual(40); // backoff 50
      expect(t2 - t1).toBeGreaterThanOrEqual(80); // backoff 100
    });

    it('runs a job that asks to run later (RetryLaterError) again after its delay, as the same attempt, beyond `attempts`', async () => {
      make = newScope();
      // One attempt and a tiny backoff: only the handler's own delay can make it wait, and only
      // RetryLaterError not counting as an attempt lets it run a third time.
      const q = make({ attempts: 1, backoffMs: 1 });
      const attempts: number[] = [];
      const times: number[] = [];
      await q.startWorker(
        handler(async (_id, attempt) => {
          attempts.push(attempt);
          times.push(performance.now());
          if (attempts.length < 3) throw new RetryLaterError('the upstream asks to wait', 300);
        }),
        1,
      );
      await q.enqueue('rate-limited');
      expect(await q.waitFor('rate-limited', LONG)).toBe('completed');
      expect(attempts).toEqual([1, 1, 1]);
      const [t0, t1, t2] = times as [number, number, number];
      expect(t1 - t0).toBeGreaterThanOrEqual(250);
      expect(t2 - t1).toBeGreaterThanOrEqual(250);
    });

    it('calls onExhausted exactly once after the last attempt, before waitFor says failed', async () => {
      make = newScope();
      // No backoff: a stray retry of a failed job would be due at once, so on the one slot it
      // would run before a job enqueued later.
      const q = make({ attempts: 2, backoffMs: 0 });
      const attempts: number[] = [];
      const exhausted: [string, string][] = [];
      await q.startWorker(
        handler(
          async (_id, attempt) => {
            attempts.push(attempt);
            throw new Error(`boom ${attempt}`);
          },
          async (id, err) => {
            await sleep(100);
            exhausted.push([id, err.message]);
          },
        ),
        1,
      );
      await q.enqueue('doomed');
      expect(await q.waitFor('doomed', LONG)).toBe('failed');
      // onExhausted was awaited before the job counted as failed.
      expect(exhausted).toEqual([['doomed', 'boom 2']]);
      expect(attempts).toEqual([1, 2]);
      await q.enqueue('marker-3');
      expect(await q.waitFor('marker-3', LONG)).toBe('failed');
      expect(exhausted).toEqual([
        ['doomed', 'boom 2'],
        ['marker-3', 'boom 2'],
      ]);
      expect(attempts).toEqual([1, 2, 1, 2]);
    });

    it('close() waits for the running job; jobs not started are not run by the closed queue', async () => {
      const scope = newScope();
      const q = scope();
      const started: string[] = [];
      const finished: string[] = [];
      const slow = handler(async (id) => {
        started.push(id);
        await sleep(300);
        finished.push(id);
      });
      for (const id of ['c1', 'c2', 'c3']) await q.enqueue(id);
      await q.startWorker(slow, 1);
      await waitUntil(() => started.length === 1, 'the first job started');
      await q.close();
      // close() returned after the running job finished. A start by the closed queue after this
      // point would show below as a repeated id in `started` (durable back-ends).
      expect(finished).toEqual(['c1']);
      expect(started).toEqual(['c1']);
      await expect(q.enqueue('c4')).rejects.toThrow();

      if (backend?.durable) {
        // Still in Redis: the next worker runs them.
        const q2 = scope();
        const outcomes = Promise.all([q2.waitFor('c2', LONG), q2.waitFor('c3', LONG)]);
        await q2.startWorker(slow, 1);
        expect(await outcomes).toEqual(['completed', 'completed']);
        expect(started).toEqual(['c1', 'c2', 'c3']);
      }
      // The in-process queue drops them: their requests are still `queued` in the store, and the
      // worker layer re-queues those on start-up.
    });

    it('runs up to `concurrency` jobs in parallel', async () => {
      make = newScope();
      const q = make();
      let active = 0;
      let maxActive = 0;
      const allIn = deferred();
      await q.startWorker(
        handler(async () => {
          active++;
          maxActive = Math.max(maxActive, active);
          if (active === 3) allIn.resolve();
          // Without parallelism the third job never starts; do not hang forever then.
          await Promise.race([allIn.promise, sleep(15_000)]);
          active--;
        }),
        3,
      );
      for (const id of ['p1', 'p2', 'p3']) await q.enqueue(id);
      for (const id of ['p1', 'p2', 'p3']) expect(await q.waitFor(id, LONG)).toBe('completed');
      expect(maxActive).toBe(3);
    });
  });
}

queueContract('memory queue', {
  durable: false,
  scope: () => (options) => new MemoryQueue({ attempts: options?.attempts ?? 3, backoffMs: options?.backoffMs ?? 50 }),
});

const redisUrl = inject('redisUrl');
queueContract(
  'BullMQ queue',
  redisUrl
    ? {
        durable: true,
        scope: () => {
          const prefix = `cgtest-${randomUUID()}`;
          return (options) =>
            new BullmqQueue({
              redisUrl,
              prefix,
              attempts: options?.attempts ?? 3,
              backoffMs: options?.backoffMs ?? 50,
            });
        },
      }
    : null,
);

describe('BullMQ job ids', () => {
  it('maps every request id to a job id BullMQ accepts, one-to-one', () => {
    const queueKeyNames = ['', 'active', 'wait', 'paused', 'id', 'delayed', 'prioritized', 'completed', 'failed', 'stalled', 'meta', 'events', 'marker', 'de', 'pc', 'metrics'];
    for (const id of ['0f8c1a9e-2b7d-4c1e-9a43-5d6e7f809a1b', '12345', 'a:b', 'x~abc', 'x~', 'é:ü', ...queueKeyNames]) {
      const jobId = toJobId(id);
      expect(jobId.includes(':')).toBe(false);
      expect(/^\d+$/.test(jobId)).toBe(false);
      expect(queueKeyNames).not.toContain(jobId);
      expect(fromJobId(jobId)).toBe(id);
    }
    expect(toJobId('0f8c1a9e-2b7d-4c1e-9a43-5d6e7f809a1b')).toBe('0f8c1a9e-2b7d-4c1e-9a43-5d6e7f809a1b');
  });
});
