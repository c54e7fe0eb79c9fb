// Starts one redis-server and one throwaway PostgreSQL cluster for the whole test run, when
// installed; and bundles the web console. Suites read the URLs with `inject('redisUrl')` / `inject('postgresUrl')`; null means
// "not installed, skip" (and CERTGATE_REQUIRE_ALL=1 turns that into a failure here).
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startRedis } from './redis.js';
import { startPostgres } from './postgres.js';
import { buildConsole } from '../../console/build.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string | null;
    postgresUrl: string | null;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The console's suites drive the bundle of the sources as they are now, not of the last npm ci.
  const [redis, postgres] = await Promise.all([startRedis(), startPostgres(), buildConsole()]);
  project.provide('redisUrl', redis?.url ?? null);
  project.provide('postgresUrl', postgres?.url ?? null);
  return async () => {
    await Promise.all([redis?.stop(), postgres?.stop()]);
  };
}
