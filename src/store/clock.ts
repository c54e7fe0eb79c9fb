// The store's clock: what rows and audit entries are stamped with.

/** The clock a store stamps times with (created, updated, lease expiry, audit entries); tests may move it. */
export type StoreClock = () => Date;

/**
 * Real time in milliseconds, read through the global Date at each call (not a reference to
 * Date.now taken once), so that tests faking Date (vi.useFakeTimers) move the store's clock too.
 */
export const realTimeMs = (): number => Date.now();

/** A StoreClock as milliseconds; real time costs no Date per stamp. */
export function millisecondsOf(clock: StoreClock | undefined): () => number {
  return clock ? () => clock().getTime() : realTimeMs;
}
