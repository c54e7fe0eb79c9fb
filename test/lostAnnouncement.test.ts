// A lost announcement costs about a second, not the whole wait: a front-end waiting for a request's
// outcome reads the store again every second, so a queue that never says the job finished (Redis
// restarted without its data) still lets it answer soon after the worker settled the request. And
// retries that ran out during an outage leave the request queued for the sweep, not failed.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { EnrollmentService } from '../src/core/enrollmentService.js';
import { DependencyUnavailableError } from '../src/core/unavailable.js';
import { initialize } from '../src/init.js';
import type { JobQueue } from '../src/queue/types.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { createEnrollmentProcessor } from '../src/worker/processEnrollment.js';
import { makeCsr, tempDir } from './helpers/openssl.js';
import { until } from './helpers/until.js';
import { testConfig } from './helpers/gateway.js';

const log = pino({ level: 'silent' });
const opened: Runtime[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((rt) => rt.close()));
});

async function setup() {
  const dataDir = tempDir();
  const rt = await openRuntime(testConfig({ dataDir }), { log });
  opened.push(rt);
  await initialize(rt);
  const product = (await rt.store.products.list())[0]!;
  const { request } = await rt.enrollments.submit({ principal: 'test', protocol: 'rest', product: { id: product.id } }, makeCsr(dataDir, { subject: '/CN=lost.host1.test' }).csrPem);
  return { rt, request };
}

describe('a lost announcement', () => {
  it('costs about a second: the waiting front-end reads the store again', async () => {
    const { rt, request } = await setup();
    // A queue that has forgotten the job: it never announces anything, it only times out.
    const asked: number[] = [];
    const silent = {
      kind: 'bullmq',
      waitFor: (_id: string, ms: number) => {
        asked.push(ms);
        return new Promise((resolve) => setTimeout(() => resolve('timeout'), ms));
      },
    } as unknown as JobQueue;
    const service = new EnrollmentService(rt.store, silent, { verify: async () => true, close: async () => undefined });
    const started = Date.now();
    const waiting = service.waitForOutcome(request, 30_000, 200);
    // The worker settles it (here: an operator-free refusal) without the queue saying so, once
    // the front-end waits on the queue.
    await until(() => asked.length > 0, 5_000, 'the front-end waits on the queue');
    await rt.store.requests.transition(request.id, ['queued'], 'rejected', { reason: 'test', rejection: { code: 'policy', rule: 'test', detail: 'test' } });
    const outcome = await waiting;
    expect(outcome.state).toBe('rejected');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(Math.max(...asked)).toBeLessThanOrEqual(200);
  });

  it('with the in-process queue, answers from the event at once', async () => {
    const { rt, request } = await setup();
    await rt.startWorker();
    const outcome = await rt.enrollments.waitForOutcome(request, 30_000);
    expect(outcome.state).toBe('issued');
  });
});

describe('retries that ran out', () => {
  it('during an outage leave the request queued for the sweep; for any other error, failed', async () => {
    const { rt, request } = await setup();
    const handler = createEnrollmentProcessor({ store: rt.store, cas: rt.cas, log, leaseMs: 10_000 });
    await handler.onExhausted(request.id, new DependencyUnavailableError('store', 'connection refused'));
    expect((await rt.store.requests.get(request.id))?.status).toBe('queued');
    await handler.onExhausted(request.id, new Error('boom'));
    expect((await rt.store.requests.get(request.id))?.status).toBe('failed');
  });
});
