// CMP's own settings in the deployment's config (CERTGATE_CMP_*).
import { z } from 'zod';
import { protocolSettings } from '../../src/core/protocolConfig.js';

export const cmpConfig = protocolSettings({
  shape: {
    /** Lifetime of each CMP signer certificate (one per CA); a successor is issued when a third is left. */
    cmpSignerDays: z.coerce.number().int().min(1).max(3650).default(365),
    /** How far a request's messageTime may be from the gateway's clock (RFC 9483 §3.1), in seconds. */
    cmpMessageTimeWindowSeconds: z.coerce.number().int().min(1).max(86_400).default(300),
    /** How long a transaction may wait for its certConf or next pollReq, in seconds. */
    cmpTransactionSeconds: z.coerce.number().int().min(60).max(30 * 86_400).default(86_400),
    /** The checkAfter of a pollRep, in seconds (a product's cmp.checkAfterSeconds overrides it). */
    cmpCheckAfterSeconds: z.coerce.number().int().min(1).max(86_400).default(60),
    /** CMP issuances per product per minute, whatever the credential (0: no limit). */
    cmpIssuePerProductPerMinute: z.coerce.number().int().min(0).default(600),
  },
  env: {
    cmpSignerDays: 'CERTGATE_CMP_SIGNER_DAYS',
    cmpMessageTimeWindowSeconds: 'CERTGATE_CMP_MESSAGE_TIME_WINDOW_SECONDS',
    cmpTransactionSeconds: 'CERTGATE_CMP_TRANSACTION_SECONDS',
    cmpCheckAfterSeconds: 'CERTGATE_CMP_CHECK_AFTER_SECONDS',
    cmpIssuePerProductPerMinute: 'CERTGATE_CMP_ISSUE_PER_PRODUCT_PER_MINUTE',
  },
});
