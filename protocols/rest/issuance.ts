// One way for every REST call that asks for a certificate (issue, renew, rekey, replace): the
// core's issuance path (src/core/issuance.ts, shared with MCP), then the answer in Certman's shape
// once the worker has settled the request (or 202 until then), with the key in managed mode.
import type { Request, Response } from 'express';
import { issueCertificate, type IssueOrder as CoreIssueOrder } from '../../src/core/issuance.js';
import type { CoreServices } from '../../src/core/protocol.js';
import type { CertificateRecord } from '../../src/core/types.js';
import { callerOf } from './auth.js';
import { certmanKeyAlgorithm } from './keyAlgorithm.js';
import { pendingDcvBlock } from './requestDcv.js';
import { certificateDetailJson, rejectionJson, requestJson } from './serialize.js';

export { IDEMPOTENCY_TTL_MS, type ManagedKey } from '../../src/core/issuance.js';

export interface IssueOrder extends CoreIssueOrder {
  /**
   * Runs once the certificate is issued, before the answer goes out (rekey and replace: revoking
   * the original); what it returns is added to the 201 answer.
   */
  onIssued?: (certificate: CertificateRecord) => Promise<Record<string, unknown>>;
}

export async function issueAndAnswer(core: CoreServices, req: Request, res: Response, order: IssueOrder, message?: string): Promise<void> {
  // rateLimit.ts has counted it against the credential's issuance limit.
  const { outcome, privateKeyPem } = await issueCertificate(core, callerOf(req), order, { protocol: 'rest' }, certmanKeyAlgorithm);
  const withKey = privateKeyPem !== undefined ? { privateKey: privateKeyPem } : {};
  switch (outcome.state) {
    case 'issued': {
      const chain = await core.cas.chainFor(outcome.certificate);
      const notice = outcome.request.statusReason ? { notice: outcome.request.statusReason } : {};
      const extra = order.onIssued ? await order.onIssued(outcome.certificate) : {};
      res
        .status(201)
        .location(`/v1/certificates/${outcome.certificate.id}`)
        .json({
          ...(message ? { message } : {}),
          certificate: { ...certificateDetailJson(outcome.certificate), chain_pem: chain.join('') },
          ...withKey,
          ...notice,
          ...extra,
        });
      return;
    }
    case 'rejected':
      res.status(422).json({ error: `${outcome.rejection.detail} [rule: ${outcome.rejection.rule}]`, ...rejectionJson(outcome.rejection), request_id: outcome.request.id });
      return;
    case 'failed':
      res.status(500).json({ error: 'issuance failed; the request is recorded as failed', request_id: outcome.request.id });
      return;
    case 'pending':
      res
        .status(202)
        .location(`/v1/requests/${outcome.request.id}`)
        .set('Retry-After', String(outcome.retryAfterS))
        .json({ request_id: outcome.request.id, ...requestJson(outcome.request), ...(await pendingDcvBlock(core, outcome.request)), ...withKey });
  }
}
