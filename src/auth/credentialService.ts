// The one credential check every front-end calls, and the credentials' lifecycle (create, rotate,
// revoke). authenticate() answers who the caller is or why not; each front-end turns a refusal
// into its protocol's answer (REST 401, EST 401 + WWW-Authenticate, SCEP FAILURE badRequest, ACME
// unauthorized). Every refusal is in the audit trail with its reason, never the secret (once per
// window, source and reason, then as a count: see loginThrottle.ts). Failed logins are slowed and
// then refused per source address and per claimed identity; a throttled caller gets the core's
// rate_limited error, which each front-end renders as its protocol's 429 or refusal.
import { AUDIT, type AcmeAccountAction } from '../audit/actions.js';
import { badRequest, notFound, rateLimited } from '../core/errors.js';
import type { RateCounter } from '../core/rateCounter.js';
import type { AuditContext, AuditEntryInput, CredentialRecord, CredentialScope, CredentialType, Permission } from '../core/types.js';
import type { Broadcast } from '../queue/broadcast.js';
import type { CredentialStatus, Store } from '../store/types.js';
import { CidrError, ipAllowed, parseCidr } from './ipAllowlist.js';
import { LoginThrottle, RefusalAudit, type LoginThrottleSettings } from './loginThrottle.js';
import { mayIssueUnder } from './permissions.js';
import { SecretBox } from './envelope.js';
import { newCredentialId, newSecret, parseApiKey, secretMatches } from './secrets.js';
import { looksLikeJwt, TokenIssuer } from './tokens.js';

/** What a caller presented, per protocol. */
export type PresentedCredential =
  /** A `cg_` API key or a bearer token from /v1/auth/token. */
  | { type: 'rest'; bearer: string }
  /** HTTP Basic: the username is the credential's name. */
  | { type: 'est'; username: string; password: string }
  /** The challengePassword of a CSR; the product comes from the context. */
  | { type: 'scep'; challenge: string }
  /** An EAB key id; `verify` checks the client's MAC with the key (RFC 8555 §7.3.4). */
  | { type: 'acme'; kid: string; verify: (hmacKey: Buffer) => boolean | Promise<boolean> };

export interface AuthContext {
  protocol: string;
  sourceIp: string | null;
  /** The product the caller asks for, when the protocol names it (EST/SCEP label, ACME directory). */
  productId?: string;
}

export type RefusalReason =
  | 'missing'
  | 'malformed'
  | 'unknown'
  | 'wrongSecret'
  | 'wrongType'
  | 'revoked'
  | 'disabled'
  | 'expired'
  | 'ipNotAllowed'
  | 'productNotAllowed'
  | 'tokenInvalid'
  | 'tokenExpired'
  | 'secretRotated'
  | 'throttled';

export type AuthResult = { ok: true; credential: CredentialRecord } | { ok: false; reason: RefusalReason; message: string };

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

export interface NewCredentialInput {
  type: CredentialType;
  name?: string;
  /** Product ids or names, or '*' for all. */
  products: '*' | string[];
  ownerUser?: string | null;
  ownerGroup?: string | null;
  expiresAt?: Date | null;
  allowIps?: string[];
  /** `rest` only. */
  permissions?: Permission[];
  admin?: boolean;
  /** Default `product`. */
  scope?: CredentialScope;
}

export interface CreatedCredential {
  credential: CredentialRecord;
  /** Shown once: the API key, EST password, EAB HMAC key or SCEP challenge. */
  secret: string;
}

export interface CredentialServiceOptions {
  masterKey: string;
  tokenTtlSeconds: number;
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
}

/** Who a refusal names: the credential when it is known, else what was claimed, never the secret. */
function claimedBy(presented: PresentedCredential, credential: CredentialRecord | undefined): string {
  if (credential) return credential.id;
  if (presented.type === 'est') return `est-user:${presented.username}`;
  if (presented.type === 'acme') return `acme-kid:${presented.kid}`;
  return 'unknown';
}

/**
 * Who a login claims to be, before anything is checked: what the per-identity throttle counts.
 * null where the presented secret names no one (a SCEP challenge, a bearer token whose claims are
 * not yet verified): those are counted per source only, so that a stranger cannot lock a whole
 * product's devices out by sending bad challenges.
 */
