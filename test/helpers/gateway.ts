// The one way tests configure and start a certgate: `testConfig` for a runtime of their own,
// `startGateway` for a running gateway as `certgate start` runs one (listeners, worker, `init`).
// Both go through the real loadConfig, so every test config is validated as an operator's is.
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { loadConfig, type Config, type ConfigOverrides } from '../../src/config.js';
import type { ProtocolModule } from '../../src/core/protocol.js';
import type { CaRecord, KeyAlgorithm, ProductRecord } from '../../src/core/types.js';
import { startServer, type RunningServer } from '../../src/httpServer.js';
import { initialize } from '../../src/init.js';
import type { Runtime, RuntimeOptions } from '../../src/runtime.js';
import { PROTOCOLS } from '../../protocols/index.js';
import { createTestDatabase } from '../harness/postgres.js';
import { NO_LOGIN_THROTTLE } from './loginThrottle.js';
import { freePort } from './net.js';
import { tempDir } from './openssl.js';

/** The master key of every test deployment (each has a data dir or database of its own). */
export const TEST_MASTER_KEY = 'test-master-key-0123456789';

const redisUrl = inject('redisUrl');
const postgresUrl = inject('postgresUrl');

export type Backend = 'sqlite' | 'postgres';
export type QueueKind = 'memory' | 'bullmq';

export interface Deployment {
  backend?: Backend;
  queue?: QueueKind;
}

/** Whether the harness lacks what the deployment needs (PostgreSQL, Redis): skip the suite then. */
export function deploymentMissing({ backend = 'sqlite', queue = 'memory' }: Deployment): boolean {
  return (backend === 'postgres' && !postgresUrl) || (queue === 'bullmq' && !redisUrl);
}

/** A whole deployment for startGateway, as suites run each case on both. */
export interface NamedDeployment {
  name: string;
  backend: Backend;
  queue: QueueKind;
  worker: 'in-process' | 'separate';
  skip: boolean;
}

/** Embedded, and scaled out with its worker in a process of its own (skipped when the harness lacks a server). */
export const GATEWAY_DEPLOYMENTS: NamedDeployment[] = [
  { name: 'SQLite, in-process queue', backend: 'sqlite', queue: 'memory', worker: 'in-process', skip: false },
  { name: 'PostgreSQL, BullMQ, separate worker', backend: 'postgres', queue: 'bullmq', worker: 'separate', skip: deploymentMissing({ backend: 'postgres', queue: 'bullmq' }) },
];

/**
 * What a deployment adds to a config: a fresh database of the harness PostgreSQL, the harness
 * Redis under a key prefix of its own (suites share that Redis; with their own keys they never
 * take each other's jobs). Nothing for SQLite and the in-process queue.
 */
export async function deploymentConfig({ backend = 'sqlite', queue = 'memory' }: Deployment): Promise<ConfigOverrides> {
  if (deploymentMissing({ backend, queue })) throw new Error(`the harness has no ${backend === 'postgres' && !postgresUrl ? 'PostgreSQL' : 'Redis'}: skip with deploymentMissing()`);
  return {
    ...(backend === 'postgres' ? { databaseUrl: await createTestDatabase(postgresUrl as string) } : {}),
    ...(queue === 'bullmq' ? { redisUrl: redisUrl as string, queuePrefix: `test-${randomUUID()}` } : {}),
  };
}

/** The discard port of loopback: nothing answers DNS there. */
const NO_DNS_SERVER = '127.0.0.1:9';

/**
 * A validated config for a test: a fresh data dir, the test master key, loopback, a free HTTP
 * port chosen by the system, no HTTPS listener, no log output, and a DNS server on loopback where
 * none answers (a domain validation a test sets off without its own stub DNS server must not ask
 * the system's resolver, which is not on loopback); `overrides` win. The environment
 * is not read: a developer's CERTGATE_* variables must not change what a test sees. `protocols`
 * bring their own settings (production's by default), so overrides may set those too.
 */
export function testConfig(overrides: ConfigOverrides = {}, dirPrefix = 'certgate-test-', protocols: readonly ProtocolModule[] = PROTOCOLS): Config {
  return loadConfig({
    env: {},
    protocols,
    overrides: { dataDir: overrides.dataDir ?? tempDir(dirPrefix), host: '127.0.0.1', httpPort: 0, httpsPort: 0, masterKey: TEST_MASTER_KEY, logLevel: 'silent', dnsServer: NO_DNS_SERVER, ...overrides },
  });
}

