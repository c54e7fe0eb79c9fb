import type { Config } from '../../src/config.js';

/**
 * The failed-login throttle off: suites that present wrong credentials on purpose, from one
 * loopback address, test the answer to each, not the throttle (test/limits.test.ts does). With
 * it on, their failures would wait seconds each and then be refused as a flood.
 */
export const NO_LOGIN_THROTTLE: Partial<Config> = { loginFailuresPerSource: 0, loginFailuresPerIdentity: 0, loginDelayMaxMs: 0 };
