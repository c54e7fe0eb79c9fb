/**
 * Resolves as soon as `condition` holds; rejects, naming `what`, if it still does not after
 * `timeoutMs`. Tests wait for what they need instead of sleeping for a guess: a fixed sleep is
 * too short on a busy machine and wasted time on an idle one. The generous default is only a
 * bound for a broken run; a passing run waits no longer than the condition takes. Timed by the
 * monotonic clock, so tests that move Date (fake timers) still get their bound.
 */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'the condition held'): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  const interval = Math.min(50, Math.max(5, timeoutMs / 100));
  for (;;) {
    if (await condition()) return;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
