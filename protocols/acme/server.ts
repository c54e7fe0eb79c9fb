// The ACME front-end (RFC 8555; ARI, RFC 9773; profiles, draft-ietf-acme-profiles): directories per
// product, accounts bound to EAB credentials, orders that become enrollment requests on the
// shared queue, and validations run as jobs of their own.
import { createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { JWK } from 'jose';
import { sourceIpOf } from '../../src/auth/ipAllowlist.js';
import { AUDIT } from '../../src/audit/actions.js';
import { AppError } from '../../src/core/errors.js';
import { classifyFailure, logFailure } from '../../src/core/failure.js';
import { newId } from '../../src/core/ids.js';
import type { CoreServices, ProtocolJobs } from '../../src/core/protocol.js';
import { REVOCATION_REASON_CODES, type AuditContext, type ProductRecord, type RevocationReason } from '../../src/core/types.js';
import { readCertificateBasics } from '../../src/pki/certInfo.js';
import { normalizeSerialHex } from '../../src/pki/serial.js';
import { CsrError, parseCsr, type ParsedCsr } from '../../src/pki/csr.js';
import { comparableName, namesOfCsr } from '../../src/pki/names.js';
import type { AcmeDb, Account, Authz, Challenge, ChallengeType, Identifier, Order, StoredProblem } from './db.js';
import { parseEab, payloadJson, requirePostAsGet, thumbprintOf, verifyJws, verifyKeyChange, type VerifiedJws } from './jws.js';
import type { NonceStore } from './nonces.js';
import { AcmeProblem, identifierOf, malformed, problemOfFailure, problemOfRejection, unauthorized } from './problems.js';
import { requesterOf, type OrderStatusService } from './orderStatus.js';
import { ariCertId, parseAriCertId, renewalWindow } from './ari.js';
import { reusableValidations, type Reuse } from './reuse.js';

const ORDER_LIFETIME_MS = 7 * 86_400_000;
/**
 * A registry validation with less left than this is not reused (the name is proved again), as
 * Boulder does with an order lifetime's eighth: an order expires with its first authorization.
 */
const REUSE_MIN_LEFT_MS = ORDER_LIFETIME_MS / 8;
const MAX_IDENTIFIERS = 100;
const MAX_PENDING_ORDERS = 300;
const MAX_PENDING_AUTHZS = 1000;
/** How long a challenge POST waits for its validation before answering `processing`. */
const CHALLENGE_WAIT_MS = 2_000;
/** How long finalize waits for the certificate before answering `processing`. */
const FINALIZE_WAIT_MS = 5_000;

/** An authorization made valid by a registry validation, with the identifier as ordered. */
interface ReusedAuthz {
  authz: Authz;
  identifier: string;
  record: Reuse['record'];
}

export interface AcmeSettings {
  caaIdentities: string[];
  /** https://host[:port][/prefix] of every URL handed out (acmeBaseUrl). */
  baseUrl: string;
}

interface Ctx {
  req: Request;
  res: Response;
  base: string;
  jws: VerifiedJws;
  account?: Account;
}

const ACME = '/acme';

export class AcmeServer {
  constructor(
    private readonly core: CoreServices,
    private readonly db: AcmeDb,
    private readonly nonces: NonceStore,
    private readonly orders: OrderStatusService,
    private readonly validations: ProtocolJobs,
    private readonly settings: AcmeSettings,
  ) {}

  router(): Router {
    const r = express.Router();
    const base = this.settings.baseUrl;
    // RFC 8555 §6.1: ACME over HTTPS only. A GET (a browser, a client given the wrong scheme) is
    // sent to the HTTPS URL; anything else is refused before its body is read, and without a
    // nonce: nothing signed over plain HTTP can be trusted to reach the server unchanged.
    r.use((req, res, next) => {
      if ((req.socket as { encrypted?: boolean }).encrypted) return next();
      if (req.method === 'GET' || req.method === 'HEAD') {
        res.redirect(308, `${base}${req.originalUrl}`);
        return;
      }
      const problem = new AcmeProblem('unauthorized', `ACME is served over HTTPS only (RFC 8555 section 6.1): use ${base}${ACME}/directory`);
      res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
    });
    r.use(express.json({ type: ['application/jose+json'], limit: '64kb' }));
    r.use((req, res, next) => {
      res.set('Cache-Control', 'no-store');
      res.set('Link', `<${base}${ACME}/directory>;rel="index"`);
      next();
    });
    r.get('/terms', (_req, res) => {
      res.type('text/plain').send('Certificates from this certgate deployment are issued under the policy of its operator.\n');
    });
    r.get(['/directory', '/:product/directory'], (req, res, next) => this.directory(req, res).catch(next));
    r.head(['/new-nonce', '/:product/new-nonce'], (req, res, next) => this.newNonce(res, 200).catch(next));
    r.get(['/new-nonce', '/:product/new-nonce'], (req, res, next) => this.newNonce(res, 204).catch(next));
    r.get('/renewal-info/:certId', (req, res, next) => this.renewalInfo(req, res).catch(next));

    const post = (path: string | string[], handler: (ctx: Ctx) => Promise<void>, opts: { account: boolean } = { account: true }) =>
      r.post(path, (req, res, next) => this.signed(req, res, opts.account, handler).catch(next));
    post(['/new-account', '/:product/new-account'], (c) => this.newAccount(c), { account: false });
    post(['/new-order', '/:product/new-order'], (c) => this.newOrder(c));
    post('/acct/:id', (c) => this.accountUpdate(c));
    post('/acct/:id/orders', (c) => this.accountOrders(c));
    post('/order/:id', (c) => this.orderGet(c));
    post('/order/:id/finalize', (c) => this.finalize(c));
    post('/authz/:id', (c) => this.authzPost(c));
    post('/chall/:id', (c) => this.challengePost(c));
    post('/cert/:id', (c) => this.certificate(c));
    post('/revoke-cert', (c) => this.revokeCert(c), { account: false });
    post('/key-change', (c) => this.keyChange(c));
    r.use((req, res, next) => next(new AcmeProblem('malformed', `no ACME resource ${req.method} ${req.baseUrl}${req.path}`, { status: req.method === 'GET' ? 405 : 404 })));
    r.use((err: unknown, req: Request, res: Response, _next: NextFunction) => void this.renderError(err, req, res));
    return r;
  }

  // Plumbing.

  private async signed(req: Request, res: Response, needAccount: boolean, handler: (ctx: Ctx) => Promise<void>): Promise<void> {
    if (!req.is('application/jose+json')) throw new AcmeProblem('malformed', 'Content-Type must be application/jose+json', { status: 415 });
    const base = this.settings.baseUrl;
    const url = `${base}${req.originalUrl.split('?')[0]}`;
    let account: Account | undefined;
    const jws = await verifyJws(req.body, url, async (kid) => {
      account = await this.accountOfKid(kid, base);
      return account.jwk as JWK;
    });
    if (!(await this.nonces.consume(jws.header.nonce))) throw new AcmeProblem('badNonce', 'the nonce is unknown, used or expired; retry with the fresh one in Replay-Nonce');
    if (needAccount && !account) throw malformed('this request must be signed by an account key, named by kid');
    if (account) await this.checkAccountStanding(account, req);
    await handler({ req, res, base, jws, ...(account ? { account } : {}) });
  }

  private async accountOfKid(kid: string, base: string): Promise<Account> {
    const id = accountIdOfKid(kid, base);
    if (id === undefined) throw new AcmeProblem('accountDoesNotExist', `kid ${kid} is not an account of this server`);
    const account = await this.db.account(id);
    if (!account) throw new AcmeProblem('accountDoesNotExist', 'no such account');
    return account;
  }

  /** A deactivated account, or one whose EAB credential no longer stands, may do nothing. */
  private async checkAccountStanding(account: Account, req: Request, productId?: string): Promise<void> {
    // RFC 8555 §7.3.6: a deactivated account's requests are 401 Unauthorized.
    if (account.status !== 'valid') throw new AcmeProblem('unauthorized', `the account is ${account.status}`, { status: 401 });
    if (account.eabCredentialId) {
      const check = await this.core.credentials.recheck(account.eabCredentialId, 'acme', { protocol: 'acme', sourceIp: sourceIpOf(req), ...(productId ? { productId } : {}) });
      if (!check.ok) throw unauthorized(`the account's external account binding: ${check.message}`);
    }
  }

  private async newNonce(res: Response, status: number): Promise<void> {
    res.set('Replay-Nonce', await this.nonces.issue());
    res.status(status).end();
  }

  private async reply(ctx: Ctx, status: number, body: unknown, headers: Record<string, string> = {}): Promise<void> {
    ctx.res.set('Replay-Nonce', await this.nonces.issue());
    for (const [k, v] of Object.entries(headers)) ctx.res.set(k, v);
    ctx.res.status(status).json(body);
  }

  private async renderError(err: unknown, req: Request, res: Response): Promise<void> {
    if (res.headersSent) return;
    let problem: AcmeProblem;
    if (err instanceof AcmeProblem) problem = err;
    else {
      const failure = classifyFailure(err);
      logFailure(this.core.log, failure, 'the ACME front-end', req.path);
      problem = problemOfFailure(failure);
    }
    try {
      res.set('Replay-Nonce', await this.nonces.issue());
    } catch {
      // The nonce store is down too: the client's retry gets one from newNonce.
    }
    for (const [k, v] of Object.entries(problem.headers)) res.set(k, v);
    res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
  }

  private async products(): Promise<ProductRecord[]> {
    return this.core.catalogue.products();
  }

  /** The directory's product: `/acme/<name>/…`, or the product named `default` (else the first). */
  private async productOf(req: Request): Promise<ProductRecord> {
    const name = req.params.product as string | undefined;
    const product = await this.core.enrollments.productForLabel(name);
    if (!product) throw new AcmeProblem('malformed', name === undefined ? 'no product to issue under' : `no ACME directory for product ${name}`, { status: 404 });
    return product;
  }

  private scopeOf(req: Request): string {
    return req.params.product === undefined ? '' : `/${encodeURIComponent(req.params.product as string)}`;
  }

  // Directory.

  private async directory(req: Request, res: Response): Promise<void> {
    const base = this.settings.baseUrl;
    const product = await this.productOf(req);
    const scope = this.scopeOf(req);
    const profiles = Object.fromEntries((await this.products()).map((p) => [p.name, describe(p)]));
    res.set('Replay-Nonce', await this.nonces.issue());
    res.json({
      newNonce: `${base}${ACME}/new-nonce`,
      newAccount: `${base}${ACME}${scope}/new-account`,
      newOrder: `${base}${ACME}${scope}/new-order`,
      revokeCert: `${base}${ACME}/revoke-cert`,
      keyChange: `${base}${ACME}/key-change`,
      renewalInfo: `${base}${ACME}/renewal-info`,
      meta: {
        termsOfService: `${base}${ACME}/terms`,
        website: base,
        caaIdentities: this.settings.caaIdentities,
        externalAccountRequired: eabRequired(product),
        profiles,
      },
    });
  }

  // Accounts.

  private accountJson(base: string, a: Account) {
    return { status: a.status, contact: a.contact, orders: `${base}${ACME}/acct/${a.id}/orders` };
  }

  private async newAccount(ctx: Ctx): Promise<void> {
    const { jws, base, req } = ctx;
    if (!jws.header.jwk) throw malformed('newAccount is signed with the account key as jwk, not kid');
    const body = payloadJson(jws);
    const thumbprint = await thumbprintOf(jws.jwk);
    const existing = await this.db.accountByThumbprint(thumbprint);
    if (existing) {
      return this.reply(ctx, 200, this.accountJson(base, existing), { Location: `${base}${ACME}/acct/${existing.id}` });
    }
    if (body.onlyReturnExisting === true) throw new AcmeProblem('accountDoesNotExist', 'no account exists with this key');
    const contact = parseContact(body.contact);
    if (body.termsOfServiceAgreed !== true) throw malformed('agree to the terms of service (termsOfServiceAgreed: true)');
    const product = await this.productOf(req);
    let eabCredentialId: string | null = null;
    if (body.externalAccountBinding !== undefined) {
      const eab = parseEab(body.externalAccountBinding, `${base}${req.originalUrl.split('?')[0]}`, jws.jwk);
      const result = await this.core.credentials.authenticate({ type: 'acme', kid: eab.kid, verify: eab.verify }, { protocol: 'acme', sourceIp: sourceIpOf(req), productId: product.id });
      if (!result.ok) throw unauthorized(`external account binding refused: ${result.message}`);
      eabCredentialId = result.credential.id;
    } else if (eabRequired(product)) {
      throw new AcmeProblem('externalAccountRequired', `product ${product.name} requires an external account binding`);
    }
    const account: Account = { id: newId(), thumbprint, jwk: publicJwk(jws.jwk), status: 'valid', contact, eabCredentialId, createdAt: new Date() };
    const stored = await this.db.insertAccount(account);
    // Lost a race with the same key: answer with the account that won.
    const winner = stored ?? (await this.db.accountByThumbprint(thumbprint));
    if (!winner) throw new Error('account insert neither stored nor found');
    if (stored) {
      // An account is a principal that can order certificates: its birth, and the credential it
      // borrows its products from, belong in the trail.
      const by = this.auditContext(ctx, stored);
      await this.core.credentials.recordAcmeAccountEvent(by, AUDIT.acmeAccountCreate, stored.id, { thumbprint, productId: product.id, eabCredentialId, contacts: contact.length });
      if (eabCredentialId) await this.core.credentials.recordAcmeAccountEvent(by, AUDIT.acmeEabBind, eabCredentialId, { accountId: stored.id, thumbprint });
    }
    await this.reply(ctx, stored ? 201 : 200, this.accountJson(base, winner), { Location: `${base}${ACME}/acct/${winner.id}` });
  }

  /**
   * Answers a refusal as `problem` after recording it in the audit trail: another account's order,
   * authorization or certificate, a name outside the product. Through the credential service's
   * refusal record, so a flood from one source costs one entry per window and reason.
   */
  private async refuse(ctx: Ctx, target: string, reason: string, productId: string | null, problem: AcmeProblem): Promise<never> {
    const account = ctx.account;
    const context = { protocol: 'acme', sourceIp: sourceIpOf(ctx.req), ...(productId ? { productId } : {}) };
    await this.core.credentials.recordRefusal(context, target, reason, account ? `acme-account:${account.id}` : 'acme-certificate-key', account ? this.auditContext(ctx, account).actor : 'unknown');
    throw problem;
  }

  /** Who acts for an account: its EAB credential when it has one, so a credential's trail is whole. */
  private auditContext(ctx: Ctx, account: Account): AuditContext {
    return { actor: account.eabCredentialId ?? `acme-account:${account.id}`, protocol: 'acme', sourceIp: sourceIpOf(ctx.req) };
  }

  private ownAccount(ctx: Ctx): Account {
    const account = ctx.account as Account;
    if (ctx.req.params.id !== account.id) throw unauthorized('an account may only read or change itself');
    return account;
  }

  private async accountUpdate(ctx: Ctx): Promise<void> {
    const account = this.ownAccount(ctx);
    const body = payloadJson(ctx.jws);
    let updated = account;
    if (body.status !== undefined) {
      if (body.status !== 'deactivated') throw malformed('an account can only be changed to status "deactivated"');
      const deactivated = await this.db.updateAccount(account.id, { status: 'deactivated' });
      if (deactivated) await this.core.credentials.recordAcmeAccountEvent(this.auditContext(ctx, account), AUDIT.acmeAccountDeactivate, account.id, { thumbprint: account.thumbprint });
      updated = deactivated ?? account;
    } else if (body.contact !== undefined) {
      updated = (await this.db.updateAccount(account.id, { contact: parseContact(body.contact) })) ?? account;
    }
    await this.reply(ctx, 200, this.accountJson(ctx.base, updated), { Location: `${ctx.base}${ACME}/acct/${account.id}` });
  }

  private async accountOrders(ctx: Ctx): Promise<void> {
    const account = this.ownAccount(ctx);
    requirePostAsGet(ctx.jws);
    const orders = await this.db.ordersOfAccount(account.id, 1000);
    await this.reply(ctx, 200, { orders: orders.filter((o) => o.status !== 'invalid').map((o) => `${ctx.base}${ACME}/order/${o.id}`) });
  }

  private async keyChange(ctx: Ctx): Promise<void> {
    const account = ctx.account as Account;
    const { newJwk, account: named, oldKey } = await verifyKeyChange(payloadJson(ctx.jws), `${ctx.base}${ACME}/key-change`);
    if (named !== `${ctx.base}${ACME}/acct/${account.id}`) throw unauthorized('the key change names another account');
    if ((await thumbprintOf(oldKey)) !== account.thumbprint) throw unauthorized('oldKey is not the account\'s current key');
    const thumbprint = await thumbprintOf(newJwk);
    const other = await this.db.accountByThumbprint(thumbprint);
    if (other) throw new AcmeProblem('malformed', 'the new key belongs to another account', { status: 409, headers: { Location: `${ctx.base}${ACME}/acct/${other.id}` } });
    const updated = await this.db.updateAccount(account.id, { jwk: publicJwk(newJwk), thumbprint });
    if (!updated) throw unauthorized('the account is not valid');
    await this.core.credentials.recordAcmeAccountEvent(this.auditContext(ctx, account), AUDIT.acmeKeyChange, account.id, { oldThumbprint: account.thumbprint, newThumbprint: thumbprint });
    await this.reply(ctx, 200, this.accountJson(ctx.base, updated), { Location: `${ctx.base}${ACME}/acct/${account.id}` });
  }

  // Orders.

  private orderJson(base: string, o: Order, authzIds: string[]) {
    return {
      status: o.status,
      expires: o.expires.toISOString(),
      identifiers: o.identifiers,
      ...(o.notBefore ? { notBefore: o.notBefore.toISOString() } : {}),
      ...(o.notAfter ? { notAfter: o.notAfter.toISOString() } : {}),
      authorizations: authzIds.map((id) => `${base}${ACME}/authz/${id}`),
      finalize: `${base}${ACME}/order/${o.id}/finalize`,
      ...(o.certificateId && o.status === 'valid' ? { certificate: `${base}${ACME}/cert/${o.certificateId}` } : {}),
      ...(o.error ? { error: o.error } : {}),
      ...(o.replaces ? { replaces: o.replaces } : {}),
    };
  }

  private async newOrder(ctx: Ctx): Promise<void> {
    const account = ctx.account as Account;
    const body = payloadJson(ctx.jws);
    const identifiers = parseIdentifiers(body.identifiers);
    if (body.notBefore !== undefined || body.notAfter !== undefined) throw malformed('notBefore and notAfter are not supported: the product decides the validity');
    let product = await this.productOf(ctx.req);
    if (body.profile !== undefined) {
      if (typeof body.profile !== 'string') throw malformed('profile must be a string');
      const named = (await this.products()).find((p) => p.name === body.profile);
      if (!named) throw new AcmeProblem('malformed', `no profile ${body.profile}; the directory's meta.profiles lists them`);
      product = named;
    }
    if (eabRequired(product) && !account.eabCredentialId) throw new AcmeProblem('externalAccountRequired', `product ${product.name} requires an account with an external account binding`);
    if (account.eabCredentialId) await this.checkAccountStanding(account, ctx.req, product.id);
    const rejection = await this.core.enrollments.precheck({ id: product.id }, identifiers.map((i) => i.value));
    if (rejection) return this.refuse(ctx, identifiers.map((i) => i.value).join(',').slice(0, 200), `newOrder: ${rejection.rule}`, product.id, problemOfRejection(rejection));
    const now = this.core.now();
    const pending = await this.db.countPending(account.id, now);
    if (pending.orders >= MAX_PENDING_ORDERS || pending.authzs + identifiers.length > MAX_PENDING_AUTHZS) {
      throw new AcmeProblem('rateLimited', `too many pending orders or authorizations for this account (at most ${MAX_PENDING_ORDERS} and ${MAX_PENDING_AUTHZS})`, { headers: { 'Retry-After': '60' } });
    }
    let replaces: string | null = null;
    if (body.replaces !== undefined) replaces = await this.checkReplaces(body.replaces, account, identifiers);

    const orderId = newId();
    const lifetimeEnd = now + ORDER_LIFETIME_MS;
    const reused = await reusableValidations(this.core.domains, account, product, identifiers, this.core.config.dcvMaxReuseDays, now + REUSE_MIN_LEFT_MS);
    const authzs: Authz[] = [];
    const challenges: Challenge[] = [];
    const reuses: ReusedAuthz[] = [];
    for (const identifier of identifiers) {
      const wildcard = identifier.type === 'dns' && identifier.value.startsWith('*.');
      const reuse = reused.get(identifier.value);
      const authz: Authz = {
        id: newId(),
        orderId,
        accountId: account.id,
        identifier: wildcard ? { type: 'dns', value: identifier.value.slice(2) } : identifier,
        wildcard,
        status: reuse ? 'valid' : 'pending',
        expires: new Date(reuse ? Math.min(lifetimeEnd, reuse.until.getTime()) : lifetimeEnd),
      };
      authzs.push(authz);
      if (reuse) {
        // RFC 8555 §7.1.4: a valid authorization lists the challenge that was validated, so the
        // client is asked for nothing; here the registry's proof, by its method and time.
        challenges.push({ id: newId(), authzId: authz.id, type: reuse.record.method, token: randomBytes(32).toString('base64url'), status: 'valid', validatedAt: reuse.record.validatedAt, error: null });
        reuses.push({ authz, identifier: identifier.value, record: reuse.record });
        continue;
      }
      for (const type of challengeTypesFor(identifier, wildcard)) {
        challenges.push({ id: newId(), authzId: authz.id, type, token: randomBytes(32).toString('base64url'), status: 'pending', validatedAt: null, error: null });
      }
    }
    // As Boulder does: an order lives no longer than its authorizations, so one never reads
    // `ready` on a proof that has run out.
    const expires = new Date(Math.min(...authzs.map((a) => a.expires.getTime())));
    const order: Order = {
      id: orderId,
      accountId: account.id,
      productId: product.id,
      status: 'pending',
      identifiers,
      notBefore: null,
      notAfter: null,
      expires,
      error: null,
      requestId: null,
      certificateId: null,
      replaces,
      createdAt: new Date(now),
    };
    await this.db.insertOrder(order, authzs, challenges);
    await this.recordReuse(ctx, account, order, reuses);
    // Derived as a read derives it (orderStatus.ts): every authorization reused, the order is ready.
    const status = authzs.every((a) => a.status === 'valid') ? 'ready' : 'pending';
    await this.reply(ctx, 201, this.orderJson(ctx.base, { ...order, status }, authzs.map((a) => a.id)), { Location: `${ctx.base}${ACME}/order/${orderId}` });
  }

  /** Each authorization a registry validation made valid, in the trail: for whom, on which record. */
  private async recordReuse(ctx: Ctx, account: Account, order: Order, reuses: ReusedAuthz[]): Promise<void> {
    const by = this.auditContext(ctx, account);
    await Promise.all(
      reuses.map(({ authz, identifier, record }) =>
        this.core.credentials.recordAcmeAccountEvent(by, AUDIT.acmeAuthzReuse, authz.id, {
          identifier,
          orderId: order.id,
          accountId: account.id,
          productId: order.productId,
          domainId: record.id,
          domain: record.name,
          holder: record.holder,
          method: record.method,
          validatedAt: record.validatedAt.toISOString(),
          expires: authz.expires.toISOString(),
        }),
      ),
    );
  }

  /** ARI: the certificate this order replaces must be one of this account's. */
  private async checkReplaces(value: unknown, account: Account, identifiers: Identifier[]): Promise<string> {
    if (typeof value !== 'string') throw malformed('replaces must be an ARI certificate id');
    const cert = await this.certificateOfAriId(value);
    const order = cert && (await this.db.orderOfCertificate(cert.id));
    if (!cert || !order || order.accountId !== account.id) throw malformed('replaces names no certificate of this account');
    // RFC 9773 §5: the new order shares at least one identifier with what it replaces.
    const names = new Set(identifiers.map((i) => i.value));
    if (!order.identifiers.some((i) => names.has(i.value))) throw malformed('the order shares no identifier with the certificate it replaces');
    // RFC 9773 §5: one live replacement per certificate.
    if (await this.db.orderReplacing(value)) throw new AcmeProblem('alreadyReplaced', 'an order replacing this certificate exists already', { status: 409 });
    return value;
  }

  private async ownOrder(ctx: Ctx): Promise<Order> {
    const order = await this.db.order(ctx.req.params.id as string);
    if (!order) throw new AcmeProblem('malformed', 'no such order', { status: 404 });
    // Another account's order is answered as one that does not exist, and recorded.
    if (order.accountId !== (ctx.account as Account).id) return this.refuse(ctx, order.id, 'anotherAccountsOrder', order.productId, new AcmeProblem('malformed', 'no such order', { status: 404 }));
    return this.orders.refresh(order);
  }

  private async orderGet(ctx: Ctx): Promise<void> {
    requirePostAsGet(ctx.jws);
    const order = await this.ownOrder(ctx);
    const authzs = await this.db.authzsOfOrder(order.id);
    await this.reply(ctx, 200, this.orderJson(ctx.base, order, authzs.map((a) => a.id)), order.status === 'processing' ? { 'Retry-After': '2' } : {});
  }

  private async finalize(ctx: Ctx): Promise<void> {
    const account = ctx.account as Account;
    let order = await this.ownOrder(ctx);
    if (order.status !== 'ready') throw new AcmeProblem('orderNotReady', `the order is ${order.status}, not ready`);
    const body = payloadJson(ctx.jws);
    if (typeof body.csr !== 'string' || !/^[A-Za-z0-9_-]+$/.test(body.csr)) throw malformed('csr must be the base64url DER of a PKCS#10 request');
    const der = Buffer.from(body.csr, 'base64url');
    const csr = checkCsrNames(der, order.identifiers);
    if (await isAccountKey(csr.spkiDer, account)) {
      // Boulder refuses this too: one key for both would let whoever holds the certificate's key
      // (every server it is deployed on) act as the account, and its signatures serve two purposes.
      return this.refuse(ctx, order.id, 'csrKeyIsAccountKey', order.productId, new AcmeProblem('badCSR', 'the CSR\'s public key is the account key; a certificate needs a key of its own'));
    }
    const { request } = await this.core.enrollments.submit(
      {
        principal: requesterOf(order),
        actor: account.eabCredentialId ?? `acme-account:${account.id}`,
        credentialId: account.eabCredentialId,
        sourceIp: sourceIpOf(ctx.req),
        protocol: 'acme',
        product: { id: order.productId },
      },
      der,
      { identifiers: order.identifiers.map((i) => i.value), transactionId: order.id },
    );
    const outcome = await this.core.enrollments.waitForOutcome(request, FINALIZE_WAIT_MS);
    order = await this.orders.finalized(order, outcome.request);
    const authzs = await this.db.authzsOfOrder(order.id);
    await this.reply(ctx, 200, this.orderJson(ctx.base, order, authzs.map((a) => a.id)), {
      Location: `${ctx.base}${ACME}/order/${order.id}`,
      ...(order.status === 'processing' ? { 'Retry-After': '2' } : {}),
    });
  }

  // Authorizations and challenges.

  private challengeJson(base: string, c: Challenge) {
    return {
      type: c.type,
      url: `${base}${ACME}/chall/${c.id}`,
      token: c.token,
      status: c.status,
      ...(c.validatedAt ? { validated: c.validatedAt.toISOString() } : {}),
      ...(c.error ? { error: c.error } : {}),
    };
  }

  private async ownAuthz(ctx: Ctx, id: string): Promise<Authz> {
    const authz = await this.db.authz(id);
    if (!authz) throw new AcmeProblem('malformed', 'no such authorization', { status: 404 });
    if (authz.accountId !== (ctx.account as Account).id) {
      const order = await this.db.order(authz.orderId);
      return this.refuse(ctx, authz.id, 'anotherAccountsAuthorization', order?.productId ?? null, new AcmeProblem('malformed', 'no such authorization', { status: 404 }));
    }
    if (authz.status === 'pending' && authz.expires.getTime() <= this.core.now()) return (await this.db.moveAuthz(authz.id, ['pending'], 'expired')) ?? authz;
    return authz;
  }

  private async authzPost(ctx: Ctx): Promise<void> {
    let authz = await this.ownAuthz(ctx, ctx.req.params.id as string);
    const body = payloadJson(ctx.jws);
    if (body.status !== undefined) {
      if (body.status !== 'deactivated') throw malformed('an authorization can only be changed to status "deactivated"');
      authz = (await this.db.moveAuthz(authz.id, ['pending', 'valid'], 'deactivated')) ?? authz;
    }
    const challenges = await this.db.challengesOf([authz.id]);
    await this.reply(ctx, 200, {
      identifier: authz.identifier,
      status: authz.status,
      expires: authz.expires.toISOString(),
      challenges: challenges.map((c) => this.challengeJson(ctx.base, c)),
      ...(authz.wildcard ? { wildcard: true } : {}),
    }, authz.status === 'pending' && challenges.some((c) => c.status === 'processing') ? { 'Retry-After': '1' } : {});
  }

  private async challengePost(ctx: Ctx): Promise<void> {
    let challenge = await this.db.challenge(ctx.req.params.id as string);
    if (!challenge) throw new AcmeProblem('malformed', 'no such challenge', { status: 404 });
    const authz = await this.ownAuthz(ctx, challenge.authzId);
    payloadJson(ctx.jws);
    // An empty object (or POST-as-GET) asks for validation; only a pending challenge of a pending
    // authorization starts one, and only once.
    if (ctx.jws.payload.length > 0 && authz.status === 'pending' && challenge.status === 'pending') {
      const started = await this.db.moveChallenge(challenge.id, ['pending'], 'processing');
      if (started) {
        await this.validations.enqueue(started.id);
        // Most validations take milliseconds: answering with their outcome spares the client a
        // poll, and its backoff (often seconds). A slow one is answered `processing`.
        await this.validations.waitFor(started.id, CHALLENGE_WAIT_MS);
        challenge = (await this.db.challenge(started.id)) ?? started;
      }
    }
    await this.reply(ctx, 200, this.challengeJson(ctx.base, challenge), { Link: `<${ctx.base}${ACME}/authz/${authz.id}>;rel="up"` });
  }

  // Certificates.

  private async certificate(ctx: Ctx): Promise<void> {
    requirePostAsGet(ctx.jws);
    const id = ctx.req.params.id as string;
    const order = await this.db.orderOfCertificate(id);
    if (order && order.accountId !== (ctx.account as Account).id) {
      return this.refuse(ctx, id, 'anotherAccountsCertificate', order.productId, new AcmeProblem('malformed', 'no such certificate', { status: 404 }));
    }
    const cert = order ? await this.core.queries.certificateById(id) : undefined;
    if (!cert) throw new AcmeProblem('malformed', 'no such certificate', { status: 404 });
    const chain = await this.core.cas.chainFor(cert);
    ctx.res.set('Replay-Nonce', await this.nonces.issue());
    ctx.res.status(200).type('application/pem-certificate-chain').send([cert.certificatePem, ...chain].map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join(''));
  }

  private async revokeCert(ctx: Ctx): Promise<void> {
    const body = payloadJson(ctx.jws);
    if (typeof body.certificate !== 'string') throw malformed('certificate must be the base64url DER of the certificate to revoke');
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(Buffer.from(body.certificate, 'base64url'));
    } catch {
      throw malformed('certificate is not a DER certificate');
    }
    const reason = revocationReasonOf(body.reason);
    const cert = await this.findCertificate(x509);
    if (!cert) throw new AcmeProblem('malformed', 'this server did not issue that certificate', { status: 404 });
    let actor: string;
    if (ctx.account) {
      const order = await this.db.orderOfCertificate(cert.id);
      if (!order || order.accountId !== ctx.account.id) return this.refuse(ctx, cert.id, 'revokeNotOwner', cert.productId, unauthorized('the account does not own this certificate'));
      actor = ctx.account.eabCredentialId ?? `acme-account:${ctx.account.id}`;
    } else {
      // Signed with the certificate's own key (RFC 8555 §7.6).
      const certJwk = x509.publicKey.export({ format: 'jwk' }) as JWK;
      if ((await thumbprintOf(certJwk)) !== (await thumbprintOf(ctx.jws.jwk))) return this.refuse(ctx, cert.id, 'revokeNotCertificateKey', cert.productId, unauthorized('the request is signed neither by the owning account nor by the certificate\'s key'));
      actor = `certificate-key:${cert.id}`;
    }
    if (cert.revokedAt && cert.revocationReason !== 'certificateHold') throw new AcmeProblem('alreadyRevoked', 'the certificate is already revoked');
    const by: AuditContext = { actor, protocol: 'acme', sourceIp: sourceIpOf(ctx.req) };
    try {
      await this.core.revocations.revoke(cert.id, { reason }, by, () => undefined);
    } catch (e) {
      if (e instanceof AppError && e.kind === 'conflict') throw new AcmeProblem('alreadyRevoked', 'the certificate is already revoked');
      throw e;
    }
    ctx.res.set('Replay-Nonce', await this.nonces.issue());
    ctx.res.status(200).end();
  }

  private async findCertificate(x509: X509Certificate) {
    const serial = normalizeSerialHex(x509.serialNumber);
    for (const ca of await this.core.catalogue.cas()) {
      if (!x509.checkIssued(new X509Certificate(ca.certificatePem))) continue;
      const cert = await this.core.queries.certificateBySerial(ca.id, serial);
      if (cert && cert.certificatePem.replace(/\s/g, '') === x509.toString().replace(/\s/g, '')) return cert;
    }
    return undefined;
  }

  private async certificateOfAriId(certId: string) {
    const parsed = parseAriCertId(certId);
    if (!parsed) return undefined;
    for (const ca of await this.core.catalogue.cas()) {
      const basics = readCertificateBasics(Buffer.from(new X509Certificate(ca.certificatePem).raw));
      if (!basics.subjectKeyId?.equals(parsed.keyId)) continue;
      const cert = await this.core.queries.certificateBySerial(ca.id, parsed.serialHex);
      if (cert) return cert;
    }
    return undefined;
  }

  private async renewalInfo(req: Request, res: Response): Promise<void> {
    const cert = await this.certificateOfAriId(req.params.certId as string);
    if (!cert) throw new AcmeProblem('malformed', 'no certificate with this ARI certificate id', { status: 404 });
    res.set('Retry-After', String(6 * 3600));
    res.set('Replay-Nonce', await this.nonces.issue());
    // An upstream CA's own advice for its certificate wins, unless the certificate is revoked (renew now).
    const upstream = cert.revokedAt ? null : await this.core.cas.upstreamRenewalWindow(cert);
    res.json({ suggestedWindow: upstream ? { start: upstream.start.toISOString(), end: upstream.end.toISOString() } : renewalWindow(cert, new Date()) });
  }

  /** The ARI id of a certificate this server issued (for tests and for the order's `replaces`). */
  static ariCertId = ariCertId;
}