function claimedIdentity(presented: PresentedCredential): string | null {
  switch (presented.type) {
    case 'rest': {
      const key = parseApiKey(presented.bearer);
      return key ? `rest:${key.id}` : null;
    }
    case 'est':
      return `est:${presented.username.slice(0, 200)}`;
    case 'acme':
      return `acme:${presented.kid.slice(0, 200)}`;
    case 'scep':
      return null;
  }
}

const CHANGED_CHANNEL = 'credentials';
const USAGE_FLUSH_MS = 1000;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

export class CredentialService {
  private readonly box: SecretBox;
  private readonly tokens: TokenIssuer;
  private readonly cache = new Map<string, { credential: CredentialRecord; at: number }>();
  private readonly usage = new Map<string, { count: number; last: number }>();
  private readonly flusher: NodeJS.Timeout;
  private readonly throttle: LoginThrottle | null;
  private readonly refusals: RefusalAudit | null;

  constructor(
    private readonly store: Store,
    private readonly options: CredentialServiceOptions,
  ) {
    this.box = new SecretBox(options.masterKey);
    this.tokens = new TokenIssuer(options.masterKey, options.tokenTtlSeconds);
    options.broadcast?.subscribe(CHANGED_CHANNEL, (id) => this.cache.delete(id));
    this.flusher = setInterval(() => void this.flushUsage(), USAGE_FLUSH_MS);
    this.flusher.unref();
    const limits = options.limits;
    this.throttle = limits ? new LoginThrottle(limits.counter, limits.throttle) : null;
    this.refusals = limits ? new RefusalAudit(limits.counter, limits.refusalAuditMs, (entry) => store.audit.append(entry), options.onError) : null;
  }

  /**
   * The credential check. Resolves the presented credential, checks its type, secret, state,
   * expiry, source address and (when the context names one) product, and records a refusal in
   * the audit trail.
   */
  async authenticate(presented: PresentedCredential, context: AuthContext): Promise<AuthResult> {
    const identity = claimedIdentity(presented);
    const gate = this.throttle ? await this.throttle.check(context.sourceIp, identity) : ({ throttled: false } as const);
    if (gate.throttled) {
      // Before the secret is looked at: past the limit, the right one is refused too.
      await this.refuse(presented.type, claimedBy(presented, undefined), context, 'throttled', undefined, { by: gate.by });
      throw rateLimited(MESSAGES.throttled, gate.retryAfterSeconds);
    }
    const found = await this.resolve(presented, context);
    if ('reason' in found) {
      const refusal = await this.refuse(presented.type, claimedBy(presented, found.credential), context, found.reason, found.credential);
      if (this.throttle && FAILED_GUESS.has(found.reason)) await this.throttle.failed(context.sourceIp, identity);
      return refusal;
    }
    return this.admit(found.credential, presented.type, claimedBy(presented, found.credential), context);
  }

  /**
   * The same checks, but for no secret, for a credential authenticated before and bound to what
   * now acts (an ACME account and its EAB credential): a revoked, expired or re-bound credential
   * stops its accounts.
   */
  async recheck(id: string, type: CredentialType, context: AuthContext): Promise<AuthResult> {
    const credential = await this.cached(id);
    if (!credential) return this.refuse(type, id, context, 'unknown');
    return this.admit(credential, type, id, context);
  }

  private async admit(credential: CredentialRecord, type: CredentialType, claimed: string, context: AuthContext): Promise<AuthResult> {
    const now = Date.now();
    let reason: RefusalReason | null = null;
    if (credential.type !== type) reason = 'wrongType';
    else if (credential.revokedAt) reason = 'revoked';
    else if (!credential.enabled) reason = 'disabled';
    else if (credential.expiresAt && credential.expiresAt.getTime() <= now) reason = 'expired';
    else if (!ipAllowed(credential.allowIps, context.sourceIp)) reason = 'ipNotAllowed';
    else if (context.productId !== undefined && !mayIssueUnder(credential, context.productId)) reason = 'productNotAllowed';
    if (reason) return this.refuse(type, claimed, context, reason, credential);
    this.countUse(credential.id, now);
    return { ok: true, credential };
  }

