// What every message handler is given: the decoded request, who sent it, under which product,
// and the services it may use. Handlers return the answer's body (and what goes with it).
import { AUDIT } from '../../src/audit/actions.js';
import type { ClientCertificates } from '../../src/auth/certificateLogin.js';
import type { CoreServices } from '../../src/core/protocol.js';
import type { AuditContext, ProductRecord } from '../../src/core/types.js';
import type { PkiMessage } from './messages.js';
import type { Answer } from './respond.js';
import { actorOf, type Sender } from './sender.js';
import type { CmpSettings } from './settings.js';
import type { Transactions } from './transactions.js';

export interface CmpLimits {
  /** How long a transaction may take from its first message to its last. */
  transactionLifetimeMs: number;
  /** pollRep's checkAfter when the product does not say. */
  checkAfterSeconds: number;
  /** CMP issuances a minute under one product (0: no limit). */
  productPerMinute: number;
}

export interface CmpDeps {
  core: CoreServices;
  transactions: Transactions;
  certificates: ClientCertificates;
  limits: CmpLimits;
}

export interface Exchange {
  message: PkiMessage;
  /** The transactionID, hex. */
  transactionId: string;
  sender: Sender;
  product: ProductRecord;
  settings: CmpSettings;
  sourceIp: string | null;
  /** The senderNonce the answer will carry: what the transaction expects back as recipNonce. */
  answerNonce: Buffer;
  now: number;
}

export type Handler = (deps: CmpDeps, x: Exchange) => Promise<Answer>;

export const auditContextOf = (x: Pick<Exchange, 'sender' | 'sourceIp'>): AuditContext => ({ actor: actorOf(x.sender), protocol: 'cmp', sourceIp: x.sourceIp });

/** How a transaction ended, in the trail (the certificate's own changes are audited by the core). */
export async function recordEnd(deps: CmpDeps, x: Pick<Exchange, 'sender' | 'sourceIp' | 'transactionId' | 'product'>, end: string, detail: Record<string, unknown> = {}): Promise<void> {
  await deps.core.credentials.recordCmpEvent(auditContextOf(x), AUDIT.cmpTransaction, x.transactionId, { end, product: x.product.id, sender: x.sender.principal, ...detail });
}
