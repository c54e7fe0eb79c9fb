// The upstream orders and http-01 key authorizations in the store: what makes a re-run job resume
// its order, and what lets any process answer the upstream's http-01 validation.
import { AUDIT, SYSTEM_ACTOR } from '../../audit/actions.js';
import type { AuditEntryInput } from '../../core/types.js';
import { pemBlocks, toPem } from '../../pki/pem.js';
import { fromMs } from '../../store/schema.js';
import type { Store } from '../../store/types.js';

export interface RenewalWindow {
  start: Date;
  end: Date;
}

export type UpstreamOrderState = 'pending' | 'valid' | 'invalid';

export interface UpstreamOrderRecord {
  requestId: string;
  caId: string;
  orderUrl: string;
  state: UpstreamOrderState;
  chainPem: string | null;
  createdAt: Date;
}

/** A system entry about the request's upstream order (placed, resumed, finalized, refused). */
export function upstreamEntry(requestId: string, caId: string, event: 'placed' | 'resumed' | 'finalized' | 'refused', detail: Record<string, unknown>): AuditEntryInput {
  return {
    actor: SYSTEM_ACTOR,
    protocol: 'upstream-acme',
    sourceIp: null,
    action: AUDIT.upstreamOrder,
    target: requestId,
    outcome: event === 'refused' ? 'failure' : 'success',
    detail: { request: requestId, ca: caId, event, ...detail },
  };
}

export class UpstreamOrders {
  constructor(private readonly store: Store) {}

  async get(requestId: string): Promise<UpstreamOrderRecord | null> {
    const row = await this.store.db.selectFrom('upstream_orders').selectAll().where('request_id', '=', requestId).executeTakeFirst();
    if (!row) return null;
    return { requestId: row.request_id, caId: row.ca_id, orderUrl: row.order_url, state: row.state as UpstreamOrderState, chainPem: row.chain_pem, createdAt: fromMs(row.created_at) };
  }

  /** Records the order placed for the request, with its audit entry, before anything else is done with it. */
  async record(requestId: string, caId: string, orderUrl: string, names: string[]): Promise<void> {
    const now = Date.now();
    await this.store.write(
      this.store.db
        .insertInto('upstream_orders')
        .values({ request_id: requestId, ca_id: caId, order_url: orderUrl, state: 'pending', chain_pem: null, renewal_start: null, renewal_end: null, created_at: now, updated_at: now })
        .returning('request_id'),
      () => upstreamEntry(requestId, caId, 'placed', { order: orderUrl, names }),
    );
  }

  async finish(requestId: string, state: 'valid' | 'invalid', chainPem: string | null, entry: AuditEntryInput, renewal: RenewalWindow | null = null): Promise<void> {
    await this.store.write(
      this.store.db
        .updateTable('upstream_orders')
        .set({ state, chain_pem: chainPem, renewal_start: renewal?.start.getTime() ?? null, renewal_end: renewal?.end.getTime() ?? null, updated_at: Date.now() })
        .where('request_id', '=', requestId)
        .returning('request_id'),
      () => entry,
    );
  }

  async note(entry: AuditEntryInput): Promise<void> {
    await this.store.audit.append(entry);
  }

  async addHttpChallenge(requestId: string, token: string, keyAuthorization: string): Promise<void> {
    await this.store.write(
      this.store.db
        .insertInto('upstream_http_challenges')
        .values({ token, key_authorization: keyAuthorization, request_id: requestId, created_at: Date.now() })
        .onConflict((oc) => oc.column('token').doUpdateSet({ key_authorization: keyAuthorization }))
        .returning('token'),
    );
  }

  async removeHttpChallenges(requestId: string): Promise<void> {
    await this.store.write(this.store.db.deleteFrom('upstream_http_challenges').where('request_id', '=', requestId).returning('token'));
  }
}

/** What /.well-known/acme-challenge/<token> answers: the key authorization of an upstream order in progress, or null. */
export async function httpChallengeResponse(store: Store, token: string): Promise<string | null> {
  const row = await store.db.selectFrom('upstream_http_challenges').select('key_authorization').where('token', '=', token).executeTakeFirst();
  return row?.key_authorization ?? null;
}

/** The issuer chain the upstream returned with the certificate of this request, PEM each; null when none was kept. */
export async function upstreamChainOf(store: Store, requestId: string): Promise<string[] | null> {
  const row = await store.db.selectFrom('upstream_orders').select('chain_pem').where('request_id', '=', requestId).where('state', '=', 'valid').executeTakeFirst();
  if (!row?.chain_pem) return null;
  return pemBlocks(row.chain_pem).filter((b) => b.label === 'CERTIFICATE').map((b) => toPem('CERTIFICATE', b.der));
}

/** The renewal window the upstream suggested (ARI) for the certificate of this request; null when it offered none. */
export async function upstreamRenewalWindowOf(store: Store, requestId: string): Promise<RenewalWindow | null> {
  const row = await store.db.selectFrom('upstream_orders').select(['renewal_start', 'renewal_end']).where('request_id', '=', requestId).executeTakeFirst();
  if (row?.renewal_start == null || row.renewal_end == null) return null;
  return { start: fromMs(row.renewal_start), end: fromMs(row.renewal_end) };
}
