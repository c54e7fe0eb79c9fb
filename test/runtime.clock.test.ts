// One clock per deployment: what openRuntime is given is what the store stamps with, what the
// protocols read, and what the in-memory rate windows turn on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { PROTOCOLS } from '../protocols/index.js';
import { testClock } from './helpers/clock.js';
import { testConfig } from './helpers/gateway.js';

describe('the runtime clock', () => {
  const clock = testClock(Date.parse('2031-05-06T07:08:09.000Z'));
  let rt: Runtime;
  beforeAll(async () => {
    rt = await openRuntime(testConfig(), { protocols: PROTOCOLS, now: clock.now });
  });
  afterAll(async () => {
    await rt?.close();
  });

  it('reaches the core services and every protocol', () => {
    expect(rt.core.now()).toBe(clock.now());
    for (const { module } of rt.protocols) expect(rt.protocolCore(module.name).now()).toBe(clock.now());
  });

  it('stamps the store and credentials', async () => {
    const { credential } = await rt.credentials.create({ type: 'rest', name: 'clocked', products: '*', permissions: [], admin: true }, CLI_CONTEXT);
    expect(credential.createdAt).toEqual(clock.date());
  });

  it('turns the in-memory rate windows', async () => {
    const counter = rt.core.rateCounter;
    clock.advance(60_000 - (clock.now() % 60_000));
    expect((await counter.hit('k', 60_000)).count).toBe(1);
    clock.advance(59_999);
    expect((await counter.hit('k', 60_000)).count).toBe(2);
    clock.advance(1);
    expect((await counter.hit('k', 60_000)).count).toBe(1);
    expect((await counter.peek('k', 60_000)).resetAt).toBe(clock.now() + 60_000);
  });
});