/**
 * What a running test gateway has besides testConfig's: the failed-login throttle off (suites
 * present wrong credentials on purpose; limits.test.ts turns it on), a short queue back-off and
 * issue wait.
 */
export const GATEWAY_DEFAULTS: ConfigOverrides = { issueWaitMs: 15_000, queueBackoffMs: 50, ...NO_LOGIN_THROTTLE };

export interface GatewayOptions extends Deployment {
  /**
   * The whole config, as it is (then backend, queue, overrides, https and dirPrefix are not
   * read): a second process of one deployment, or a restart on a data dir already there.
   */
  config?: Config;
  /** The front-ends to mount; default: all of production's. */
  protocols?: readonly ProtocolModule[];
  overrides?: ConfigOverrides;
  /**
   * Serve HTTPS too, on a port free a moment ago: ACME and EST name the HTTPS port in the URLs
   * they hand out, so it must be known before start (0 would turn the listener off).
   */
  https?: boolean;
  /**
   * Who works the jobs: this process (`certgate start`), a runtime of its own (`certgate serve`
   * plus `certgate worker`), or nobody (an API node whose worker is elsewhere).
   */
  worker?: 'in-process' | 'separate' | 'none';
  /** `certgate init` before serving (default), with these options; false: a gateway left as it is. */
  init?: false | { keyAlgorithm?: KeyAlgorithm };
  dirPrefix?: string;
  /** The deployment's clock (helpers/clock.ts), for the gateway and its separate worker; default real time. */
  now?: () => number;
  /** CA backend loaders for the gateway and its separate worker (helpers/fakeUpstreamCa.ts). */
  caLoaders?: RuntimeOptions['caLoaders'];
}

export interface Gateway {
  config: Config;
  server: RunningServer;
  /** The runtime behind the listeners. */
  rt: Runtime;
  /** The separate worker runtime, with `worker: 'separate'`. */
  worker: Runtime | undefined;
  dir: string;
  /** http://127.0.0.1:<port> */
  baseUrl: string;
  /** https://127.0.0.1:<port>, with `https: true`. */
  httpsUrl: string | null;
  /** What `init` made (empty with `init: false`). */
  root: CaRecord;
  issuing: CaRecord;
  product: ProductRecord;
  /** The admin REST key `init` made. */
  adminToken: string;
  close(): Promise<void>;
}

/** A running gateway as production starts one (startServer over openRuntime, `init` first), with the test config. */
export async function startGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const worker = options.worker ?? 'in-process';
  const config =
    options.config ??
    testConfig(
      {
        ...GATEWAY_DEFAULTS,
        ...(options.https ? { httpsPort: await freePort() } : {}),
        ...(await deploymentConfig(options)),
        ...options.overrides,
      },
      options.dirPrefix,
      options.protocols ?? PROTOCOLS,
    );
  let made: Awaited<ReturnType<typeof initialize>> = { created: false };
  const init = options.init;
  const server = await startServer(config, {
    worker: worker === 'in-process',
    json: true,
    protocols: options.protocols ?? PROTOCOLS,
    now: options.now,
    caLoaders: options.caLoaders,
    ...(init === false ? {} : { initFirst: async (rt: Runtime) => void (made = await initialize(rt, init ?? {})) }),
  });
  let separate: RunningServer | undefined;
  try {
    if (init !== false && !made.created) throw new Error('init found a deployment already there');
    // As `certgate worker` runs: no listeners, the same protocols (their job queues are worked here).
    if (worker === 'separate') separate = await startServer(config, { worker: true, json: true, http: false, protocols: options.protocols ?? PROTOCOLS, now: options.now, caLoaders: options.caLoaders });
  } catch (e) {
    await server.close();
    throw e;
  }
  return {
    config,
    server,
    rt: server.rt,
    worker: separate?.rt,
    dir: config.dataDir,
    baseUrl: server.httpUrl as string,
    httpsUrl: server.httpsUrl,
    root: made.root as CaRecord,
    issuing: made.issuing as CaRecord,
    product: made.product as ProductRecord,
    adminToken: made.adminToken ?? '',
    async close() {
      await server.close();
      await separate?.close();
    },
  };
}