  /**
   * For a front-end that checks a secret of its own (SCEP's one-time challenges): records the
   * refusal in the audit trail as this service records its own. `claimed` names what was
   * presented (an id, never the secret).
   */
  async recordRefusal(context: AuthContext, claimed: string, reason: string, presented: string, actor = 'unknown', extra: Record<string, unknown> = {}): Promise<void> {
    const entry: AuditEntryInput = {
      actor,
      protocol: context.protocol,
      sourceIp: context.sourceIp,
      action: AUDIT.authRefused,
      target: claimed.slice(0, 200),
      outcome: 'refused',
      detail: { reason, presented, ...(context.productId !== undefined ? { productId: context.productId } : {}), ...extra },
    };
    if (this.refusals) await this.refusals.record(entry);
    else await this.store.audit.append(entry);
  }

  /**
   * A front-end that checks a secret of its own (SCEP's one-time challenges) reports a wrong one
   * here, so it is slowed and limited like every other failed login. Throws rate_limited when
   * the source is already past its limit.
   */
  async throttleCheck(context: AuthContext): Promise<void> {
    const gate = this.throttle ? await this.throttle.check(context.sourceIp, null) : ({ throttled: false } as const);
    if (gate.throttled) throw rateLimited(MESSAGES.throttled, gate.retryAfterSeconds);
  }

  async recordFailedGuess(context: AuthContext): Promise<void> {
    await this.throttle?.failed(context.sourceIp, null);
  }

  /** A secret a front-end hands out on its own (a SCEP one-time challenge): recorded, never the secret. */
  async recordSecretIssued(by: AuditContext, action: string, target: string, detail: Record<string, unknown>): Promise<void> {
    await this.store.audit.append(this.entry(by, action, target, detail));
  }

