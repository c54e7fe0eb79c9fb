// ACME's records and the statements on its tables. Each write is one statement (no transaction
// spans awaits on the embedded database); where two records must agree, one is derived from the
// other on read (an order's status from its authorizations).
import type { Kysely, Selectable } from 'kysely';
import type { ProtocolTables } from '../../src/core/protocol.js';

export type AccountStatus = 'valid' | 'deactivated' | 'revoked';
export type OrderStatus = 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
export type AuthzStatus = 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';
export type ChallengeStatus = 'pending' | 'processing' | 'valid' | 'invalid';
export type ChallengeType = 'http-01' | 'dns-01' | 'tls-alpn-01';

export interface Identifier {
  type: 'dns' | 'ip';
  value: string;
}

/** An RFC 7807 problem as ACME stores it on an order or a challenge. */
export interface StoredProblem {
  type: string;
  detail: string;
  status?: number;
  subproblems?: { type: string; detail: string; identifier: Identifier }[];
}

interface Schema {
  acme_accounts: { id: string; thumbprint: string; jwk: string; status: string; contact: string; eab_credential_id: string | null; created_at: number | string };
  acme_orders: {
    id: string;
    account_id: string;
    product_id: string;
    status: string;
    identifiers: string;
    not_before: number | string | null;
    not_after: number | string | null;
    expires: number | string;
    error: string | null;
    request_id: string | null;
    certificate_id: string | null;
    replaces: string | null;
    created_at: number | string;
  };
  acme_authorizations: {
    id: string;
    order_id: string;
    account_id: string;
    identifier_type: string;
    identifier_value: string;
    wildcard: number;
    status: string;
    expires: number | string;
    created_at: number | string;
  };
  acme_challenges: { id: string; authz_id: string; type: string; token: string; status: string; validated_at: number | string | null; error: string | null };
}

export interface Account {
  id: string;
  thumbprint: string;
  jwk: Record<string, unknown>;
  status: AccountStatus;
  contact: string[];
  eabCredentialId: string | null;
  createdAt: Date;
}

export interface Order {
  id: string;
  accountId: string;
  productId: string;
  status: OrderStatus;
  identifiers: Identifier[];
  notBefore: Date | null;
  notAfter: Date | null;
  expires: Date;
  error: StoredProblem | null;
  requestId: string | null;
  certificateId: string | null;
  replaces: string | null;
  createdAt: Date;
}

export interface Authz {
  id: string;
  orderId: string;
  accountId: string;
  identifier: Identifier;
  wildcard: boolean;
  status: AuthzStatus;
  expires: Date;
}

export interface Challenge {
  id: string;
  authzId: string;
  type: ChallengeType;
  token: string;
  status: ChallengeStatus;
  validatedAt: Date | null;
  error: StoredProblem | null;
}

const ms = (v: number | string): Date => new Date(Number(v));
const msOrNull = (v: number | string | null): Date | null => (v === null ? null : new Date(Number(v)));
const json = <T>(v: string | null): T | null => (v === null ? null : (JSON.parse(v) as T));

const accountOf = (r: Selectable<Schema['acme_accounts']>): Account => ({
  id: r.id,
  thumbprint: r.thumbprint,
  jwk: JSON.parse(r.jwk) as Record<string, unknown>,
  status: r.status as AccountStatus,
  contact: JSON.parse(r.contact) as string[],
  eabCredentialId: r.eab_credential_id,
  createdAt: ms(r.created_at),
});

const orderOf = (r: Selectable<Schema['acme_orders']>): Order => ({
  id: r.id,
  accountId: r.account_id,
  productId: r.product_id,
  status: r.status as OrderStatus,
  identifiers: JSON.parse(r.identifiers) as Identifier[],
  notBefore: msOrNull(r.not_before),
  notAfter: msOrNull(r.not_after),
  expires: ms(r.expires),
  error: json<StoredProblem>(r.error),
  requestId: r.request_id,
  certificateId: r.certificate_id,
  replaces: r.replaces,
  createdAt: ms(r.created_at),
});

const authzOf = (r: Selectable<Schema['acme_authorizations']>): Authz => ({
  id: r.id,
  orderId: r.order_id,
  accountId: r.account_id,
  identifier: { type: r.identifier_type as Identifier['type'], value: r.identifier_value },
  wildcard: Number(r.wildcard) !== 0,
  status: r.status as AuthzStatus,
  expires: ms(r.expires),
});

const challengeOf = (r: Selectable<Schema['acme_challenges']>): Challenge => ({
  id: r.id,
  authzId: r.authz_id,
  type: r.type as ChallengeType,
  token: r.token,
  status: r.status as ChallengeStatus,
  validatedAt: msOrNull(r.validated_at),
  error: json<StoredProblem>(r.error),
});

export class AcmeDb {
  private readonly db: Kysely<Schema>;
  private readonly write: ProtocolTables<Schema>['write'];

  constructor(tables: ProtocolTables<Schema>) {
    this.db = tables.db;
    this.write = (statement) => tables.write(statement);
  }

