// A clock a test moves by hand, for the runtime (RuntimeOptions.now, startGateway's `now`) and the
// parts that take one: what waits for time to pass then takes no time and cannot be late under load.

export interface TestClock {
  /** The clock itself: hand this where a `() => number` is asked for. */
  readonly now: () => number;
  /** The same moment as a Date (a store clock). */
  readonly date: () => Date;
  /** Moves the clock forward by `ms` (never back: stamps that went backwards would be a different test). */
  advance(ms: number): void;
}

/** Starts at `start` (default: real time now) and stands still until advanced. */
export function testClock(start: number = Date.now()): TestClock {
  let at = start;
  return {
    now: () => at,
    date: () => new Date(at),
    advance(ms) {
      if (!(ms >= 0)) throw new Error(`a test clock only moves forward (asked ${ms} ms)`);
      at += ms;
    },
  };
}

/**
 * Real time plus what the test advanced it by: for a whole gateway, whose caches, tokens and
 * back-offs expect time to go on by itself, while a test still jumps over an expiry.
 */
export function runningClock(): TestClock {
  let ahead = 0;
  const now = (): number => Date.now() + ahead;
  return {
    now,
    date: () => new Date(now()),
    advance(ms) {
      if (!(ms >= 0)) throw new Error(`a test clock only moves forward (asked ${ms} ms)`);
      ahead += ms;
    },
  };
}
