// One validated configuration object. Sources, later winning: defaults, an optional JSON file
// (CERTGATE_CONFIG or --config), environment variables. An invalid setting stops start-up with a
// message naming the setting as the operator wrote it. The core's settings are declared here; each
// protocol declares its own (ProtocolModule.config, protocols/<name>/config.ts) and they join these.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import type { ProtocolModule } from './core/protocol.js';
import { parseCidr } from './pki/cidr.js';

const port = z.coerce.number().int().min(0).max(65535);
const url = (protocols: string[]) =>
  z.string().refine((s) => {
    try {
      return protocols.includes(new URL(s).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${protocols.join(' or ')}//`);

const cidr = z.string().superRefine((s, ctx) => {
  try {
    parseCidr(s);
  } catch (e) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
  }
});

/** The shortest master key accepted, in config and by `certgate master-key rotate`. */
export const MASTER_KEY_MIN_LENGTH = 16;

export const configSchema = z.object({
  dataDir: z.string().min(1).default('./data'),
  host: z.string().min(1).default('127.0.0.1'),
  httpPort: port.default(8080),
  /** 0 turns the HTTPS listener off. */
  httpsPort: port.default(8443),
  /** Encrypts CA keys at rest. Embedded default: generated into the data dir on first start. */
  masterKey: z.string().min(MASTER_KEY_MIN_LENGTH, `must be at least ${MASTER_KEY_MIN_LENGTH} characters`).optional(),
  databaseUrl: url(['postgres:', 'postgresql:']).optional(),
  redisUrl: url(['redis:', 'rediss:']).optional(),
  publicUrl: url(['http:', 'https:']).optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** How long a front-end that waits for the worker (REST csr mode) waits before answering 202. */
  issueWaitMs: z.coerce.number().int().min(0).max(300_000).default(30_000),
  /** Threads that check CSR signatures off the event loop; default: one per core but one. */
  cryptoThreads: z.coerce.number().int().min(1).max(64).default(Math.max(1, availableParallelism() - 1)),
  workerConcurrency: z.coerce.number().int().min(1).max(256).default(32),
  /** How long a worker's claim on a request is exclusive; a dead worker's request is taken over after it. */
  signingLeaseMs: z.coerce.number().int().min(1_000).max(600_000).default(10_000),
  /**
   * BullMQ: how long a running job's lock lasts without renewal; a dead worker's job is handed to
   * another after it (plus up to one stalled check).
   */
  queueLockMs: z.coerce.number().int().min(1_000).max(600_000).default(10_000),
  /** BullMQ: how often workers look for jobs whose lock expired. */
  queueStalledCheckMs: z.coerce.number().int().min(500).max(600_000).default(5_000),
  /** HTTP processes sharing the ports (`serve --processes`); more than one needs REDIS_URL. */
  httpProcesses: z.coerce.number().int().min(1).max(64).default(1),
  queueAttempts: z.coerce.number().int().min(1).max(50).default(5),
  queueBackoffMs: z.coerce.number().int().min(1).default(500),
  /**
   * Namespaces the Redis keys of the queues and the pub/sub channels: deployments (or test runs)
   * sharing one Redis must each have their own, or they take each other's jobs.
   */
  queuePrefix: z.string().regex(/^[A-Za-z0-9_.{}-]+$/, 'letters, digits and _ . - { } only').default('certgate'),
  /** An operator-supplied HTTPS certificate (PEM, leaf first) and key; otherwise the gateway issues its own. */
  tlsCertFile: z.string().min(1).optional(),
  tlsKeyFile: z.string().min(1).optional(),
  /** nextUpdate - thisUpdate of each CRL; a new one is published at half-life and after revocations. */
  crlValidityHours: z.coerce.number().min(1).max(24 * 365).default(24),
  /** Revocations within this window share one CRL rebuild. */
  crlDebounceMs: z.coerce.number().int().min(0).max(600_000).default(2_000),
  /** Extra host names for the HTTPS certificate the gateway issues itself. */
  tlsHostnames: z.array(z.string().min(1)).default([]),
  /** host:port of the DNS server the validator (ACME) asks; unset: the system's resolver. */
  dnsServer: z.string().regex(/^[^:\s]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'must be host:port').optional(),
  /** Where the validator connects for http-01 (RFC 8555 says 80; tests and labs use others). */
  http01Port: port.default(80),
  /** Where the validator connects for tls-alpn-01 (RFC 8737 says 443). */
  tlsAlpn01Port: port.default(443),
  /** Address ranges (CIDR) the validator never connects to, on top of link-local and metadata ranges, always denied. */
  vaDenyCidrs: z.array(cidr).default([]),
  /** Ranges carved out of vaDenyCidrs (they cannot reopen link-local or metadata ranges). */
  vaAllowCidrs: z.array(cidr).default([]),
  /**
   * The longest a domain validation may be reused, in days (a product's dcv.reuseDays is capped at
   * it). CA/Browser Forum ballot SC-081 brings it from 398 down to 10 days by 2029.
   */
  dcvMaxReuseDays: z.coerce.number().int().min(1).max(825).default(398),
  /** How long an approved organization record lasts, in days (CA/Browser Forum: 398 for OV). */
  organizationValidityDays: z.coerce.number().int().min(1).max(825).default(398),
  /** Lets webhooks be delivered to loopback and private addresses (refused by default: see src/notify/urlPolicy.ts). */
  webhookAllowPrivate: z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]).default(false),
  /** Attempts per webhook delivery, the first included; the waits between them double from webhookBackoffMs. */
  webhookAttempts: z.coerce.number().int().min(1).max(30).default(10),
  webhookBackoffMs: z.coerce.number().int().min(1).max(3_600_000).default(5_000),
  /** How long a subscriber has to answer one delivery. */
  webhookTimeoutMs: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** How often a worker turns new audit entries into events and queues their deliveries. */
  webhookPollMs: z.coerce.number().int().min(50).max(600_000).default(1_000),
  /** Days before notAfter at which certificate.expiring is sent (a product's expiryNoticeDays wins). */
  expiryNoticeDays: z.array(z.coerce.number().int().min(1).max(3650)).min(1).max(10).default([30, 14, 7, 1]),
  /** How often workers look for certificates nearing expiry (and once at start). */
  expiryScanIntervalSeconds: z.coerce.number().int().min(1).max(7 * 86_400).default(3_600),
  /** Lifetime of a bearer token from POST /v1/auth/token. */
  tokenTtlSeconds: z.coerce.number().int().min(30).max(86_400).default(900),
  /** Lifetime of a web console session from its sign-in (no sliding renewal: the person signs in again). */
  consoleSessionTtlSeconds: z.coerce.number().int().min(60).max(43_200).default(1_800),
  /** Passphrases of passphrase-protected CAs, by CA name or id. */
  caPassphrases: z.record(z.string(), z.string()).default({}),
  /** How long a client has to send a request's headers (HTTP and HTTPS): a client that stalls mid-headers is cut off. */
  httpHeadersTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(10_000),
  /** How long a client has to send a whole request, body included; at least httpHeadersTimeoutMs. */
  httpRequestTimeoutMs: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  /** How long an idle keep-alive connection is kept: longer than a load balancer's idle timeout (60 s on AWS ALB). */
  httpKeepAliveTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(65_000),
  /**
   * ACME, EST and SCEP issuances per minute, counted per requester (ACME account, EST user or
   * certificate) and per credential (EAB, EST, static SCEP challenge) (0: no limit). REST has its own (protocols/rest/config.ts).
   */
  protocolIssuePerMinute: z.coerce.number().int().min(0).default(120),
  /** The same per hour (0: no limit). */
  protocolIssuePerHour: z.coerce.number().int().min(0).default(3_000),
  /** Failed logins (per source address or per claimed identity) answered at once; each one more waits twice as long. */
  loginFailuresBeforeDelay: z.coerce.number().int().min(0).default(5),
  /** The longest a failed login's answer is held back. */
  loginDelayMaxMs: z.coerce.number().int().min(0).max(60_000).default(2_000),
  /** Failed logins from one source address in a window, after which every login from it is refused until the window ends (0: no limit). */
  loginFailuresPerSource: z.coerce.number().int().min(0).default(100),
  /** Failed logins for one claimed identity (EST user, API key id, EAB key id) in a window, then refused alike (0: no limit). */
  loginFailuresPerIdentity: z.coerce.number().int().min(0).default(20),
  /** The failed-login window. */
  loginThrottleWindowSeconds: z.coerce.number().int().min(1).max(86_400).default(900),
  /** Refused logins are audited once per source and reason in this window, then as one entry with their count. */
  authRefusalAuditSeconds: z.coerce.number().int().min(1).max(86_400).default(60),
  /** Prometheus metrics: counted on the hot path and served at GET /metrics (on), or neither (off: 404). */
  metrics: z.enum(['on', 'off']).default('on'),
  /** A bearer token GET /metrics requires; unset: the page is open to whoever reaches the port. */
  metricsToken: z.string().min(16, 'must be at least 16 characters').optional(),
});

export type Config = z.infer<typeof configSchema>;

/** Where each setting comes from in the environment; the name we print when it is wrong. */
export const ENV_NAMES: Record<keyof Config, string> = {
  dataDir: 'CERTGATE_DATA_DIR',
  host: 'CERTGATE_HOST',
  httpPort: 'CERTGATE_HTTP_PORT',
  httpsPort: 'CERTGATE_HTTPS_PORT',
  masterKey: 'CERTGATE_MASTER_KEY',
  databaseUrl: 'DATABASE_URL',
  redisUrl: 'REDIS_URL',
  publicUrl: 'CERTGATE_PUBLIC_URL',
  logLevel: 'CERTGATE_LOG_LEVEL',
  issueWaitMs: 'CERTGATE_ISSUE_WAIT_MS',
  tokenTtlSeconds: 'CERTGATE_TOKEN_TTL_SECONDS',
  consoleSessionTtlSeconds: 'CERTGATE_CONSOLE_SESSION_TTL_SECONDS',
  dnsServer: 'CERTGATE_DNS_SERVER',
  http01Port: 'CERTGATE_HTTP01_PORT',
  tlsAlpn01Port: 'CERTGATE_TLSALPN01_PORT',
  vaDenyCidrs: 'CERTGATE_VA_DENY_CIDRS',
  vaAllowCidrs: 'CERTGATE_VA_ALLOW_CIDRS',
  dcvMaxReuseDays: 'CERTGATE_DCV_MAX_REUSE_DAYS',
  organizationValidityDays: 'CERTGATE_ORGANIZATION_VALIDITY_DAYS',
  webhookAllowPrivate: 'CERTGATE_WEBHOOK_ALLOW_PRIVATE',
  webhookAttempts: 'CERTGATE_WEBHOOK_ATTEMPTS',
  webhookBackoffMs: 'CERTGATE_WEBHOOK_BACKOFF_MS',
  webhookTimeoutMs: 'CERTGATE_WEBHOOK_TIMEOUT_MS',
  webhookPollMs: 'CERTGATE_WEBHOOK_POLL_MS',
  expiryNoticeDays: 'CERTGATE_EXPIRY_NOTICE_DAYS',
  expiryScanIntervalSeconds: 'CERTGATE_EXPIRY_SCAN_INTERVAL_SECONDS',
  workerConcurrency: 'CERTGATE_WORKER_CONCURRENCY',
  signingLeaseMs: 'CERTGATE_SIGNING_LEASE_MS',
  queueLockMs: 'CERTGATE_QUEUE_LOCK_MS',
  queueStalledCheckMs: 'CERTGATE_QUEUE_STALLED_CHECK_MS',
  httpProcesses: 'CERTGATE_HTTP_PROCESSES',
  cryptoThreads: 'CERTGATE_CRYPTO_THREADS',
  queueAttempts: 'CERTGATE_QUEUE_ATTEMPTS',
  queueBackoffMs: 'CERTGATE_QUEUE_BACKOFF_MS',
  queuePrefix: 'CERTGATE_QUEUE_PREFIX',
  crlValidityHours: 'CERTGATE_CRL_VALIDITY_HOURS',
  crlDebounceMs: 'CERTGATE_CRL_DEBOUNCE_MS',
  tlsCertFile: 'CERTGATE_TLS_CERT_FILE',
  tlsKeyFile: 'CERTGATE_TLS_KEY_FILE',
  tlsHostnames: 'CERTGATE_TLS_HOSTNAMES',
  caPassphrases: 'CERTGATE_CA_PASSPHRASES',
  httpHeadersTimeoutMs: 'CERTGATE_HTTP_HEADERS_TIMEOUT_MS',
  httpRequestTimeoutMs: 'CERTGATE_HTTP_REQUEST_TIMEOUT_MS',
  httpKeepAliveTimeoutMs: 'CERTGATE_HTTP_KEEP_ALIVE_TIMEOUT_MS',
  protocolIssuePerMinute: 'CERTGATE_PROTOCOL_ISSUE_PER_MINUTE',
  protocolIssuePerHour: 'CERTGATE_PROTOCOL_ISSUE_PER_HOUR',
  loginFailuresBeforeDelay: 'CERTGATE_LOGIN_FAILURES_BEFORE_DELAY',
  loginDelayMaxMs: 'CERTGATE_LOGIN_DELAY_MAX_MS',
  loginFailuresPerSource: 'CERTGATE_LOGIN_FAILURES_PER_SOURCE',
  loginFailuresPerIdentity: 'CERTGATE_LOGIN_FAILURES_PER_IDENTITY',
  loginThrottleWindowSeconds: 'CERTGATE_LOGIN_THROTTLE_WINDOW_SECONDS',
  authRefusalAuditSeconds: 'CERTGATE_AUTH_REFUSAL_AUDIT_SECONDS',
  metrics: 'CERTGATE_METRICS',
  metricsToken: 'CERTGATE_METRICS_TOKEN',
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Settings given in the environment as comma-separated lists. */
const LIST_KEYS: readonly string[] = ['tlsHostnames', 'vaDenyCidrs', 'vaAllowCidrs', 'expiryNoticeDays'];

/** The core's settings and the registered protocols' own, as one schema. */
interface Settings {
  schema: z.ZodObject<z.ZodRawShape>;
  envNames: Readonly<Record<string, string>>;
  lists: ReadonlySet<string>;
}

function settingsOf(protocols: readonly Pick<ProtocolModule, 'name' | 'config'>[]): Settings {
  const shape: Record<string, z.ZodType> = { ...configSchema.shape };
  const envNames: Record<string, string> = { ...ENV_NAMES };
  const lists = new Set(LIST_KEYS);
  for (const { name, config } of protocols) {
    if (!config) continue;
    for (const key of Object.keys(config.shape)) {
      // A programming error, not an operator's: two owners of one setting.
      if (key in shape) throw new Error(`protocol ${name}: the setting ${key} is declared twice`);
      const env = config.env[key];
      if (!env) throw new Error(`protocol ${name}: the setting ${key} has no environment variable`);
      shape[key] = config.shape[key] as z.ZodType;
      envNames[key] = env;
    }
    for (const key of config.lists ?? []) lists.add(key);
  }
  return { schema: z.object(shape), envNames, lists };
}

function fromEnv(env: NodeJS.ProcessEnv, { envNames, lists }: Settings): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(envNames)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    if (lists.has(key)) out[key] = v.split(',').map((s) => s.trim()).filter(Boolean);
    else if (key === 'caPassphrases') {
      try {
        out[key] = JSON.parse(v);
      } catch {
        throw new ConfigError(`${name}: must be a JSON object like {"ca-name": "passphrase"}`);
      }
    } else out[key] = v;
  }
  return out;
}