  // Accounts.

  async insertAccount(a: Account): Promise<Account | undefined> {
    // Two newAccount calls with one key at once: the second finds the first (unique thumbprint).
    const row = await this.write(
      this.db
        .insertInto('acme_accounts')
        .values({ id: a.id, thumbprint: a.thumbprint, jwk: JSON.stringify(a.jwk), status: a.status, contact: JSON.stringify(a.contact), eab_credential_id: a.eabCredentialId, created_at: a.createdAt.getTime() })
        .onConflict((oc) => oc.column('thumbprint').doNothing())
        .returningAll(),
    );
    return row && accountOf(row);
  }

  async account(id: string): Promise<Account | undefined> {
    const row = await this.db.selectFrom('acme_accounts').selectAll().where('id', '=', id).executeTakeFirst();
    return row && accountOf(row);
  }

  async accountByThumbprint(thumbprint: string): Promise<Account | undefined> {
    const row = await this.db.selectFrom('acme_accounts').selectAll().where('thumbprint', '=', thumbprint).executeTakeFirst();
    return row && accountOf(row);
  }

  async updateAccount(id: string, change: { contact?: string[]; status?: AccountStatus; jwk?: Record<string, unknown>; thumbprint?: string }): Promise<Account | undefined> {
    const row = await this.write(
      this.db
        .updateTable('acme_accounts')
        .set({
          ...(change.contact ? { contact: JSON.stringify(change.contact) } : {}),
          ...(change.status ? { status: change.status } : {}),
          ...(change.jwk ? { jwk: JSON.stringify(change.jwk) } : {}),
          ...(change.thumbprint ? { thumbprint: change.thumbprint } : {}),
        })
        .where('id', '=', id)
        .where('status', '=', 'valid')
        .returningAll(),
    );
    return row && accountOf(row);
  }

  // Orders, with their authorizations and challenges.

  async insertOrder(order: Order, authzs: Authz[], challenges: Challenge[]): Promise<void> {
    // Issued together, so the embedded database commits them in one transaction.
    await Promise.all([
      this.write(
        this.db
          .insertInto('acme_challenges')
          .values(challenges.map((c) => ({ id: c.id, authz_id: c.authzId, type: c.type, token: c.token, status: c.status, validated_at: c.validatedAt?.getTime() ?? null, error: null }))),
      ),
      this.write(
        this.db.insertInto('acme_authorizations').values(
          authzs.map((z) => ({
            id: z.id,
            order_id: z.orderId,
            account_id: z.accountId,
            identifier_type: z.identifier.type,
            identifier_value: z.identifier.value,
            wildcard: z.wildcard ? 1 : 0,
            status: z.status,
            expires: z.expires.getTime(),
            created_at: order.createdAt.getTime(),
          })),
        ),
      ),
      this.write(
        this.db.insertInto('acme_orders').values({
          id: order.id,
          account_id: order.accountId,
          product_id: order.productId,
          status: order.status,
          identifiers: JSON.stringify(order.identifiers),
          not_before: order.notBefore?.getTime() ?? null,
          not_after: order.notAfter?.getTime() ?? null,
          expires: order.expires.getTime(),
          error: null,
          request_id: null,
          certificate_id: null,
          replaces: order.replaces,
          created_at: order.createdAt.getTime(),
        }),
      ),
    ]);
  }

  async order(id: string): Promise<Order | undefined> {
    const row = await this.db.selectFrom('acme_orders').selectAll().where('id', '=', id).executeTakeFirst();
    return row && orderOf(row);
  }

  async orderOfCertificate(certificateId: string): Promise<Order | undefined> {
    const row = await this.db.selectFrom('acme_orders').selectAll().where('certificate_id', '=', certificateId).executeTakeFirst();
    return row && orderOf(row);
  }

  /** An order, not invalid, that replaces the certificate with this ARI id. */
  async orderReplacing(ariCertId: string): Promise<Order | undefined> {
    const row = await this.db.selectFrom('acme_orders').selectAll().where('replaces', '=', ariCertId).where('status', '!=', 'invalid').executeTakeFirst();
    return row && orderOf(row);
  }

  async ordersOfAccount(accountId: string, limit: number): Promise<Order[]> {
    const rows = await this.db.selectFrom('acme_orders').selectAll().where('account_id', '=', accountId).orderBy('created_at', 'desc').limit(limit).execute();
    return rows.map(orderOf);
  }

  async countPending(accountId: string, now: number): Promise<{ orders: number; authzs: number }> {
    const [o] = await this.db
      .selectFrom('acme_orders')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('account_id', '=', accountId)
      .where('status', 'in', ['pending', 'ready'])
      .where('expires', '>', now)
      .execute();
    const [a] = await this.db
      .selectFrom('acme_authorizations')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('account_id', '=', accountId)
      .where('status', '=', 'pending')
      .where('expires', '>', now)
      .execute();
    return { orders: Number(o?.n ?? 0), authzs: Number(a?.n ?? 0) };
  }

