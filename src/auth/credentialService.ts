// What front-ends and the CLI call for credentials, composed of parts with one job each: the check
// (credentialVerifier.ts), the life of a credential (credentialLifecycle.ts), usage counting
// (credentialUsage.ts) and the cache (credentialCache.ts). Which kinds of credential exist, the
// protocols say (credentialKinds.ts).
import { AUDIT, type AcmeAccountAction, type CmpAction } from '../audit/actions.js';
import type { RateCounter } from '../core/rateCounter.js';
import type { AuditContext, CredentialRecord } from '../core/types.js';
import type { Broadcast } from '../queue/broadcast.js';
import type { CredentialStatus, Store } from '../store/types.js';
import { CredentialCache } from './credentialCache.js';
import { CredentialKinds, type AuthContext, type CredentialKind, type PresentedCredential } from './credentialKinds.js';
import { auditEntry, CredentialLifecycle, type CreatedCredential, type NewCredentialInput } from './credentialLifecycle.js';
import { CredentialUsage } from './credentialUsage.js';
import { CredentialVerifier, type AuthRefusal, type AuthResult } from './credentialVerifier.js';
import { LoginThrottle, RefusalAudit, type LoginThrottleSettings } from './loginThrottle.js';
import { SecretBox } from './envelope.js';
import type { SecretStorage } from './secrets.js';
import { NO_METRICS, type Metrics } from '../metrics/types.js';
import { TokenIssuer } from './tokens.js';
import { ConsoleSessions } from './consoleSessions.js';
import type { OneTimeTokens } from '../core/oneTimeTokens.js';

export type { AuthContext, PresentedCredential, RefusalReason } from './credentialKinds.js';
export type { CreatedCredential, NewCredentialInput } from './credentialLifecycle.js';
export type { AuthResult } from './credentialVerifier.js';

export interface CredentialServiceOptions {
  masterKey: string;
  tokenTtlSeconds: number;
  /** How long a console session lasts from its sign-in. */
  sessionTtlSeconds?: number;
  /** Where signed-out console sessions are remembered (shared by every process with Redis); without it, signing out only drops the cookie. */
  oneTimeTokens?: OneTimeTokens;
  /** The kinds of credential the registered protocols bring; only these can be created or presented. */
  kinds: readonly CredentialKind[];
  /** Tells every other process to drop a credential it cached. */
  broadcast?: Broadcast;
  /**
   * How long a credential read is reused. Bounds how late another process sees a revocation
   * when the broadcast does not reach it (no Redis: it never does).
   */
  cacheMs: number;
  onError?: (message: string, error: Error) => void;
  /**
   * Shared counters for the failed-login throttle and the bounded refusal audit. Without them
   * (a bare service in a test), failed logins are not throttled and every refusal is written.
   */
  limits?: { counter: RateCounter; throttle: LoginThrottleSettings; refusalAuditMs: number };
  /** The clock for the cache lifetime, grace windows and expiry; tests move it instead of sleeping. */
  now?: () => number;
  /** Counts refusals and throttled logins; default: not counted. */
  metrics?: Metrics;
}

const DEFAULT_SESSION_TTL_SECONDS = 1800;

export class CredentialService {
  private readonly kinds: CredentialKinds;
  private readonly verifier: CredentialVerifier;
  private readonly lifecycle: CredentialLifecycle;
  private readonly usage: CredentialUsage;
  private readonly refusals: RefusalAudit | null;

  constructor(
    private readonly store: Store,
    options: CredentialServiceOptions,
  ) {
    const now = options.now ?? Date.now;
    const box = new SecretBox(options.masterKey);
    const cache = new CredentialCache(store, options.cacheMs, now, options.broadcast);
    const limits = options.limits;
    this.kinds = new CredentialKinds(options.kinds);
    this.usage = new CredentialUsage(store, options.onError);
    this.refusals = limits ? new RefusalAudit(limits.counter, limits.refusalAuditMs, (entry) => store.audit.append(entry), options.onError) : null;
    this.verifier = new CredentialVerifier({
      store,
      kinds: this.kinds,
      cache,
      usage: this.usage,
      box,
      tokens: new TokenIssuer(options.masterKey, options.tokenTtlSeconds),
      sessions: new ConsoleSessions(options.masterKey, options.sessionTtlSeconds ?? DEFAULT_SESSION_TTL_SECONDS, options.oneTimeTokens ?? null),
      now,
      throttle: limits ? new LoginThrottle(limits.counter, limits.throttle) : null,
      refusals: this.refusals,
      metrics: options.metrics ?? NO_METRICS,
    });
    this.lifecycle = new CredentialLifecycle(store, this.kinds, cache, box, now);
  }

