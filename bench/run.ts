// npm run bench -- <scenario> [options]. Prints one JSON line per measurement.
import { startRedis } from '../test/harness/redis.js';

// Each scenario is loaded when it runs, so one scenario's dependencies (test helpers, clients) do
// not stand in the way of another.
const scenarios: Record<string, (args: string[]) => Promise<void>> = {
  acme: async (args) => (await import('./acme.js')).benchAcme(args),
  codecs: async (args) => (await import('./codecs.js')).benchCodecs(args),
  cmp: async (args) => (await import('./cmp.js')).benchCmp(args),
  est: async (args) => (await import('./est.js')).benchEst(args),
  faults: async (args) => (await import('./faults.js')).benchFaults(args),
  issue: async (args) => (await import('./issue.js')).benchIssue(args),
  ocsp: async (args) => (await import('./ocsp.js')).benchOcsp(args),
  pkcs11: async (args) => (await import('./pkcs11.js')).benchPkcs11(args),
  rest: async (args) => (await import('./rest.js')).benchRest(args),
  scep: async (args) => (await import('./scep.js')).benchScep(args),
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
