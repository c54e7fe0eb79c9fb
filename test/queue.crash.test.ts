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
import { describe, expect, inject, it } from 'vitest';
import { BullmqQueue } from '../src/queue/bullmqQueue.js';

const redisUrl = inject('redisUrl');
const fixture = fileURLToPath(new URL('./fixtures/crashWorker.ts', import.meta.url));
const projectRoot = fileURLToPath(new URL('..', import.meta.url));

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe.skipIf(!redisUrl)('BullMQ: a job whose worker dies mid-way', () => {
  it('is retried by another worker and its request is issued exactly once', async () => {
    const url = redisUrl as string;
    const prefix = `cgcrash-${randomUUID()}`;
    const dir = mkdtempSync(join(tmpdir(), 'certgate-crash-'));
    const ledgerFile = join(dir, 'ledger');
    const ledger = (): string[] => (existsSync(ledgerFile) ? readFileSync(ledgerFile, 'utf8').split('\n').filter(Boolean) : []);
    const options = { redisUrl: url, prefix, attempts: 3, backoffMs: 50, lockDurationMs: 2000, stalledIntervalMs: 1000 };
    const producer = new BullmqQueue(options);
    const survivor = new BullmqQueue(options);
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
      cwd: projectRoot,
      env: { ...process.env, REDIS_URL: url, QUEUE_PREFIX: prefix, LEDGER_FILE: ledgerFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let childOutput = '';
    child.stdout.on('data', (d: Buffer) => (childOutput += d.toString()));
    child.stderr.on('data', (d: Buffer) => (childOutput += d.toString()));
    const childExited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await producer.enqueue('req-crash');

      // The child takes the job and hangs in it.
      const deadline = Date.now() + 45_000;
      while (!ledger().includes('started req-crash by child')) {
        if (child.exitCode !== null) throw new Error(`crash worker exited early:\n${childOutput}`);
        if (Date.now() > deadline) throw new Error(`crash worker never started the job:\n${childOutput}`);
        await sleep(50);
      }
      child.kill('SIGKILL');
      await childExited;

      // A second worker: its handler "issues" idempotently, as the real worker does through the store.
      const attempts: number[] = [];
      await survivor.startWorker(
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

      // Past a few more stalled checks nothing runs it again.
      await sleep(3_000);
      expect(ledger()).toEqual(['started req-crash by child', 'started req-crash by survivor', 'issued req-crash']);
      expect(attempts).toEqual([1]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await childExited;
      }
      await Promise.all([producer.close(), survivor.close()]);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
