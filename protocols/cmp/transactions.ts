// CMP transactions (RFC 9483 §3.1, §4.1): which sender holds a transactionID, for which product,
// which core request it carries, what it waits for next, and the nonce the next message must
// return. Each step is one statement (a conditional insert or update), so a row is never
// half-written and two messages racing for one step cannot both take it. The request's state
// itself is the core's: a transaction a crashed process left waiting resumes from it.
import type { Kysely, Selectable } from 'kysely';
import type { ProtocolTables } from '../../src/core/protocol.js';

interface Schema {
  cmp_transactions: {
    transaction_id: string;
    sender: string;
    product_id: string;
    body_type: string;
    cert_req_id: string;
    request_id: string | null;
    state: string;
    expected_nonce: string;
    implicit_confirm: number;
    expires_at: number | string;
    created_at: number | string;
  };
}

export type TransactionState = 'open' | 'waiting' | 'confirm' | 'done';
export type EnrollBody = 'ir' | 'cr' | 'kur' | 'p10cr';

export interface CmpTransaction {
  transactionId: string;
  sender: string;
  productId: string;
  bodyType: EnrollBody;
  certReqId: bigint;
  requestId: string | null;
  state: TransactionState;
  expectedNonce: string;
  implicitConfirm: boolean;
  expiresAt: number;
}

const recordOf = (r: Selectable<Schema['cmp_transactions']>): CmpTransaction => ({
  transactionId: r.transaction_id,
  sender: r.sender,
  productId: r.product_id,
  bodyType: r.body_type as EnrollBody,
  certReqId: BigInt(r.cert_req_id),
  requestId: r.request_id,
  state: r.state as TransactionState,
  expectedNonce: r.expected_nonce,
  implicitConfirm: r.implicit_confirm === 1,
  expiresAt: Number(r.expires_at),
});

export class Transactions {
  private readonly db: Kysely<Schema>;

  constructor(private readonly tables: ProtocolTables<Schema>) {
    this.db = tables.db;
  }

  /**
   * Claims the transactionID for a new enrollment; an expired transaction's ID is free again.
   * false when a live transaction holds it (whoever its sender).
   */
  async open(t: Omit<CmpTransaction, 'requestId' | 'state'>, now: number): Promise<boolean> {
    const row = {
      transaction_id: t.transactionId,
      sender: t.sender,
      product_id: t.productId,
      body_type: t.bodyType,
      cert_req_id: t.certReqId.toString(),
      request_id: null,
      state: 'open',
      expected_nonce: t.expectedNonce,
      implicit_confirm: t.implicitConfirm ? 1 : 0,
      expires_at: t.expiresAt,
      created_at: now,
    };
    const taken = await this.tables.write(
      this.db
        .insertInto('cmp_transactions')
        .values(row)
        .onConflict((oc) => oc.column('transaction_id').doUpdateSet(row).where('cmp_transactions.expires_at', '<', now))
        .returning('transaction_id'),
    );
    return taken !== undefined;
  }

  async get(transactionId: string, now: number): Promise<CmpTransaction | undefined> {
    const row = await this.db.selectFrom('cmp_transactions').selectAll().where('transaction_id', '=', transactionId).where('expires_at', '>=', now).executeTakeFirst();
    return row ? recordOf(row) : undefined;
  }

  /**
   * Moves the transaction from `from` to `to` when it is still there and still expects `nonce`;
   * false when another message took the step first.
   */
  async advance(transactionId: string, from: readonly TransactionState[], nonce: string, to: { state: TransactionState; expectedNonce: string; requestId?: string; expiresAt?: number }): Promise<boolean> {
    const moved = await this.tables.write(
      this.db
        .updateTable('cmp_transactions')
        .set({ state: to.state, expected_nonce: to.expectedNonce, ...(to.requestId !== undefined ? { request_id: to.requestId } : {}), ...(to.expiresAt !== undefined ? { expires_at: to.expiresAt } : {}) })
        .where('transaction_id', '=', transactionId)
        .where('state', 'in', [...from])
        .where('expected_nonce', '=', nonce)
        .returning('transaction_id'),
    );
    return moved !== undefined;
  }

  /** Forgets transactions that ended or expired before `before` (RFC 9483 lets an ID be used again then). */
  async removeExpired(before: number): Promise<void> {
    await this.tables.write(this.db.deleteFrom('cmp_transactions').where('expires_at', '<', before));
  }
}
