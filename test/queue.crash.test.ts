// A job whose worker dies mid-way is retried and its request is issued exactly once.
//
// BullMQ only. For the in-process queue the dying process takes its queue with it; recovery is the
// worker layer re-queueing, on start-up, the requests still `queued` in the store (tested there).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { BullmqQueue, type BullmqQueueOptions } from '../src/queue/bullmqQueue.js';
import { until } from './helpers/until.js';

const redisUrl = inject('redisUrl');
const fixture = fileURLToPath(new URL('./fixtures/crashWorker.ts', import.meta.url));
const projectRoot = fileURLToPath(new URL('..', import.meta.url));

describe.skipIf(!redisUrl)('BullMQ: a job whose worker dies mid-way', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A scope: its own key prefix, a ledger file, and queues that are closed after the test. */
  function setup(extra: Partial<BullmqQueueOptions> = {}) {
    const prefix = `cgcrash-${randomUUID()}`;
    const dir = mkdtempSync(join(tmpdir(), 'certgate-crash-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const ledgerFile = join(dir, 'ledger');
    const ledger = (): string[] =>
      existsSync(ledgerFile) ? readFileSync(ledgerFile, 'utf8').split('\n').filter(Boolean) : [];
    const queue = (): BullmqQueue => {
      const q = new BullmqQueue({
        redisUrl: redisUrl as string,
        prefix,
        attempts: 3,
        backoffMs: 50,
        lockDurationMs: 2000,
        stalledIntervalMs: 1000,
        ...extra,
      });
      cleanups.push(() => q.close());
      return q;
    };

    /** Runs the crash worker in a child process until it holds `requestId`, then SIGKILLs it. */
    async function killWorkerMidJob(requestId: string): Promise<void> {
      const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
        cwd: projectRoot,
        env: { ...process.env, REDIS_URL: redisUrl as string, QUEUE_PREFIX: prefix, LEDGER_FILE: ledgerFile },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      cleanups.push(async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      });
      const startsByChild = (): number => ledger().filter((line) => line === `started ${requestId} by child`).length;
      const started = startsByChild();
      await until(
        () => {
          if (child.exitCode !== null) throw new Error(`crash worker exited early:\n${output}`);
          return startsByChild() > started;
        },
        45_000,
        `the crash worker started ${requestId}`,
      ).catch((err: Error) => {
        throw new Error(`${err.message}:\n${output}`);
      });
      child.kill('SIGKILL');
      await exited;
    }

    return { ledgerFile, ledger, queue, killWorkerMidJob };
  }

  it('is retried by another worker and its request is issued exactly once', async () => {
    const { ledgerFile, ledger, queue, killWorkerMidJob } = setup();
    const producer = queue();
    await producer.enqueue('req-crash');
    await killWorkerMidJob('req-crash');

    // A second worker: its handler "issues" idempotently, as the real worker does through the store.
    const attempts: number[] = [];
    await queue().startWorker(
      {
        async process(requestId, attempt) {
          attempts.push(attempt);
          appendFileSync(ledgerFile, `started ${requestId} by survivor\n`);
          if (!ledger().includes(`issued ${requestId}`)) appendFileSync(ledgerFile, `issued ${requestId}\n`);
        },
        async onExhausted(requestId, err) {
          throw new Error(`unexpected onExhausted(${requestId}, ${err.message})`);
        },
      },
      1,
    );
    expect(await producer.waitFor('req-crash', 60_000)).toBe('completed');

    // A second run would need the job back in the wait list, ahead of a job enqueued now: once
    // that one is done on the single slot, any repeat would have shown in the ledger.
    await producer.enqueue('later');
    expect(await producer.waitFor('later', 60_000)).toBe('completed');
    expect(ledger()).toEqual(['started req-crash by child', 'started req-crash by survivor', 'issued req-crash', 'started later by survivor', 'issued later']);
    expect(attempts).toEqual([1, 1]);
  }, 120_000);

  it('fails, through onExhausted, a request whose workers died more than maxStalledCount times', async () => {
    const { ledger, queue, killWorkerMidJob } = setup({ maxStalledCount: 0 });
    const producer = queue();
    await producer.enqueue('req-poison');
    await killWorkerMidJob('req-poison');

    const processed: string[] = [];
    const exhausted: [string, string][] = [];
    await queue().startWorker(
      {
        async process(requestId) {
          processed.push(requestId);
        },
        async onExhausted(requestId, err) {
          exhausted.push([requestId, err.message]);
        },
      },
      1,
    );
    expect(await producer.waitFor('req-poison', 60_000)).toBe('failed');
    expect(processed).toEqual([]);
    expect(exhausted).toEqual([['req-poison', 'the worker processing this request died once']]);
    expect(ledger()).toEqual(['started req-poison by child']);
  }, 120_000);
});
