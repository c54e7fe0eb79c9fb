import fc from 'fast-check';

/**
 * Feeds `check` what a parser of untrusted DER meets: random bytes, a valid encoding with a few bytes
 * changed, and a valid encoding cut short. `check` asserts what must hold for every input (no throw
 * but the parser's own error, a verdict of the right kind, ...).
 */
export function fuzzAround(good: Buffer, check: (input: Buffer) => void, runs: { random?: number; edits?: number; cuts?: number } = {}): void {
  fc.assert(fc.property(fc.uint8Array({ maxLength: Math.max(800, good.length) }), (bytes) => check(Buffer.from(bytes))), { numRuns: runs.random ?? 2000 });
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (edits) => {
      const mutated = Buffer.from(good);
      for (const [pos, value] of edits) mutated[pos] = value;
      check(mutated);
    }),
    { numRuns: runs.edits ?? 2000 },
  );
  fc.assert(fc.property(fc.nat(good.length), (cut) => check(good.subarray(0, cut))), { numRuns: runs.cuts ?? 300 });
}