  /** The registered kinds' types, in registration order. */
  get types(): string[] {
    return this.kinds.types;
  }

  /** How a type's secret is kept; undefined for a type no registered protocol brings. */
  storageOf(type: string): SecretStorage | undefined {
    return this.kinds.find(type)?.storage;
  }

  authenticate(presented: PresentedCredential, context: AuthContext): Promise<AuthResult> {
    return this.verifier.authenticate(presented, context);
  }

  recheck(id: string, type: string, context: AuthContext): Promise<AuthResult> {
    return this.verifier.recheck(id, type, context);
  }

  recordRefusal(context: AuthContext, claimed: string, reason: string, presented: string, actor?: string, extra?: Record<string, unknown>): Promise<void> {
    return this.verifier.recordRefusal(context, claimed, reason, presented, actor, extra);
  }

  throttleCheck(context: AuthContext): Promise<void> {
    return this.verifier.throttleCheck(context);
  }

  recordFailedGuess(context: AuthContext): Promise<void> {
    return this.verifier.recordFailedGuess(context);
  }

  openSession(key: string, context: Omit<AuthContext, 'productId'>): Promise<{ ok: true; token: string; exp: number; csrfToken: string; credential: CredentialRecord } | AuthRefusal> {
    return this.verifier.openSession(key, context);
  }

  endSession(token: string, context: Omit<AuthContext, 'productId'>): Promise<void> {
    return this.verifier.endSession(token, context);
  }

  sessionCsrf(token: string): Promise<{ csrfToken: string; exp: number } | null> {
    return this.verifier.sessionCsrf(token);
  }

  sessionCsrfMatches(token: string, presented: string | undefined): Promise<boolean> {
    return this.verifier.sessionCsrfMatches(token, presented);
  }

  exchangeToken(clientId: string, secret: string, context: Omit<AuthContext, 'productId'>): Promise<{ ok: true; token: string; exp: number; credential: CredentialRecord } | AuthRefusal> {
    return this.verifier.exchangeToken(clientId, secret, context);
  }

  /** A secret a front-end hands out on its own (a SCEP one-time challenge): recorded, never the secret. */
  async recordSecretIssued(by: AuditContext, action: string, target: string, detail: Record<string, unknown>): Promise<void> {
    await this.store.audit.append(auditEntry(by, action, target, detail));
  }

  /**
   * For the ACME front-end, whose accounts act as principals of their own (and bind EAB
   * credentials): records an account's creation, binding, key change or deactivation. Only these
   * actions: a protocol gets no general door into the trail.
   */
  async recordAcmeAccountEvent(by: AuditContext, action: AcmeAccountAction, target: string, detail: Record<string, unknown>): Promise<void> {
    await this.store.audit.append(auditEntry(by, action, target, detail));
  }

  /** For the CMP front-end: how a CMP transaction ended (the certificate's own changes are audited by the core). */
  async recordCmpEvent(by: AuditContext, action: CmpAction, target: string, detail: Record<string, unknown>): Promise<void> {
    await this.store.audit.append(auditEntry(by, action, target, detail));
  }

  /**
   * For the MCP front-end: one entry per tool call, whatever the tool (its changes and refusals are
   * audited by the core on their own). `outcome`: ok, refused (the caller may not, or asked for
   * something that cannot be), or error (certgate's fault or a dependency down).
   */
  async recordMcpToolCall(by: AuditContext, tool: string, outcome: 'ok' | 'refused' | 'error', target: string, detail: Record<string, unknown> = {}): Promise<void> {
    await this.store.audit.append({
      ...by,
      action: AUDIT.mcpToolCall,
      target: target.slice(0, 200),
      outcome: outcome === 'ok' ? 'success' : outcome === 'refused' ? 'refused' : 'failure',
      detail: { tool, ...detail },
    });
  }

  create(input: NewCredentialInput, actor: AuditContext): Promise<CreatedCredential> {
    return this.lifecycle.create(input, actor);
  }

  rotate(id: string, graceSeconds: number, actor: AuditContext): Promise<CreatedCredential> {
    return this.lifecycle.rotate(id, graceSeconds, actor);
  }

  revoke(id: string, actor: AuditContext): Promise<CredentialRecord> {
    return this.lifecycle.revoke(id, actor);
  }

  get(id: string): Promise<CredentialRecord | undefined> {
    return this.lifecycle.get(id);
  }

  list(filter: { type?: string; status?: CredentialStatus }, page: { limit: number; offset: number }) {
    return this.lifecycle.list(filter, page);
  }

  revealSecret(credential: CredentialRecord): string | null {
    return this.lifecycle.revealSecret(credential);
  }

  async close(): Promise<void> {
    await this.usage.close();
    await this.refusals?.close();
  }
}
