import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Suites start their own redis/postgres servers; the machine has 2 cores.
    maxWorkers: 2,
    globalSetup: ['test/harness/global-setup.ts'],
  },
});
