// The one credential check every front-end calls. authenticate() answers who the caller is or why
// not; each front-end turns a refusal into its protocol's answer (REST 401, EST 401 +
// WWW-Authenticate, SCEP FAILURE badRequest, ACME unauthorized). Every refusal is in the audit
// trail with its reason, never the secret (once per window, source and reason, then as a count:
// see loginThrottle.ts). Failed logins are slowed and then refused per source address and per
// claimed identity; a throttled caller gets the core's rate_limited error, which each front-end
// renders as its protocol's 429 or refusal. How a presented credential is found is its kind's.
import { AUDIT } from '../audit/actions.js';
import { rateLimited } from '../core/errors.js';
import type { AuditEntryInput, CredentialRecord } from '../core/types.js';
import type { Store } from '../store/types.js';
import type { CredentialCache } from './credentialCache.js';
import type { AuthContext, CredentialKind, CredentialKinds, CredentialLookup, PresentedCredential, RefusalReason } from './credentialKinds.js';
import type { CredentialUsage } from './credentialUsage.js';
import { ipAllowed } from './ipAllowlist.js';
import type { LoginThrottle, RefusalAudit } from './loginThrottle.js';
import { mayIssueUnder } from './permissions.js';
import type { SecretBox } from './envelope.js';
import { parseApiKey, secretMatches } from './secrets.js';
import type { TokenIssuer } from './tokens.js';
import type { ConsoleSessions } from './consoleSessions.js';
import type { Metrics } from '../metrics/types.js';

export type AuthResult = { ok: true; credential: CredentialRecord } | { ok: false; reason: RefusalReason; message: string };
export type AuthRefusal = Extract<AuthResult, { ok: false }>;

const MESSAGES: Record<RefusalReason, string> = {
  missing: 'no credential was presented',
  malformed: 'the credential is malformed',
  unknown: 'invalid credential',
  wrongSecret: 'invalid credential',
  wrongType: 'this credential is not for this protocol',
  revoked: 'the credential has been revoked',
  disabled: 'the credential is disabled',
  expired: 'the credential has expired',
  ipNotAllowed: 'the credential may not be used from this address',
  productNotAllowed: 'the credential may not issue under this product',
  tokenInvalid: 'invalid bearer token',
  tokenExpired: 'the bearer token has expired',
  secretRotated: 'the bearer token was made with a secret that has since been rotated',
  throttled: 'too many failed logins from this address or for this credential; try again later',
};

/** Refusals that say the caller did not know the secret: these are what the throttle counts. */
const FAILED_GUESS: ReadonlySet<RefusalReason> = new Set(['unknown', 'wrongSecret', 'malformed', 'tokenInvalid', 'secretRotated']);

/** The longest claimed identity the throttle counts by (a kind prefix and 200 characters of what was claimed). */
const MAX_IDENTITY = 210;

/** The type of credential whose id and secret /v1/auth/token exchanges for a bearer token. */
const TOKEN_TYPE = 'rest';

export interface VerifierParts {
  store: Store;
  kinds: CredentialKinds;
  cache: CredentialCache;
  usage: CredentialUsage;
  box: SecretBox;
  tokens: TokenIssuer;
  sessions: ConsoleSessions;
  now: () => number;
  /** Without them (a bare service in a test), failed logins are not throttled and every refusal is written. */
  throttle: LoginThrottle | null;
  refusals: RefusalAudit | null;
  /** Counts refusals and throttled logins (NO_METRICS: not counted). */
  metrics: Metrics;
}

export class CredentialVerifier {
  private readonly lookups = new Map<string, CredentialLookup>();

  constructor(private readonly parts: VerifierParts) {}

  /**
   * Resolves the presented credential through its kind, checks its type, state, expiry, source
   * address and (when the context names one) product, and records a refusal in the audit trail.
   */
  async authenticate(presented: PresentedCredential, context: AuthContext): Promise<AuthResult> {
    const kind = this.parts.kinds.find(presented.type);
    if (!kind) return this.refuse(presented.type, 'unknown', context, 'wrongType');
    // A counter key: bounded here, so that a long username makes no long key.
    const identity = kind.claimedIdentity(presented)?.slice(0, MAX_IDENTITY) ?? null;
    const claimed = (credential?: CredentialRecord): string => credential?.id ?? kind.claimedBy?.(presented) ?? 'unknown';
    const { throttle } = this.parts;
    const gate = throttle ? await throttle.check(context.sourceIp, identity) : ({ throttled: false } as const);
    if (gate.throttled) {
      // Before the secret is looked at: past the limit, the right one is refused too.
      await this.refuse(kind.type, claimed(), context, 'throttled', undefined, { by: gate.by });
      this.parts.metrics.rateLimited(context.protocol, 'login');
      throw rateLimited(MESSAGES.throttled, gate.retryAfterSeconds);
    }
    const found = await kind.resolve(presented, this.lookupFor(kind), context);
    if ('reason' in found) {
      const refusal = await this.refuse(kind.type, claimed(found.credential), context, found.reason, found.credential);
      if (throttle && FAILED_GUESS.has(found.reason)) await throttle.failed(context.sourceIp, identity);
      return refusal;
    }
    return this.admit(found.credential, kind.type, claimed(found.credential), context);
  }

