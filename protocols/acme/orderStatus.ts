// An order's status follows from its authorizations and its enrollment request, read when the
// order is read: so the order is `ready` in the very step its last authorization turns `valid`,
// and `valid` as soon as the worker has stored its certificate (RFC 8555 §7.1.6).
//
// What is derived is not written on its own: an order whose authorizations are all valid stays
// `pending` in its row and reads as `ready`; one whose request (found by the order's id, its
// transaction id) is being worked on reads as `processing`. A finalize writes the order once, with
// the outcome its wait saw, or as `processing` when the request is still to be decided; each
// commit saved is one fsync less per certificate.
import type { CoreServices } from '../../src/core/protocol.js';
import type { EnrollmentRequest } from '../../src/core/types.js';
import type { AcmeDb, Authz, Order, OrderStatus, StoredProblem } from './db.js';
import { problemOfRejection, problemUrn } from './problems.js';

const DEAD: Authz['status'][] = ['invalid', 'deactivated', 'expired', 'revoked'];
/** The stored statuses of an order that may read as ready (`ready` is still stored by older versions). */
const UNSUBMITTED: OrderStatus[] = ['pending', 'ready'];

export class OrderStatusService {
  constructor(
    private readonly db: AcmeDb,
    private readonly core: Pick<CoreServices, 'queries' | 'enrollments' | 'now'>,
  ) {}

  async refresh(order: Order): Promise<Order> {
    const now = this.core.now();
    if (UNSUBMITTED.includes(order.status)) {
      if (order.expires.getTime() <= now) {
        // A finalize that submitted the request but stopped before writing the order: the request decides.
        const request = await this.core.enrollments.find(requesterOf(order), order.id);
        if (request) return this.settle(order, request);
        return (await this.db.moveOrder(order.id, [order.status], 'invalid', { error: { type: problemUrn('malformed'), detail: 'the order expired' } })) ?? order;
      }
      const authzs = await this.db.authzsOfOrder(order.id);
      const failed = authzs.find((a) => DEAD.includes(a.status) || (a.status === 'pending' && a.expires.getTime() <= now));
      if (failed) return (await this.db.moveOrder(order.id, UNSUBMITTED, 'invalid', { error: await this.authzProblem(failed) })) ?? order;
      if (authzs.length === 0 || !authzs.every((a) => a.status === 'valid')) return order;
      // Ready, or finalized by a request whose finalize has not written the order (yet).
      const request = await this.core.enrollments.find(requesterOf(order), order.id);
      return request ? this.settle(order, request) : { ...order, status: 'ready' };
    }
    if (order.status === 'processing' && order.requestId) {
      const request = await this.core.queries.requestById(order.requestId);
      return request ? this.settle(order, request) : order;
    }
    return order;
  }

  /**
   * After finalize submitted `request` for the order and waited: the order's one write, with the
   * outcome when there is one, else as `processing`, to be settled by a later read.
   */
  async finalized(order: Order, request: EnrollmentRequest): Promise<Order> {
    const settled = await this.settle(order, request);
    if (settled.status !== 'processing' || order.status === 'processing') return settled;
    return (await this.db.moveOrder(order.id, UNSUBMITTED, 'processing', { requestId: request.id })) ?? (await this.reread(order));
  }

  /** The order as its request's state says: `valid` or `invalid` written once the request is decided. */
  private async settle(order: Order, request: EnrollmentRequest): Promise<Order> {
    const from: OrderStatus[] = [...UNSUBMITTED, 'processing'];
    if (request.status === 'issued' && request.certificateId) {
      return (await this.db.moveOrder(order.id, from, 'valid', { requestId: request.id, certificateId: request.certificateId })) ?? (await this.reread(order));
    }
    if (request.status === 'rejected' || request.status === 'failed') {
      const error: StoredProblem = request.rejection
        ? problemOfRejection(request.rejection).toJSON()
        : { type: problemUrn('serverInternal'), detail: request.statusReason ?? 'issuance failed' };
      return (await this.db.moveOrder(order.id, from, 'invalid', { requestId: request.id, error })) ?? (await this.reread(order));
    }
    return { ...order, status: 'processing', requestId: request.id };
  }

  /** Another request moved the order first: what it wrote. */
  private async reread(order: Order): Promise<Order> {
    return (await this.db.order(order.id)) ?? order;
  }

  private async authzProblem(authz: Authz): Promise<StoredProblem> {
    const failed = (await this.db.challengesOf([authz.id])).find((c) => c.error);
    const detail = `authorization for ${authz.identifier.value} is ${authz.status === 'pending' ? 'expired' : authz.status}`;
    return failed?.error ? { ...failed.error, detail: `${detail}: ${failed.error.detail}` } : { type: problemUrn('unauthorized'), detail };
  }
}

/** Who finalize submits an order's request as (the worker checks the order's names for it). */
export function requesterOf(order: Pick<Order, 'accountId'>): string {
  return `acme:${order.accountId}`;
}