// Helpers.

/**
 * The account id a kid names. Accounts made before URLs came from the configuration hold kids with
 * the origin their client used then (http://host:8080, say), and clients such as certbot keep them:
 * any http(s) origin is taken with this server's path. The origin decides nothing here: the kid only
 * picks the key the request's signature must verify under, and the `url` header, checked against
 * the configured base, binds the request to this server.
 */
function accountIdOfKid(kid: string, base: string): string | undefined {
  const prefix = `${base}${ACME}/acct/`;
  if (kid.startsWith(prefix)) return kid.slice(prefix.length);
  let url: URL;
  try {
    url = new URL(kid);
  } catch {
    return undefined;
  }
  const path = `${new URL(base).pathname.replace(/\/+$/, '')}${ACME}/acct/`;
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash || !url.pathname.startsWith(path)) return undefined;
  const id = url.pathname.slice(path.length);
  return /^[A-Za-z0-9_-]+$/.test(id) ? id : undefined;
}

export function eabRequired(product: ProductRecord): boolean {
  return product.template.protocols.acme?.eabRequired === true;
}

function describe(p: ProductRecord): string {
  const t = p.template;
  return `${t.keyAlgorithms.join('/')} keys, ${t.defaultValidityDays} days (at most ${t.maxValidityDays})${t.allowedDnsSuffixes.length ? `, names under ${t.allowedDnsSuffixes.join(', ')}` : ''}${t.requiresApproval ? ', needs approval' : ''}`;
}

