// One-time tokens in memory (the embedded deployment's ACME nonces): good once, until they expire.
import { describe, expect, it } from 'vitest';
import { MemoryOneTimeTokens } from '../src/core/oneTimeTokens.js';

describe('one-time tokens in memory', () => {
  it('takes a token exactly once, only under its own kind', async () => {
    const tokens = new MemoryOneTimeTokens();
    await tokens.put('nonce', 'a', 60_000);
    expect(await tokens.take('other', 'a')).toBe(false);
    expect(await tokens.take('nonce', 'a')).toBe(true);
    expect(await tokens.take('nonce', 'a')).toBe(false);
    expect(await tokens.take('nonce', 'never put')).toBe(false);
  });

  it('refuses a token once its time is up, and it stays used up', async () => {
    let now = 1_000_000;
    const tokens = new MemoryOneTimeTokens(() => now);
    await tokens.put('nonce', 'a', 1000);
    await tokens.put('nonce', 'b', 1000);
    now += 999;
    expect(await tokens.take('nonce', 'a')).toBe(true);
    now += 1;
    expect(await tokens.take('nonce', 'b')).toBe(false);
  });

  it('claims a token once while it is remembered, again once it expired; one kind never pushes out another', async () => {
    let now = 1_000_000;
    const tokens = new MemoryOneTimeTokens(() => now);
    expect(await tokens.claim('seen', 'n1', 1000)).toBe(true);
    expect(await tokens.claim('seen', 'n1', 1000)).toBe(false);
    expect(await tokens.claim('other', 'n1', 1000)).toBe(true);
    now += 1000;
    expect(await tokens.claim('seen', 'n1', 1000)).toBe(true);
    // A flood of another kind (ACME nonces anyone may ask for) leaves these where they are.
    for (let i = 0; i < 100_001; i++) await tokens.put('flood', String(i), 60_000);
    expect(await tokens.claim('seen', 'n1', 1000)).toBe(false);
  });
});