  /** Compare-and-set on the order's status; undefined when it was not in `from`. */
  async moveOrder(id: string, from: OrderStatus[], to: OrderStatus, change: { error?: StoredProblem | null; requestId?: string; certificateId?: string } = {}): Promise<Order | undefined> {
    const row = await this.write(
      this.db
        .updateTable('acme_orders')
        .set({
          status: to,
          ...(change.error !== undefined ? { error: change.error === null ? null : JSON.stringify(change.error) } : {}),
          ...(change.requestId !== undefined ? { request_id: change.requestId } : {}),
          ...(change.certificateId !== undefined ? { certificate_id: change.certificateId } : {}),
        })
        .where('id', '=', id)
        .where('status', 'in', from)
        .returningAll(),
    );
    return row && orderOf(row);
  }

  async authz(id: string): Promise<Authz | undefined> {
    const row = await this.db.selectFrom('acme_authorizations').selectAll().where('id', '=', id).executeTakeFirst();
    return row && authzOf(row);
  }

  async authzsOfOrder(orderId: string): Promise<Authz[]> {
    const rows = await this.db.selectFrom('acme_authorizations').selectAll().where('order_id', '=', orderId).orderBy('id').execute();
    return rows.map(authzOf);
  }

  async moveAuthz(id: string, from: AuthzStatus[], to: AuthzStatus): Promise<Authz | undefined> {
    const row = await this.write(this.db.updateTable('acme_authorizations').set({ status: to }).where('id', '=', id).where('status', 'in', from).returningAll());
    return row && authzOf(row);
  }

  async challenge(id: string): Promise<Challenge | undefined> {
    const row = await this.db.selectFrom('acme_challenges').selectAll().where('id', '=', id).executeTakeFirst();
    return row && challengeOf(row);
  }

  async challengesOf(authzIds: string[]): Promise<Challenge[]> {
    if (authzIds.length === 0) return [];
    const rows = await this.db.selectFrom('acme_challenges').selectAll().where('authz_id', 'in', authzIds).orderBy('id').execute();
    return rows.map(challengeOf);
  }

  async moveChallenge(id: string, from: ChallengeStatus[], to: ChallengeStatus, change: { error?: StoredProblem; validatedAt?: Date } = {}): Promise<Challenge | undefined> {
    const row = await this.write(
      this.db
        .updateTable('acme_challenges')
        .set({
          status: to,
          ...(change.error ? { error: JSON.stringify(change.error) } : {}),
          ...(change.validatedAt ? { validated_at: change.validatedAt.getTime() } : {}),
        })
        .where('id', '=', id)
        .where('status', 'in', from)
        .returningAll(),
    );
    return row && challengeOf(row);
  }

  /**
   * A validation that succeeded: the challenge `processing` → `valid`, and its authorization
   * `pending` → `valid`, issued together so that the embedded database commits both at once. The
   * authorization moves only while its challenge is this validation's (processing, or valid by
   * it), whichever statement runs first on a pool; undefined when the challenge was not processing.
   */
  async validateChallenge(challengeId: string, authzId: string, validatedAt: Date): Promise<Challenge | undefined> {
    const [challenge] = await Promise.all([
      this.moveChallenge(challengeId, ['processing'], 'valid', { validatedAt }),
      this.write(
        this.db
          .updateTable('acme_authorizations')
          .set({ status: 'valid' })
          .where('id', '=', authzId)
          .where('status', '=', 'pending')
          .where((eb) => eb.exists(eb.selectFrom('acme_challenges').select('id').where('id', '=', challengeId).where('authz_id', '=', authzId).where('status', 'in', ['processing', 'valid']))),
      ),
    ]);
    return challenge;
  }

  /** Orders still stored as unsubmitted that expired before `before` (the sweeper settles them first). */
  async expiredUnsubmitted(before: number): Promise<Order[]> {
    const rows = await this.db.selectFrom('acme_orders').selectAll().where('expires', '<', before).where('status', 'in', ['pending', 'ready']).limit(1000).execute();
    return rows.map(orderOf);
  }

  /** Drops what expired unused more than `graceMs` ago; valid orders (certificate links) stay. */
  async removeExpired(now: number, graceMs: number): Promise<number> {
    const before = now - graceMs;
    const orders = await this.db.selectFrom('acme_orders').select('id').where('expires', '<', before).where('status', 'in', ['pending', 'ready', 'invalid']).limit(1000).execute();
    const ids = orders.map((o) => o.id);
    if (ids.length === 0) return 0;
    const authzs = await this.db.selectFrom('acme_authorizations').select('id').where('order_id', 'in', ids).execute();
    const authzIds = authzs.map((a) => a.id);
    await Promise.all([
      this.write(this.db.deleteFrom('acme_orders').where('id', 'in', ids)),
      ...(authzIds.length
        ? [this.write(this.db.deleteFrom('acme_challenges').where('authz_id', 'in', authzIds)), this.write(this.db.deleteFrom('acme_authorizations').where('id', 'in', authzIds))]
        : []),
    ]);
    return ids.length;
  }
}
