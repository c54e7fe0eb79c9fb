// Opens everything a process needs (store, queue, CA registry, services) from the config, and
// closes it again in the right order.
import { sqliteFileOf } from './storeLocation.js';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { Authorizer } from './auth/authorize.js';
import { CaRegistry, type CaBackendLoaders } from './ca/registry.js';
import { upstreamAcmeLoader } from './ca/upstream/loader.js';
import { caSecretFor, createCa, parentRefusal, type CaSecrets } from './ca/createCa.js';
import { chainKeyOf, isUnkeyed } from './audit/chain.js';
import { publicUrlOf, type Config } from './config.js';
import { checkMasterKey, persistNewMasterKey, resolveMasterKey } from './masterKey.js';
import type { CredentialKind } from './auth/credentialKinds.js';
import { CredentialService } from './auth/credentialService.js';
import { EnrollmentService, type NameAuthorizer } from './core/enrollmentService.js';
import { MemoryRateCounter, RedisRateCounter, type RateCounter } from './core/rateCounter.js';
import { MemoryOneTimeTokens, RedisOneTimeTokens, type OneTimeTokens } from './core/oneTimeTokens.js';
import { RequestLimits } from './auth/requestLimits.js';
import { credentialKindsOf, type CoreServices, type JobOptions, type MountedProtocol, type ProtocolJobs, type ProtocolModule, type ProtocolTables, type StatusChangeListener } from './core/protocol.js';
import { createSealing, type Sealing } from './core/sealing.js';
import { SystemSigner } from './core/systemSigner.js';
import { guardOf, guardTables } from './core/tableGuard.js';
import { InventoryService } from './core/inventoryService.js';
import { dcvSettingsOf, VALIDATION_ATTEMPTS, VALIDATION_BACKOFF_MS } from './core/dcvSettings.js';
import { DomainService } from './core/domainService.js';
import { QueryService } from './core/queries.js';
import { isProtocolName, type AuditContext, type CaRecord, type Protocol } from './core/types.js';
import { RevocationService } from './core/revocationService.js';
import { OrganizationService } from './core/organizationService.js';
import { CrlPublisher } from './ca/crlPublisher.js';
import { CrlScheduler } from './ca/crlScheduler.js';
import { createLogger } from './log.js';
import { ThreadedVerifier } from './pki/verifyPool.js';
import { ParsedCsrHandoff } from './pki/parsedCsrHandoff.js';
import { createBroadcast } from './queue/broadcast.js';
import { CatalogueCache } from './core/productCache.js';
import { CatalogueAdmin, type NewLocalCa } from './core/catalogueAdmin.js';
import { capabilitiesOf } from './core/caCapabilities.js';
import { badRequest, conflict } from './core/errors.js';
import { parseDnString } from './pki/name.js';
import { createQueue } from './queue/index.js';
import type { JobHandler, JobQueue } from './queue/types.js';
import { openStore } from './store/index.js';
import { realTimeMs } from './store/clock.js';
import type { Store } from './store/types.js';
import { createEnrollmentProcessor } from './worker/processEnrollment.js';
import { MetricsHost } from './metrics/host.js';
import { NO_METRICS } from './metrics/types.js';
import { NOTIFY_MIGRATION_OWNER, NOTIFY_MIGRATIONS } from './notify/migrations.js';
import { Notifier } from './notify/notifier.js';
import { webhookAddressPolicy } from './notify/urlPolicy.js';
import { WebhookService } from './notify/webhookService.js';

// The sweep also takes over requests whose worker died mid-sign, once their lease has run out:
// such a request waits at most signingLeaseMs + SWEEP_INTERVAL_MS.
const SWEEP_INTERVAL_MS = 5_000;
const SWEEP_MIN_AGE_MS = 15_000;
const CRL_SWEEP_INTERVAL_MS = 60_000;
const REVOCATIONS_CHANNEL = 'revocations';
const CREDENTIAL_CACHE_MS = 500;
const CREDENTIAL_CACHE_WITH_REDIS_MS = 10_000;
/** How late a process sees a product or CA another process added, when no broadcast reaches it. */
const CATALOGUE_CACHE_MS = 5_000;
const CATALOGUE_CACHE_WITH_REDIS_MS = 60_000;
/** Webhook jobs one worker process runs at once: each mostly waits on a subscriber's answer. */
const WEBHOOK_CONCURRENCY = 16;
/** Domain validations one worker process runs at once: each mostly waits on the network. */
const DOMAIN_VALIDATION_CONCURRENCY = 16;
/** `caId/serial`: whose status changed. A notice with no serial stands for the whole CA. */
const revocationNotice = (caId: string, serialHex: string): string => `${caId}/${serialHex}`;
function parseRevocationNotice(message: string): { caId: string; serialHex?: string } {
  const slash = message.indexOf('/');
  return slash < 0 ? { caId: message } : { caId: message.slice(0, slash), serialHex: message.slice(slash + 1) };
}