  /** POST /v1/auth/token: a `rest` credential's id and secret for a short-lived bearer token. */
  async exchangeToken(
    clientId: string,
    secret: string,
    context: Omit<AuthContext, 'productId'>,
  ): Promise<{ ok: true; token: string; exp: number; credential: CredentialRecord } | Extract<AuthResult, { ok: false }>> {
    // The secret as `credential create` printed it (cg_<id>_<secret>), or only its secret part.
    const bearer = secret.startsWith('cg_') ? secret : `cg_${clientId}_${secret}`;
    if (parseApiKey(bearer)?.id !== clientId) return this.refuse('rest', clientId, context, 'malformed');
    const result = await this.authenticate({ type: 'rest', bearer }, context);
    if (!result.ok) return result;
    const { token, exp } = await this.tokens.mint({ sub: result.credential.id, sv: result.credential.secretVersion });
    await this.store.audit.append({
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

  async create(input: NewCredentialInput, actor: AuditContext): Promise<CreatedCredential> {
    const id = newCredentialId();
    const products = await this.resolveProducts(input.products);
    const name = input.name?.trim() || `${input.type}-${id}`;
    if (!NAME.test(name)) throw badRequest('name: 1 to 128 letters, digits and . _ @ -, starting with a letter or digit');
    if (input.type === 'est' && (await this.store.credentials.findLive('est', name))) {
      throw badRequest(`name: an EST credential named ${name} exists (it is the Basic username, so it must be unique)`);
    }
    const expiresAt = input.expiresAt ?? null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) throw badRequest('expiresAt: the expiry is in the past');
    const allowIps = (input.allowIps ?? []).map((entry, i) => {
      try {
        return parseCidr(entry).text;
      } catch (e) {
        throw badRequest(`allowIps[${i}]: ${(e as CidrError).message}`);
      }
    });
    const permissions = input.type === 'rest' ? await this.restPermissions(input, products) : [];
    const secret = newSecret(input.type, id, this.box);
    const credential = await this.store.credentials.insert(
      {
        id,
        type: input.type,
        name,
        products,
        ownerUser: input.ownerUser ?? null,
        ownerGroup: input.ownerGroup ?? null,
        expiresAt,
        allowIps,
        permissions,
        admin: input.type === 'rest' && !!input.admin,
        scope: input.scope ?? 'product',
        secret: secret.stored,
      },
      this.entry(actor, AUDIT.credentialCreate, id, { type: input.type, name, products, admin: input.type === 'rest' && !!input.admin }),
    );
    return { credential, secret: secret.shown };
  }

  /** A new secret; the old one keeps working for `graceSeconds` (0: stops now). */
  async rotate(id: string, graceSeconds: number, actor: AuditContext): Promise<CreatedCredential> {
    if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > 30 * 86_400) {
      throw badRequest('graceSeconds: a whole number of seconds from 0 to 2592000 (30 days)');
    }
    const existing = await this.store.credentials.get(id);
    if (!existing || existing.revokedAt) throw notFound(`no live credential ${id}`);
    const secret = newSecret(existing.type, id, this.box);
    const until = graceSeconds > 0 ? new Date(Date.now() + graceSeconds * 1000) : null;
    const credential = await this.store.credentials.rotate(id, secret.stored, until, this.entry(actor, AUDIT.credentialRotate, id, { graceSeconds }));
    if (!credential) throw notFound(`no live credential ${id}`);
    await this.changed(id);
    return { credential, secret: secret.shown };
  }

  async revoke(id: string, actor: AuditContext): Promise<CredentialRecord> {
    const credential = await this.store.credentials.revoke(id, this.entry(actor, AUDIT.credentialRevoke, id, {}));
    if (!credential) throw notFound(`no live credential ${id}`);
    await this.changed(id);
    return credential;
  }

  get(id: string): Promise<CredentialRecord | undefined> {
    return this.store.credentials.get(id);
  }

  list(filter: { type?: CredentialType; status?: CredentialStatus }, page: { limit: number; offset: number }) {
    return this.store.credentials.list(filter, page);
  }

  /** The EAB HMAC key or static SCEP challenge, for showing to the operator again; null for hashed types. */
  revealSecret(credential: CredentialRecord): string | null {
    if (credential.type !== 'acme' && credential.type !== 'scep') return null;
    return this.box.open(credential.secret, credential.id);
  }

  async close(): Promise<void> {
    clearInterval(this.flusher);
    await this.flushUsage();
    await this.refusals?.close();
  }

  private async resolve(
    presented: PresentedCredential,
    context: AuthContext,
  ): Promise<{ credential: CredentialRecord } | { reason: RefusalReason; credential?: CredentialRecord }> {
    switch (presented.type) {
      case 'rest': {
        if (presented.bearer === '') return { reason: 'missing' };
        const key = parseApiKey(presented.bearer);
        if (key) {
          const credential = await this.cached(key.id);
          if (!credential) return { reason: 'unknown' };
          return this.secretOk(credential, key.secret) ? { credential } : { reason: 'wrongSecret', credential };
        }
        if (!looksLikeJwt(presented.bearer)) return { reason: 'malformed' };
        const claims = await this.tokens.verify(presented.bearer);
        if (claims === 'expired') return { reason: 'tokenExpired' };
        if (claims === 'invalid') return { reason: 'tokenInvalid' };
        const credential = await this.cached(claims.sub);
        if (!credential) return { reason: 'unknown' };
        const current = claims.sv === credential.secretVersion;
        const inGrace = claims.sv === credential.secretVersion - 1 && this.previousLive(credential);
        return current || inGrace ? { credential } : { reason: 'secretRotated', credential };
      }
      case 'est': {
        const credential = await this.store.credentials.findLive('est', presented.username);
        if (!credential) return { reason: 'unknown' };
        return this.secretOk(credential, presented.password) ? { credential } : { reason: 'wrongSecret', credential };
      }
      case 'scep': {
        // The challenge names no credential: try the live ones bound to the product.
        if (context.productId === undefined) return { reason: 'malformed' };
        const { credentials } = await this.store.credentials.list({ type: 'scep', status: 'active' }, { limit: 10_000, offset: 0 });
        const bound = credentials.filter((c) => mayIssueUnder(c, context.productId as string));
        const credential = bound.find((c) => this.secretOk(c, presented.challenge));
        return credential ? { credential } : { reason: 'wrongSecret' };
      }
      case 'acme': {
        const credential = await this.cached(presented.kid);
        if (!credential) return { reason: 'unknown' };
        if (credential.type !== 'acme') return { reason: 'wrongType', credential };
        for (const stored of this.liveSecrets(credential)) {
          const key = this.box.open(stored, credential.id);
          if (key !== null && (await presented.verify(Buffer.from(key, 'base64url')))) return { credential };
        }
        return { reason: 'wrongSecret', credential };
      }
    }
  }

  private secretOk(credential: CredentialRecord, presented: string): boolean {
    return this.liveSecrets(credential).some((stored) => secretMatches(credential.type, stored, presented, credential.id, this.box));
  }

  private liveSecrets(credential: CredentialRecord): string[] {
    return credential.previousSecret !== null && this.previousLive(credential) ? [credential.secret, credential.previousSecret] : [credential.secret];
  }

  private previousLive(credential: CredentialRecord): boolean {
    return credential.previousSecretUntil !== null && credential.previousSecretUntil.getTime() > Date.now();
  }

  private async cached(id: string): Promise<CredentialRecord | undefined> {
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < this.options.cacheMs) return hit.credential;
    const credential = await this.store.credentials.get(id);
    if (credential) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(id, { credential, at: Date.now() });
    }
    return credential;
  }

  private async refuse(
    type: CredentialType,
    claimed: string,
    context: AuthContext,
    reason: RefusalReason,
    credential?: CredentialRecord,
    extra: Record<string, unknown> = {},
  ): Promise<Extract<AuthResult, { ok: false }>> {
    await this.recordRefusal(context, claimed, reason, type, credential?.id, extra);
    return { ok: false, reason, message: MESSAGES[reason] };
  }

  private entry(actor: AuditContext, action: string, target: string, detail: Record<string, unknown>) {
    return { ...actor, action, target, outcome: 'success' as const, detail };
  }

  private async changed(id: string): Promise<void> {
    this.cache.delete(id);
    await this.options.broadcast?.publish(CHANGED_CHANNEL, id);
  }

  private async resolveProducts(products: '*' | string[]): Promise<'*' | string[]> {
    if (products === '*') return '*';
    if (products.length === 0) throw badRequest('products: name at least one product, or "*" for all');
    const ids: string[] = [];
    for (const ref of products) {
      const product = (await this.store.products.get(ref)) ?? (await this.store.products.getByName(ref));
      if (!product) throw badRequest(`products: unknown product ${JSON.stringify(ref)}`);
      if (!ids.includes(product.id)) ids.push(product.id);
    }
    return ids;
  }

  /** A REST credential without permissions reads and issues on its products' CAs. */
  private async restPermissions(input: NewCredentialInput, products: '*' | string[]): Promise<Permission[]> {
    if (input.permissions?.length || input.admin) return input.permissions ?? [];
    if (products === '*') throw badRequest('permissions: a REST credential for every product needs permissions (read,issue:<ca>) or admin');
    const cas = new Set<string>();
    for (const id of products) {
      const product = await this.store.products.get(id);
      if (product) cas.add(product.caId);
    }
    return [...cas].map((ca) => ({ ca, actions: ['read', 'issue'] }));
  }

  /**
   * For the ACME front-end, whose accounts act as principals of their own (and bind EAB
   * credentials): records an account's creation, binding, key change or deactivation. Only these
   * actions: a protocol gets no general door into the trail.
   */
  async recordAcmeAccountEvent(by: AuditContext, action: AcmeAccountAction, target: string, detail: Record<string, unknown>): Promise<void> {
    await this.store.audit.append({ ...by, action, target, outcome: 'success', detail });
  }

  private countUse(id: string, now: number): void {
    const u = this.usage.get(id);
    if (u) {
      u.count++;
      u.last = now;
    } else this.usage.set(id, { count: 1, last: now });
  }

  private async flushUsage(): Promise<void> {
    if (this.usage.size === 0) return;
    const uses = [...this.usage].map(([id, u]) => ({ id, count: u.count, lastUsedAt: new Date(u.last) }));
    this.usage.clear();
    try {
      await this.store.credentials.recordUse(uses);
    } catch (e) {
      this.options.onError?.('could not record credential use', e as Error);
    }
  }
}