  /**
   * The same checks, but for no secret, for a credential authenticated before and bound to what
   * now acts (an ACME account and its EAB credential): a revoked, expired or re-bound credential
   * stops its accounts.
   */
  async recheck(id: string, type: string, context: AuthContext): Promise<AuthResult> {
    const credential = await this.parts.cache.get(id);
    if (!credential) return this.refuse(type, id, context, 'unknown');
    return this.admit(credential, type, id, context);
  }

  /**
   * For a front-end that checks a secret of its own (SCEP's one-time challenges): records the
   * refusal in the audit trail as this service records its own. `claimed` names what was
   * presented (an id, never the secret).
   */
  async recordRefusal(context: AuthContext, claimed: string, reason: string, presented: string, actor = 'unknown', extra: Record<string, unknown> = {}): Promise<void> {
    this.parts.metrics.authFailure(context.protocol, reason);
    const entry: AuditEntryInput = {
      actor,
      protocol: context.protocol,
      sourceIp: context.sourceIp,
      action: AUDIT.authRefused,
      target: claimed.slice(0, 200),
      outcome: 'refused',
      detail: { reason, presented, ...(context.productId !== undefined ? { productId: context.productId } : {}), ...extra },
    };
    if (this.parts.refusals) await this.parts.refusals.record(entry);
    else await this.parts.store.audit.append(entry);
  }

  /**
   * A front-end that checks a secret of its own (SCEP's one-time challenges) reports a wrong one
   * here, so it is slowed and limited like every other failed login. Throws rate_limited when
   * the source is already past its limit.
   */
  async throttleCheck(context: AuthContext): Promise<void> {
    const gate = this.parts.throttle ? await this.parts.throttle.check(context.sourceIp, null) : ({ throttled: false } as const);
    if (gate.throttled) {
      this.parts.metrics.rateLimited(context.protocol, 'login');
      throw rateLimited(MESSAGES.throttled, gate.retryAfterSeconds);
    }
  }

  async recordFailedGuess(context: AuthContext): Promise<void> {
    await this.parts.throttle?.failed(context.sourceIp, null);
  }

  /** POST /v1/auth/token: a `rest` credential's id and secret for a short-lived bearer token. */
  async exchangeToken(
    clientId: string,
    secret: string,
    context: Omit<AuthContext, 'productId'>,
  ): Promise<{ ok: true; token: string; exp: number; credential: CredentialRecord } | AuthRefusal> {
    // The secret as `credential create` printed it (cg_<id>_<secret>), or only its secret part.
    const bearer = secret.startsWith('cg_') ? secret : `cg_${clientId}_${secret}`;
    if (parseApiKey(bearer)?.id !== clientId) return this.refuse(TOKEN_TYPE, clientId, context, 'malformed');
    const result = await this.authenticate({ type: TOKEN_TYPE, bearer } as PresentedCredential, context);
    if (!result.ok) return result;
    const { token, exp } = await this.parts.tokens.mint({ sub: result.credential.id, sv: result.credential.secretVersion });
    await this.parts.store.audit.append({
      actor: result.credential.id,
      protocol: context.protocol,
      sourceIp: context.sourceIp,
      action: AUDIT.credentialToken,
      target: result.credential.id,
      outcome: 'success',
      detail: { exp },
    });
    return { ok: true, token, exp, credential: result.credential };
  }