export interface Runtime {
  config: Config;
  log: Logger;
  store: Store;
  queue: JobQueue;
  cas: CaRegistry;
  secrets: CaSecrets;
  enrollments: EnrollmentService;
  revocations: RevocationService;
  /** Organization records, and the lookup the worker makes for products with subject.organization 'validated'. */
  organizations: OrganizationService;
  credentials: CredentialService;
  crls: CrlPublisher;
  /** Certificates the gateway issues to itself, recorded under each CA's system product. */
  signer: SystemSigner;
  sealing: Sealing;
  /** Metrics (null when CERTGATE_METRICS=off): what this process counts, and the deployment's scrape. */
  metrics: MetricsHost | null;
  /** Webhook events and deliveries: the tail, the expiry scan and the delivery job (started with the worker). */
  notifier: Notifier;
  /** What front-ends get: narrow services, never the store. */
  core: CoreServices;
  /** The product and CA lists front-ends read: tell it (changed) after adding a product or a CA. */
  catalogue: CatalogueCache;
  /** The domain registry (also core.domains): its validations run on their own queue, started with the worker. */
  domains: DomainService;
  /** The services the protocol of this name was mounted with (its tables handle included). */
  protocolCore(name: string): CoreServices;
  /** The registered protocols, mounted on `core`, in registration order. */
  protocols: readonly { module: ProtocolModule; mounted: MountedProtocol }[];
  /** Starts consuming enrollment jobs in this process, after re-queueing stranded requests. */
  startWorker(): Promise<void>;
  /** What a process that answers clients (or prepares for processes that do) needs. */
  startServing(): Promise<void>;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  log?: Logger;
  queuePrefix?: string;
  /** The front-ends of this deployment (protocols/index.ts). Their migrations run at open. */
  protocols?: readonly ProtocolModule[];
  /**
   * The kinds of credential that can be created and presented. Default: those of `protocols`. A
   * runtime that mounts no protocol (the CLI) still manages their credentials.
   */
  credentialKinds?: readonly CredentialKind[];
  /**
   * The one clock (milliseconds) of the store's stamps, credential expiry and caches, the memory
   * rate counter and the protocols. Default: real time; tests pass one they can move.
   */
  now?: () => number;
  /** Loaders of CA backends, over those the runtime registers (tests: a fake upstream CA). */
  caLoaders?: CaBackendLoaders | undefined;
}

/**
 * Opens the store with the master key it was sealed under, or stops (see masterKey.ts); and says
 * when the audit trail still waits for `audit reseal`. Start-up never re-seals on its own: anyone
 * who can write the database could otherwise rewrite the whole trail with plain hashes and have
 * the next start bless it.
 */
