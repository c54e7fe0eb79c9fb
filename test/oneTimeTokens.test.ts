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
});
