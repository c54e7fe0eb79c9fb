// Nothing lost, nothing twice, through every fault: a scaled-out gateway (an API process and a
// worker, as child processes, on a PostgreSQL cluster and a redis-server of this suite's own) under
// a small client load, while in turn PostgreSQL is restarted (fast, then immediate stop), Redis is
// SIGKILLed (no persistence: every job is lost) and started again, the worker is SIGKILLed and a new
// one started, and the API process is SIGKILLed and a new one started. After each, checked from the
// store: every accepted request issued, none stuck, no second certificate for a request or a key,
// the same certificate again for a key asked again; the other processes alive; /readyz back by
// itself; and clients saw 503, never another 5xx. `npm run bench -- faults` runs the same at load.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULTS, makeCsrs, otherServerErrors, runScenario, startGateway, type Gateway } from './harness/faults.js';

const REQUESTS = 120;
const CLIENTS = 6;

let gateway: Gateway | null = null;
let csrs: string[] = [];

beforeAll(async () => {
  // A client waits at most 5 s for its certificate before a 202 (and asks again).
  gateway = await startGateway({ CERTGATE_ISSUE_WAIT_MS: '5000', CERTGATE_WORKER_CONCURRENCY: '8' });
  csrs = makeCsrs(REQUESTS * 2, 'test');
}, 180_000);

afterAll(async () => {
  await gateway?.close();
}, 120_000);

describe('faults under load', () => {
  for (const fault of FAULTS) {
    it(`${fault}: every accepted request issued once, nothing stuck, 503 not 500, /readyz back`, async (ctx) => {
      if (!gateway) return ctx.skip();
      const r = await runScenario(gateway, fault, csrs, { requests: REQUESTS, clients: CLIENTS, budgetMs: 90_000 });
      const summary = JSON.stringify({ ...r, deadProcesses: r.deadProcesses.length });
      expect(r.deadProcesses, summary).toEqual([]);
      expect(r.accepted, summary).toBeGreaterThanOrEqual(REQUESTS);
      expect(r.lost, summary).toBe(0);
      expect(r.issued, summary).toBe(r.accepted);
      expect(r.stuck, summary).toBe(0);
      expect(r.duplicated, summary).toBe(0);
      expect(otherServerErrors(r.codes), summary).toEqual({});
      expect(Number.isFinite(r.readySeconds), summary).toBe(true);
      if (fault.startsWith('postgres') || fault === 'redis-kill') {
        expect(r.readyzSawOutage, summary).toBe(true);
      }
      if (fault.startsWith('postgres')) expect(r.faultCodes['503'] ?? 0, summary).toBeGreaterThan(0);
    }, 120_000);
  }
});
