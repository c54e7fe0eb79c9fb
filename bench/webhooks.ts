// The cost of webhooks on issuance: the same CSRs issued through queue and worker (embedded)
// with no subscription, and with one subscription to certificate.issued whose receiver (on
// 127.0.0.1) gets every delivery during the run. Runs alternate off/on so drift hits both.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { loadConfig } from '../src/config.js';
import { initialize } from '../src/init.js';
import { openRuntime } from '../src/runtime.js';
import { emit, round } from './lib.js';

async function run(csrs: string[], subscribe: boolean): Promise<{ rate: number; delivered: number }> {
  let delivered = 0;
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      delivered++;
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const dataDir = mkdtempSync(join(tmpdir(), 'certgate-bench-webhooks-'));
  const config = loadConfig({ env: {}, overrides: { dataDir, masterKey: 'bench-master-key-0123456789', logLevel: 'warn', workerConcurrency: 32, webhookAllowPrivate: true } });
  const rt = await openRuntime(config, { queuePrefix: `bench-${Date.now()}` });
  try {
    const init = await initialize(rt);
    const caId = init.issuing?.id as string;
    if (subscribe) {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      await rt.core.webhooks.create({ url, events: ['certificate.issued'], productIds: null }, 'cli', CLI_CONTEXT);
    }
    await rt.startWorker();
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < csrs.length) {
          const { request } = await rt.enrollments.submit({ principal: 'bench', protocol: 'cli', product: { caId } }, csrs[next++] as string);
          await rt.enrollments.waitForOutcome(request, 120_000);
        }
      }),
    );
    const rate = csrs.length / ((performance.now() - started) / 1000);
    return { rate, delivered };
  } finally {
    await rt.close();
    receiver.close();
  }
}

/** Alternating runs, off first; the median rate of each. */
export async function benchWebhooksOnOff(csrs: string[], rounds = 3): Promise<void> {
  const off: number[] = [];
  const on: number[] = [];
  let delivered = 0;
  for (let i = 0; i < rounds; i++) {
    off.push((await run(csrs, false)).rate);
    const r = await run(csrs, true);
    on.push(r.rate);
    delivered += r.delivered;
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const [rateOff, rateOn] = [median(off), median(on)];
  emit({
    scenario: 'issue',
    path: 'queue+worker',
    comparison: 'webhooks on / off',
    count: csrs.length,
    rounds,
    off_certs_per_s: round(rateOff, 1),
    on_certs_per_s: round(rateOn, 1),
    cost_pct: round((1 - rateOn / rateOff) * 100, 1),
    target_pct: 5,
    // Deliveries still being made when a run's last certificate was issued are not counted here.
    delivered_during_runs: delivered,
  });
}