/** Settings to apply last: the core's, typed, and the registered protocols' by their keys. */
export type ConfigOverrides = Partial<Config> & Readonly<Record<string, unknown>>;

/**
 * `protocols`: the registered front-ends, whose own settings (ProtocolModule.config) join the
 * core's. A setting of a protocol not given here is refused as unknown.
 */
export function loadConfig(
  options: { env?: NodeJS.ProcessEnv; file?: string; overrides?: ConfigOverrides; protocols?: readonly Pick<ProtocolModule, 'name' | 'config'>[] } = {},
): Config {
  const settings = settingsOf(options.protocols ?? []);
  const env = options.env ?? process.env;
  const filePath = options.file ?? env.CERTGATE_CONFIG;
  let fromFile: Record<string, unknown> = {};
  if (filePath) {
    try {
      fromFile = JSON.parse(readFileSync(filePath, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`config file ${filePath}: ${(e as Error).message}`);
    }
    if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile)) {
      throw new ConfigError(`config file ${filePath}: must hold a JSON object`);
    }
  }
  const merged = { ...fromFile, ...fromEnv(env, settings), ...options.overrides };
  const result = settings.schema.strict().safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const name = key in settings.envNames ? `${settings.envNames[key]} (${key})` : key || 'config';
      return `${name}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const config = result.data as Config;
  if (!config.tlsCertFile !== !config.tlsKeyFile) {
    throw new ConfigError('invalid configuration:\n  CERTGATE_TLS_CERT_FILE and CERTGATE_TLS_KEY_FILE go together: set both or neither');
  }
  // node:http refuses a headers timeout longer than the request's, which includes the headers.
  if (config.httpHeadersTimeoutMs > config.httpRequestTimeoutMs) {
    throw new ConfigError(`invalid configuration:\n  ${ENV_NAMES.httpHeadersTimeoutMs} (${config.httpHeadersTimeoutMs}) must not be longer than ${ENV_NAMES.httpRequestTimeoutMs} (${config.httpRequestTimeoutMs})`);
  }
  return { ...config, dataDir: resolve(config.dataDir) };
}

export function publicUrlOf(config: Config): string {
  return (config.publicUrl ?? `http://localhost:${config.httpPort}`).replace(/\/+$/, '');
}