function publicJwk(jwk: JWK): Record<string, unknown> {
  const { kty, crv, x, y, n, e } = jwk;
  return Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined));
}

function parseContact(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 10) throw new AcmeProblem('invalidContact', 'contact must be a list of at most 10 mailto: URLs');
  return value.map((c) => {
    if (typeof c !== 'string' || !/^mailto:[^@\s,?]+@[^@\s,?]+$/.test(c)) throw new AcmeProblem(typeof c === 'string' && !c.startsWith('mailto:') ? 'unsupportedContact' : 'invalidContact', `contact ${JSON.stringify(c)} is not a mailto: address`);
    return c;
  });
}

function parseIdentifiers(value: unknown): Identifier[] {
  if (!Array.isArray(value) || value.length === 0) throw malformed('identifiers must be a non-empty list');
  if (value.length > MAX_IDENTIFIERS) throw new AcmeProblem('rejectedIdentifier', `at most ${MAX_IDENTIFIERS} identifiers per order`);
  const seen = new Map<string, Identifier>();
  for (const item of value) {
    if (typeof item !== 'object' || item === null) throw malformed('each identifier is an object {type, value}');
    const { type, value: v } = item as { type?: unknown; value?: unknown };
    if (typeof v !== 'string' || v.length === 0 || v.length > 253) throw malformed('an identifier value must be a non-empty string');
    if (type === 'dns') seen.set(`dns:${v.toLowerCase()}`, { type: 'dns', value: v.toLowerCase() });
    else if (type === 'ip') {
      if (identifierOf(v).type !== 'ip') throw malformed(`${v} is not an IP address`);
      seen.set(`ip:${v}`, { type: 'ip', value: v });
    } else throw new AcmeProblem('unsupportedIdentifier', `identifier type ${JSON.stringify(type)} is not supported (dns, ip)`);
  }
  return [...seen.values()];
}

