// An order's status follows from its authorizations and its enrollment request, read when the
// order is read: so the order is `ready` in the very step its last authorization turns `valid`,
// and `valid` as soon as the worker has stored its certificate (RFC 8555 §7.1.6).
import type { CoreServices } from '../../src/core/protocol.js';
import type { AcmeDb, Authz, Order, StoredProblem } from './db.js';
import { problemOfRejection, problemUrn } from './problems.js';

const DEAD: Authz['status'][] = ['invalid', 'deactivated', 'expired', 'revoked'];

export class OrderStatusService {
  constructor(
    private readonly db: AcmeDb,
    private readonly core: Pick<CoreServices, 'queries'>,
  ) {}

  async refresh(order: Order): Promise<Order> {
    const now = Date.now();
    if (order.status === 'pending' || order.status === 'ready') {
      if (order.expires.getTime() <= now) {
        return (await this.db.moveOrder(order.id, [order.status], 'invalid', { error: { type: problemUrn('malformed'), detail: 'the order expired' } })) ?? order;
      }
    }
    if (order.status === 'pending') {
      const authzs = await this.db.authzsOfOrder(order.id);
      const failed = authzs.find((a) => DEAD.includes(a.status) || (a.status === 'pending' && a.expires.getTime() <= now));
      if (failed) return (await this.db.moveOrder(order.id, ['pending'], 'invalid', { error: await this.authzProblem(failed) })) ?? order;
      if (authzs.length > 0 && authzs.every((a) => a.status === 'valid')) return (await this.db.moveOrder(order.id, ['pending'], 'ready')) ?? order;
      return order;
    }
    if (order.status === 'processing' && order.requestId) {
      const request = await this.core.queries.requestById(order.requestId);
      if (request?.status === 'issued' && request.certificateId) {
        return (await this.db.moveOrder(order.id, ['processing'], 'valid', { certificateId: request.certificateId })) ?? order;
      }
      if (request?.status === 'rejected' || request?.status === 'failed') {
        const error: StoredProblem = request.rejection
          ? problemOfRejection(request.rejection).toJSON()
          : { type: problemUrn('serverInternal'), detail: request.statusReason ?? 'issuance failed' };
        return (await this.db.moveOrder(order.id, ['processing'], 'invalid', { error })) ?? order;
      }
    }
    return order;
  }

  private async authzProblem(authz: Authz): Promise<StoredProblem> {
    const failed = (await this.db.challengesOf([authz.id])).find((c) => c.error);
    const detail = `authorization for ${authz.identifier.value} is ${authz.status === 'pending' ? 'expired' : authz.status}`;
    return failed?.error ? { ...failed.error, detail: `${detail}: ${failed.error.detail}` } : { type: problemUrn('unauthorized'), detail };
  }
}
