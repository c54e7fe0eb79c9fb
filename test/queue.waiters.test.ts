// The waitFor bookkeeping both queue back-ends share (the contract suite covers it through them).
import { describe, expect, it } from 'vitest';
import { Waiters } from '../src/queue/waiters.js';

describe('queue waiters', () => {
  it('resolves every waiter of an id with its outcome and leaves nothing behind', async () => {
    const w = new Waiters();
    const a = w.wait('r1', 30_000);
    const b = w.wait('r1', 30_000);
    const other = w.wait('r2', 30_000);
    expect(w.waitingIds).toBe(2);
    w.settle('r1', 'failed');
    expect(await Promise.all([a, b])).toEqual(['failed', 'failed']);
    expect(w.waitingIds).toBe(1);
    w.settle('r2', 'completed');
    expect(await other).toBe('completed');
    expect(w.waitingIds).toBe(0);
  });

  it('says timeout after timeoutMs, and cleans up after itself', async () => {
    const w = new Waiters();
    expect(await w.wait('slow', 10)).toBe('timeout');
    expect(w.waitingIds).toBe(0);
    // A late outcome reaches nobody but is remembered.
    w.settle('slow', 'completed');
    expect(w.known('slow')).toBe('completed');
  });

  it('remembers outcomes until a new job for the id, and only the newest ones', () => {
    const w = new Waiters(2);
    w.settle('a', 'completed');
    w.settle('b', 'failed');
    expect(w.known('a')).toBe('completed');
    w.forget('a');
    expect(w.known('a')).toBeUndefined();
    w.settle('c', 'completed');
    w.settle('d', 'completed');
    expect([w.known('b'), w.known('c'), w.known('d')]).toEqual([undefined, 'completed', 'completed']);
    // Settling an id again makes it the newest, so it outlives those settled before it.
    w.settle('c', 'failed');
    w.settle('e', 'completed');
    expect([w.known('c'), w.known('d'), w.known('e')]).toEqual(['failed', undefined, 'completed']);
  });

  it('lets a caller finish its own wait early without touching other waits or the remembered outcomes', async () => {
    const w = new Waiters();
    const early = w.wait('r', 30_000, (finish) => queueMicrotask(() => finish('completed')));
    const plain = w.wait('r', 30_000);
    expect(await early).toBe('completed');
    expect(w.known('r')).toBeUndefined();
    expect(w.waitingIds).toBe(1);
    // The first answer wins; a later settle does not resolve a finished wait again.
    w.settle('r', 'failed');
    expect(await plain).toBe('failed');
    expect(await early).toBe('completed');
  });

  it('ends every wait with timeout when the queue closes', async () => {
    const w = new Waiters();
    const waits = [w.wait('x', 30_000), w.wait('y', 30_000)];
    w.timeoutAll();
    expect(await Promise.all(waits)).toEqual(['timeout', 'timeout']);
    expect(w.waitingIds).toBe(0);
  });
});