function challengeTypesFor(identifier: Identifier, wildcard: boolean): ChallengeType[] {
  if (wildcard) return ['dns-01'];
  if (identifier.type === 'ip') return ['http-01', 'tls-alpn-01'];
  return ['http-01', 'dns-01', 'tls-alpn-01'];
}

/** The CSR must ask for exactly the order's names (RFC 8555 §7.4), else badCSR at once. */
function checkCsrNames(der: Buffer, identifiers: Identifier[]): ParsedCsr {
  let csr;
  try {
    csr = parseCsr(der);
  } catch (e) {
    if (e instanceof CsrError) throw new AcmeProblem('badCSR', e.message);
    throw e;
  }
  const asked = new Set(namesOfCsr(csr));
  const ordered = new Set(identifiers.map((i) => comparableName(i.value)));
  const extra = [...asked].filter((n) => !ordered.has(n));
  const missing = [...ordered].filter((n) => !asked.has(n));
  if (extra.length || missing.length) {
    throw new AcmeProblem('badCSR', `the CSR must ask for exactly the order's identifiers${extra.length ? `; not in the order: ${extra.join(', ')}` : ''}${missing.length ? `; missing: ${missing.join(', ')}` : ''}`);
  }
  return csr;
}

/**
 * Compared by RFC 7638 thumbprint, the account's as stored with its key: node re-encodes the CSR's
 * key as a JWK, so that no encoding detail of the CSR hides a match. A key node cannot read is no
 * account key (those were read when they were registered).
 */
async function isAccountKey(spkiDer: Buffer, account: Account): Promise<boolean> {
  let jwk: JWK;
  try {
    jwk = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' }).export({ format: 'jwk' }) as JWK;
  } catch {
    return false;
  }
  return (await thumbprintOf(jwk).catch(() => undefined)) === account.thumbprint;
}

function revocationReasonOf(code: unknown): RevocationReason {
  if (code === undefined) return 'unspecified';
  const entry = Object.entries(REVOCATION_REASON_CODES).find(([, n]) => n === code);
  if (!entry || entry[0] === 'removeFromCRL' || entry[0] === 'certificateHold') throw new AcmeProblem('badRevocationReason', `reason ${JSON.stringify(code)} is not a revocation reason this server accepts`);
  return entry[0] as RevocationReason;
}

export type { StoredProblem };