  /**
   * The console's sign-in: a `rest` credential's API key (only the key: a bearer token's holder
   * never had it) for a session, audited as console.sign_in.
   */
  async openSession(key: string, context: Omit<AuthContext, 'productId'>): Promise<{ ok: true; token: string; exp: number; csrfToken: string; credential: CredentialRecord } | AuthRefusal> {
    if (!parseApiKey(key)) return this.refuse(TOKEN_TYPE, 'unknown', context, key === '' ? 'missing' : 'malformed');
    const result = await this.authenticate({ type: TOKEN_TYPE, bearer: key } as PresentedCredential, context);
    if (!result.ok) return result;
    const session = await this.parts.sessions.open({ sub: result.credential.id, sv: result.credential.secretVersion });
    await this.auditSession(AUDIT.consoleSignIn, result.credential.id, context, { exp: session.exp });
    return { ok: true, ...session, credential: result.credential };
  }

  /** Signs a session out everywhere; audited as console.sign_out. A session already ended is left as it is. */
  async endSession(token: string, context: Omit<AuthContext, 'productId'>): Promise<void> {
    const claims = await this.parts.sessions.verify(token);
    if (typeof claims === 'string') return;
    await this.parts.sessions.end(claims);
    await this.auditSession(AUDIT.consoleSignOut, claims.sub, context, {});
  }

  /** The CSRF token of a live session (for the page that asks who is signed in), or null. */
  async sessionCsrf(token: string): Promise<{ csrfToken: string; exp: number } | null> {
    const claims = await this.parts.sessions.verify(token);
    if (typeof claims === 'string') return null;
    return { csrfToken: this.parts.sessions.csrfOf(claims.jti), exp: claims.exp };
  }

  /** Whether a change made with this session carries its CSRF token. */
  async sessionCsrfMatches(token: string, presented: string | undefined): Promise<boolean> {
    const claims = await this.parts.sessions.verify(token);
    return typeof claims !== 'string' && this.parts.sessions.csrfMatches(claims, presented);
  }

  private async auditSession(action: string, credentialId: string, context: Omit<AuthContext, 'productId'>, detail: Record<string, unknown>): Promise<void> {
    await this.parts.store.audit.append({ actor: credentialId, protocol: context.protocol, sourceIp: context.sourceIp, action, target: credentialId, outcome: 'success', detail });
  }

  private async admit(credential: CredentialRecord, type: string, claimed: string, context: AuthContext): Promise<AuthResult> {
    const now = this.parts.now();
    let reason: RefusalReason | null = null;
    if (credential.type !== type) reason = 'wrongType';
    else if (credential.revokedAt) reason = 'revoked';
    else if (!credential.enabled) reason = 'disabled';
    else if (credential.expiresAt && credential.expiresAt.getTime() <= now) reason = 'expired';
    else if (!ipAllowed(credential.allowIps, context.sourceIp)) reason = 'ipNotAllowed';
    else if (context.productId !== undefined && !mayIssueUnder(credential, context.productId)) reason = 'productNotAllowed';
    if (reason) return this.refuse(type, claimed, context, reason, credential);
    this.parts.usage.count(credential.id, now);
    return { ok: true, credential };
  }

  private async refuse(type: string, claimed: string, context: AuthContext, reason: RefusalReason, credential?: CredentialRecord, extra: Record<string, unknown> = {}): Promise<AuthRefusal> {
    await this.recordRefusal(context, claimed, reason, type, credential?.id, extra);
    return { ok: false, reason, message: MESSAGES[reason] };
  }

  private lookupFor(kind: CredentialKind): CredentialLookup {
    const known = this.lookups.get(kind.type);
    if (known) return known;
    const { store, cache, box, tokens, sessions, now } = this.parts;
    const previousLive = (c: CredentialRecord): boolean => c.previousSecretUntil !== null && c.previousSecretUntil.getTime() > now();
    const liveSecrets = (c: CredentialRecord): string[] => (c.previousSecret !== null && previousLive(c) ? [c.secret, c.previousSecret] : [c.secret]);
    const lookup: CredentialLookup = {
      byId: (id) => cache.get(id),
      liveByName: (name) => store.credentials.findLive(kind.type, name),
      async boundTo(productId) {
        const { credentials } = await store.credentials.list({ type: kind.type, status: 'active' }, { limit: 10_000, offset: 0 });
        return credentials.filter((c) => mayIssueUnder(c, productId));
      },
      secretMatches: (c, presented) => liveSecrets(c).some((stored) => secretMatches(kind.storage, stored, presented, c.id, box)),
      openSecrets: (c) => (kind.storage === 'sealed' ? liveSecrets(c).flatMap((stored) => box.open(stored, c.id) ?? []) : []),
      previousLive,
      verifyToken: (token) => tokens.verify(token),
      verifySession: (token) => sessions.verify(token),
    };
    this.lookups.set(kind.type, lookup);
    return lookup;
  }
}
