// Opens everything a process needs (store, queue, CA registry, services) from the config, and
// closes it again in the right order.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CaRegistry } from './ca/registry.js';
import type { CaSecrets } from './ca/createCa.js';
import { ConfigError, publicUrlOf, type Config } from './config.js';
import { EnrollmentService } from './core/enrollmentService.js';
import { RevocationService } from './core/revocationService.js';
import { CrlPublisher } from './ca/crlPublisher.js';
import { CrlScheduler } from './ca/crlScheduler.js';
import { createLogger } from './log.js';
import { ThreadedVerifier } from './pki/verifyPool.js';
import { createBroadcast } from './queue/broadcast.js';
import { createQueue } from './queue/index.js';
import type { JobQueue } from './queue/types.js';
import { openStore } from './store/index.js';
import type { Store } from './store/types.js';
import { createEnrollmentProcessor } from './worker/processEnrollment.js';

const SWEEP_INTERVAL_MS = 15_000;
const SWEEP_MIN_AGE_MS = 15_000;
const CRL_SWEEP_INTERVAL_MS = 60_000;
const REVOCATIONS_CHANNEL = 'revocations';
/** `caId/serial`: whose status changed. A notice with no serial stands for the whole CA. */
const revocationNotice = (caId: string, serialHex: string): string => `${caId}/${serialHex}`;

export interface Runtime {
  config: Config;
  log: Logger;
  store: Store;
  queue: JobQueue;
  cas: CaRegistry;
  secrets: CaSecrets;
  enrollments: EnrollmentService;
  revocations: RevocationService;
  crls: CrlPublisher;
  /** Starts consuming enrollment jobs in this process, after re-queueing stranded requests. */
  startWorker(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The master key protects CA keys. Scaled out it must come from the environment (every process
 * needs the same one); embedded, a random one is created next to the database on first start.
 */
export function resolveMasterKey(config: Config): string {
  if (config.masterKey) return config.masterKey;
  if (config.databaseUrl) throw new ConfigError('CERTGATE_MASTER_KEY (masterKey): required when DATABASE_URL is set');
  const file = join(config.dataDir, 'master.key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(config.dataDir, { recursive: true });
  const key = randomBytes(32).toString('base64url');
  writeFileSync(file, key + '\n', { mode: 0o600, flag: 'wx' });
  return key;
}

export async function openRuntime(config: Config, options: { log?: Logger; queuePrefix?: string } = {}): Promise<Runtime> {
  const log = options.log ?? createLogger(config.logLevel);
  const secrets: CaSecrets = { masterKey: resolveMasterKey(config), passphrases: config.caPassphrases };
  const store = await openStore({ databaseUrl: config.databaseUrl, sqlitePath: join(config.dataDir, 'certgate.db') });
  // Queue back-ends report background trouble (a lost Redis connection) through the log.
  const onError = (message: string, error: Error): void => log.error({ err: error.message }, message);
  const queue = createQueue({
    onError,
    redisUrl: config.redisUrl,
    prefix: options.queuePrefix,
    attempts: config.queueAttempts,
    backoffMs: config.queueBackoffMs,
  });
  const cas = new CaRegistry(store, secrets, publicUrlOf(config));
  const verifier = new ThreadedVerifier(config.cryptoThreads);
  const enrollments = new EnrollmentService(store, queue, verifier);
  const revocations = new RevocationService(store);
  const crls = new CrlPublisher(store, cas, { validityMs: config.crlValidityHours * 3_600_000 }, log);
  // CRL builds have a queue of their own, so a big CRL never waits behind (or holds up) enrollments.
  const crlQueue = createQueue({
    onError,
    redisUrl: config.redisUrl,
    prefix: options.queuePrefix,
    queueName: 'crl',
    attempts: config.queueAttempts,
    backoffMs: config.queueBackoffMs,
  });
  const crlScheduler = new CrlScheduler(crlQueue, config.crlDebounceMs, log);
  // Other processes (API nodes, the CLI) hear of each revocation at once too.
  // status changes: see CoreServices.onStatusChange
  const broadcast = createBroadcast({ redisUrl: config.redisUrl, prefix: options.queuePrefix, onError });
  revocations.onChange((caId, serialHex) => {
    crlScheduler.revoked(caId);
    void broadcast.publish(REVOCATIONS_CHANNEL, revocationNotice(caId, serialHex));
  });
  let closed = false;
  let sweeper: NodeJS.Timeout | undefined;
  return {
    config,
    log,
    store,
    queue,
    cas,
    secrets,
    enrollments,
    revocations,
    crls,
    async startWorker() {
      await crlQueue.startWorker(crlScheduler.handler(crls), 1);
      crlScheduler.startSweeping(store, CRL_SWEEP_INTERVAL_MS);
      await queue.startWorker(createEnrollmentProcessor({ store, cas, log }), config.workerConcurrency);
      const n = await enrollments.requeueStranded(10_000);
      if (n) log.info({ count: n }, 're-queued requests left behind by a previous process');
      // Approvals made by another process (the CLI, say) and jobs lost with a dead in-process
      // queue leave requests `queued` with no job; the sweep gives them one. The queue dedupes.
      sweeper = setInterval(() => {
        enrollments.requeueStranded(1000, SWEEP_MIN_AGE_MS).catch((e: Error) => log.warn({ err: e.message }, 'sweep failed'));
      }, SWEEP_INTERVAL_MS);
      sweeper.unref();
    },
    async close() {
      if (closed) return;
      closed = true;
      if (sweeper) clearInterval(sweeper);
      crlScheduler.stop();
      await queue.close();
      await crlQueue.close();
      await broadcast.close();
      await verifier.close();
      await store.close();
    },
  };
}
