// npm run bench -- <scenario> [options]. Prints one JSON line per measurement.
import { startRedis } from '../test/harness/redis.js';
import { benchAcme } from './acme.js';
import { benchCodecs } from './codecs.js';
import { benchFaults } from './faults.js';
import { benchIssue } from './issue.js';
import { benchOcsp } from './ocsp.js';
import { benchScep } from './scep.js';

const scenarios: Record<string, (args: string[]) => Promise<void>> = {
  acme: benchAcme,
  codecs: benchCodecs,
  faults: benchFaults,
  issue: benchIssue,
  ocsp: benchOcsp,
  scep: benchScep,
};

async function main(): Promise<void> {
  const [name = 'issue', ...args] = process.argv.slice(2);
  const run = scenarios[name];
  if (!run) {
    console.error(`unknown scenario "${name}"; known: ${Object.keys(scenarios).join(', ')}`);
    process.exit(2);
  }
  // A throwaway redis-server for the BullMQ back-end, when installed and none is given.
  const redis = process.env.REDIS_URL ? null : await startRedis().catch(() => null);
  if (redis) process.env.REDIS_URL = redis.url;
  try {
    await run(args);
  } finally {
    await redis?.stop();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