async function openStoreWithMasterKey(config: Config, log: Logger, now: (() => number) | undefined): Promise<{ store: Store; masterKey: string }> {
  const resolved = resolveMasterKey(config);
  const open = (masterKey: string) =>
    openStore({
      databaseUrl: config.databaseUrl,
      sqlitePath: sqliteFileOf(config),
      onConnectionError: (message, error) => log.warn({ err: error.message }, message),
      chainKey: chainKeyOf(masterKey),
      ...(now ? { now: () => new Date(now()) } : {}),
    });
  let store = await open(resolved.key);
  let masterKey = resolved.key;
  try {
    await checkMasterKey(store, resolved, config);
    if (resolved.fresh) {
      masterKey = persistNewMasterKey(resolved, config.dataDir);
      // Another process starting on the same new directory wrote its key first: use that one.
      if (masterKey !== resolved.key) {
        await store.close();
        store = await open(masterKey);
      }
    }
    if (isUnkeyed(chainKeyOf(masterKey), (await store.audit.after(0, 1))[0])) {
      log.warn('the audit trail starts with entries sealed by a plain hash (written before the keyed chain): run `certgate audit reseal` once to bring them under the key');
    }
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  return { store, masterKey };
}

export async function openRuntime(config: Config, options: RuntimeOptions = {}): Promise<Runtime> {
  const log = options.log ?? createLogger(config.logLevel);
  const queuePrefix = options.queuePrefix ?? config.queuePrefix;
  const now = options.now ?? realTimeMs;
  const { store, masterKey } = await openStoreWithMasterKey(config, log, options.now);
  await store.applyMigrations(NOTIFY_MIGRATION_OWNER, NOTIFY_MIGRATIONS);
  const secrets: CaSecrets = { masterKey, passphrases: config.caPassphrases };
  // Queue back-ends report background trouble (a lost Redis connection) through the log.
  const onError = (message: string, error: Error): void => log.error({ err: error.message }, message);
  // Set once this process works jobs: Redis came back, perhaps without its jobs; give every
  // request still to do a job again (the queue ignores those that still have one).
  let onQueueReconnect: (() => void) | undefined;
  const queue = createQueue({
    onError,
    redisUrl: config.redisUrl,
    prefix: queuePrefix,
    attempts: config.queueAttempts,
    backoffMs: config.queueBackoffMs,
    lockDurationMs: config.queueLockMs,
    stalledIntervalMs: config.queueStalledCheckMs,
    onReconnect: () => onQueueReconnect?.(),
  });
  const metricsHost = config.metrics === 'on' ? new MetricsHost({ store, log, now, ...(config.redisUrl ? { redis: { url: config.redisUrl, prefix: queuePrefix, ping: () => queue.ping() } } : {}) }) : null;
  const metrics = metricsHost?.facts ?? NO_METRICS;
  const cas = new CaRegistry(store, secrets, publicUrlOf(config), {
    // Imported on first use: the PKCS#11 binding is native code a deployment without tokens never loads.
    pkcs11: async (ca, context) => (await import('./ca/pkcs11/backend.js')).loadPkcs11Ca(ca, context),
    'upstream-acme': upstreamAcmeLoader(store, secrets),
    ...options.caLoaders,
  });
  const verifier = new ThreadedVerifier(config.cryptoThreads);
  const rateCounter: RateCounter = config.redisUrl ? new RedisRateCounter(config.redisUrl, queuePrefix, onError) : new MemoryRateCounter(now);
  const requestLimits = new RequestLimits(rateCounter, (entry) => store.audit.append(entry), metrics);
  const oneTimeTokens: OneTimeTokens = config.redisUrl ? new RedisOneTimeTokens(config.redisUrl, queuePrefix, onError) : new MemoryOneTimeTokens();
  // Other processes (API nodes, the CLI) hear of a revocation at once too, through Redis.
  const broadcast = createBroadcast({ redisUrl: config.redisUrl, prefix: queuePrefix, onError });
  const catalogue = new CatalogueCache(store, config.redisUrl ? CATALOGUE_CACHE_WITH_REDIS_MS : CATALOGUE_CACHE_MS, now, broadcast);
  // A worker in this process takes the CSRs its front-ends parsed instead of parsing them again.
  const parsedCsrs = new ParsedCsrHandoff();
  const enrollments = new EnrollmentService(store, queue, verifier, {
    counter: requestLimits,
    perMinute: config.protocolIssuePerMinute,
    perHour: config.protocolIssuePerHour,
  }, metrics, parsedCsrs, catalogue, (caId) => cas.readinessOf(caId));
  const revocations = new RevocationService(store, cas);
  const organizations = new OrganizationService(store, config.organizationValidityDays, now);
  const crls = new CrlPublisher(store, cas, { validityMs: config.crlValidityHours * 3_600_000 }, log);
  // CRL builds have a queue of their own, so a big CRL never waits behind (or holds up) enrollments.
  const crlQueue = createQueue({
    onError,
    redisUrl: config.redisUrl,
    prefix: queuePrefix,
    queueName: 'crl',
    attempts: config.queueAttempts,
    backoffMs: config.queueBackoffMs,
    lockDurationMs: config.queueLockMs,
    stalledIntervalMs: config.queueStalledCheckMs,
  });
  const crlScheduler = new CrlScheduler(crlQueue, config.crlDebounceMs, log);
  const statusListeners: StatusChangeListener[] = [];
  broadcast.subscribe(REVOCATIONS_CHANNEL, (message) => {
    const { caId, serialHex } = parseRevocationNotice(message);
    for (const l of statusListeners) l(caId, serialHex);
  });
  revocations.onChange((caId, serialHex) => {
    // This process hears it now: a REST revoke must show in the very next OCSP answer.
    for (const l of statusListeners) l(caId, serialHex);
    crlScheduler.revoked(caId);
    void broadcast.publish(REVOCATIONS_CHANNEL, revocationNotice(caId, serialHex));
  });

  const credentials = new CredentialService(store, {
    masterKey: secrets.masterKey,
    tokenTtlSeconds: config.tokenTtlSeconds,
    sessionTtlSeconds: config.consoleSessionTtlSeconds,
    oneTimeTokens,
    kinds: options.credentialKinds ?? credentialKindsOf(options.protocols ?? []),
    broadcast,
    now,
    // With Redis, a rotation or revocation reaches every process at once and the cache bound
    // only matters if that notice is lost; without it, the bound is how late others see it.
    cacheMs: config.redisUrl ? CREDENTIAL_CACHE_WITH_REDIS_MS : CREDENTIAL_CACHE_MS,
    onError,
    metrics,
    limits: {
      counter: rateCounter,
      throttle: {
        windowMs: config.loginThrottleWindowSeconds * 1000,
        failuresBeforeDelay: config.loginFailuresBeforeDelay,
        delayMaxMs: config.loginDelayMaxMs,
        maxPerSource: config.loginFailuresPerSource,
        maxPerIdentity: config.loginFailuresPerIdentity,
      },
      refusalAuditMs: config.authRefusalAuditSeconds * 1000,
    },
  });

  // Queues the protocols define for their own work (ACME validations): started with the worker.
  const protocolQueues: { name: string; queue: JobQueue; handler: JobHandler; concurrency: number }[] = [];
  const jobs = (name: string, handler: JobHandler, options: JobOptions = {}): ProtocolJobs => {
    if (!/^[a-z][a-z0-9-]{0,39}$/.test(name) || name === 'enrollment' || name === 'crl' || name === 'webhook' || name === 'domain-validation' || protocolQueues.some((q) => q.name === name)) {
      throw new Error(`invalid or taken job queue name ${JSON.stringify(name)}`);
    }
    const queue = createQueue({
      onError,
      redisUrl: config.redisUrl,
      prefix: queuePrefix,
      queueName: name,
      attempts: options.attempts ?? config.queueAttempts,
      backoffMs: options.backoffMs ?? config.queueBackoffMs,
      lockDurationMs: config.queueLockMs,
      stalledIntervalMs: config.queueStalledCheckMs,
    });
    protocolQueues.push({ name, queue, handler, concurrency: options.concurrency ?? 8 });
    return { enqueue: (id) => queue.enqueue(id), waitFor: (id, ms) => queue.waitFor(id, ms) };
  };

  const sealing = createSealing(secrets.masterKey);
  const signer = new SystemSigner(store, cas, log);
  const webhookPolicy = webhookAddressPolicy(config.webhookAllowPrivate);
  const webhooks = new WebhookService(store, sealing, webhookPolicy, now);
  const webhookQueue = createQueue({
    onError,
    redisUrl: config.redisUrl,
    prefix: queuePrefix,
    queueName: 'webhook',
    attempts: config.webhookAttempts,
    backoffMs: config.webhookBackoffMs,
    lockDurationMs: config.queueLockMs,
    stalledIntervalMs: config.queueStalledCheckMs,
  });
  const notifier = new Notifier({
    store,
    webhooks,
    policy: webhookPolicy,
    log,
    now,
    expiryThresholdsDays: config.expiryNoticeDays,
    deliveryTimeoutMs: config.webhookTimeoutMs,
    // Longer than a job's lock, so a delivery a live worker holds is not queued twice.
    sweepAfterMs: config.queueLockMs + config.webhookTimeoutMs,
  });
  // Domain validations have a queue of their own (job id = domain id), as CRL builds do.
  const domainQueue = createQueue({
    onError,
    redisUrl: config.redisUrl,
    prefix: queuePrefix,
    queueName: 'domain-validation',
    attempts: VALIDATION_ATTEMPTS,
    backoffMs: VALIDATION_BACKOFF_MS,
    lockDurationMs: config.queueLockMs,
    stalledIntervalMs: config.queueStalledCheckMs,
  });
  const domains = new DomainService({ store, queue: domainQueue, enrollments, webhooks, settings: dcvSettingsOf(config, metrics), maxReuseDays: config.dcvMaxReuseDays, now, log });
  // What `certgate ca create` does for a local CA, with its failures said as refusals.
  const createLocalCa = async (input: NewLocalCa, by: AuditContext): Promise<CaRecord> => {
    if (input.subject !== undefined) {
      try {
        parseDnString(input.subject);
      } catch (e) {
        throw badRequest(`subject: ${(e as Error).message}`);
      }
    }
    const parent = input.parentId === undefined ? undefined : await store.cas.get(input.parentId);
    if (parent) {
      // Before a key is made for it.
      const refusal = parentRefusal(parent);
      if (refusal) throw conflict(`parentId: ${refusal}`);
      if (!capabilitiesOf(parent).signsLocally) throw conflict(`parentId: CA "${parent.name}" (${parent.backend}) does not sign with a key certgate holds, so it cannot certify a CA`);
      if (parent.backend === 'local') {
        try {
          caSecretFor(parent, secrets);
        } catch (e) {
          throw conflict(`parentId: ${(e as Error).message}`);
        }
      }
    }
    const { parentId, ...rest } = input;
    return createCa(store, { ...rest, ...(parentId ? { parentId, parentPointers: cas.pointersFor(parentId) } : {}) }, secrets, by);
  };
  const catalogueAdmin = new CatalogueAdmin({ store, protocols: options.protocols ?? [], limits: config, changed: () => catalogue.changed(), createLocalCa });
  const core: CoreServices = {
    config,
    log,
    enrollments,
    revocations,
    queries: new QueryService(store),
    catalogue,
    catalogueAdmin,
    inventory: new InventoryService(store),
    organizations,
    credentials,
    authz: new Authorizer(store.audit),
    audit: store.audit,
    // Views, not the registry and publisher themselves: a front-end cannot reach issue() or publish().
    cas: { chainOf: (caId) => cas.chainOf(caId), chainFor: (certificate) => cas.chainFor(certificate), upstreamRenewalWindow: (certificate) => cas.upstreamRenewalWindow(certificate) },
    crls: { current: (caId) => crls.current(caId), origin: (caId, n) => crls.origin(caId, n) },
    ocspSigners: store.ocspSigners,
    signer,
    sealing,
    // Loaded on first use: a deployment without a token never loads the PKCS#11 binding.
    tokenKeys: { open: async (source) => (await import('./ca/pkcs11/tokenKeys.js')).openTokenKeyStore(source) },
    onStatusChange: (listener) => statusListeners.push(listener),
    tables: () => {
      throw new Error('tables belong to a protocol: use the services its mount() was given');
    },
    jobs,
    rateCounter,
    requestLimits,
    oneTimeTokens,
    now,
    metrics,
    webhooks,
    domains,
  };
  const protocols: { module: ProtocolModule; mounted: MountedProtocol }[] = [];
  const protocolCores = new Map<string, CoreServices>();
  for (const module of options.protocols ?? []) {
    // The name is what requests and the audit trail carry for the protocol: one per module, never the CLI's.
    if (!isProtocolName(module.name) || module.name === 'cli' || protocolCores.has(module.name)) throw new Error(`invalid or taken protocol name ${JSON.stringify(module.name)}`);
    if (module.migrations) await store.applyMigrations(module.name, module.migrations);
    const guard = await guardOf(module);
    const guarded = guardTables<unknown>(store.db as unknown as Kysely<unknown>, guard);
    const handle: ProtocolTables<unknown> = {
      kind: store.kind,
      db: guarded.db,
      write: (statement) => {
        // A refusal is a rejected promise, as any failed write is, not a throw from write() itself.
        try {
          return store.write(guarded.checked(statement));
        } catch (e) {
          return Promise.reject(e as Error);
        }
      },
    };
    // The schema type is the protocol's to name; what it may touch is enforced by the guard.
    const own: CoreServices = { ...core, signer: signer.forProtocol(module.name), tables: <S>() => handle as unknown as ProtocolTables<S> };
    protocolCores.set(module.name, own);
    protocols.push({ module, mounted: module.mount(own) });
  }
  // Admin routes are served by the protocol that serves them (REST), whatever the mount order.
  const adminRoutes = protocols.flatMap(({ module, mounted }) => (mounted.adminRoutes ? [{ protocol: module.name, declare: mounted.adminRoutes.bind(mounted) }] : []));
  for (const { mounted } of protocols) mounted.serveAdminRoutes?.(adminRoutes);
  const nameAuthorizers = new Map<Protocol, NameAuthorizer>();
  for (const { module, mounted } of protocols) if (mounted.authorizeNames) nameAuthorizers.set(module.name, mounted.authorizeNames);

  let closed = false;
  let sweeper: NodeJS.Timeout | undefined;
  let notifyTimer: NodeJS.Timeout | undefined;
  let expiryTimer: NodeJS.Timeout | undefined;
  return {
    config,
    log,
    store,
    queue,
    cas,
    secrets,
    enrollments,
    revocations,
    organizations,
    credentials,
    crls,
    signer,
    sealing,
    metrics: metricsHost,
    notifier,
    core,
    catalogue,
    domains,
    protocolCore(name) {
      const own = protocolCores.get(name);
      if (!own) throw new Error(`no protocol ${name} in this runtime`);
      return own;
    },
    protocols,
    async startWorker() {
      await crlQueue.startWorker(crlScheduler.handler(crls), 1);
      for (const q of protocolQueues) await q.queue.startWorker(q.handler, q.concurrency);
      await domainQueue.startWorker(domains.handler(), DOMAIN_VALIDATION_CONCURRENCY);
      const validating = await domains.requeueValidating();
      if (validating) log.info({ count: validating }, 're-queued domain validations left behind by a previous process');
      crlScheduler.startSweeping(store, CRL_SWEEP_INTERVAL_MS);
      await queue.startWorker(createEnrollmentProcessor({ store, cas, log, leaseMs: config.signingLeaseMs, nameAuthorizers, metrics, parsedCsrs, domains, organizations, onCatalogueChange: (listener) => catalogue.onChanged(listener) }), config.workerConcurrency);
      const n = await enrollments.requeueStranded(10_000);
      if (n) log.info({ count: n }, 're-queued requests left behind by a previous process');
      // Approvals made by another process (the CLI, say) and jobs lost with a dead in-process
      // queue leave requests `queued` with no job; the sweep gives them one. The queue dedupes.
      sweeper = setInterval(() => {
        enrollments.requeueStranded(1000, SWEEP_MIN_AGE_MS).catch((e: Error) => log.warn({ err: e.message }, 'sweep failed'));
        // Likewise validations asked for by a process that works no jobs (the CLI on the embedded queue).
        domains.requeueValidating(1000).catch((e: Error) => log.warn({ err: e.message }, 'domain validation sweep failed'));
      }, SWEEP_INTERVAL_MS);
      sweeper.unref();
      await webhookQueue.startWorker(notifier.handler, WEBHOOK_CONCURRENCY);
      const notify = (): void => {
        notifier.tick((id) => webhookQueue.enqueue(id)).catch((e: Error) => log.warn({ err: e.message }, 'webhook pass failed'));
      };
      const scanExpiry = (): void => {
        notifier.scanExpiry().then(
          (count) => count && log.info({ count }, 'certificates nearing expiry: events queued'),
          (e: Error) => log.warn({ err: e.message }, 'expiry scan failed'),
        );
      };
      notifyTimer = setInterval(notify, config.webhookPollMs);
      notifyTimer.unref();
      scanExpiry();
      expiryTimer = setInterval(scanExpiry, config.expiryScanIntervalSeconds * 1000);
      expiryTimer.unref();
      onQueueReconnect = () => {
        if (closed) return;
        enrollments.requeueStranded(10_000).then(
          (count) => log.info({ count }, 'queue reconnected: re-queued the requests still to do'),
          (e: Error) => log.warn({ err: e.message }, 're-queue after reconnect failed'),
        );
      };
    },
    async startServing() {
      for (const { mounted } of protocols) await mounted.startServing?.();
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const { mounted } of protocols) await mounted.close?.();
      if (sweeper) clearInterval(sweeper);
      if (notifyTimer) clearInterval(notifyTimer);
      if (expiryTimer) clearInterval(expiryTimer);
      await notifier.settled();
      crlScheduler.stop();
      await credentials.close();
      await metricsHost?.close();
      await queue.close();
      await crlQueue.close();
      await webhookQueue.close();
      await domainQueue.close();
      for (const q of protocolQueues) await q.queue.close();
      await broadcast.close();
      await rateCounter.close();
      await oneTimeTokens.close();
      await verifier.close();
      await store.close();
    },
  };
}
