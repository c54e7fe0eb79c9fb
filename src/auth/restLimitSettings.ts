// The per-credential limits' settings, apart from the counting (requestLimits.ts) so that a
// front-end that counts without them (SCEP, ACME) does not load them.
import { z } from 'zod';
import { protocolSettings } from '../core/protocolConfig.js';

/**
 * A REST credential's limits in the deployment's config: declared with REST's settings (it
 * registers them), read by every front-end that takes a REST credential (MCP), so one credential
 * has one limit whichever door it comes through.
 */
export const restLimitSettings = protocolSettings({
  shape: {
    /** REST requests per credential per minute (0: no limit). */
    rateLimitPerMinute: z.coerce.number().int().min(0).default(6_000),
    /** REST issuances and renewals per credential per minute (0: no limit); counted apart from, and also in, the above. */
    issueRateLimitPerMinute: z.coerce.number().int().min(0).default(1_200),
  },
  env: {
    rateLimitPerMinute: 'CERTGATE_RATE_LIMIT_PER_MINUTE',
    issueRateLimitPerMinute: 'CERTGATE_ISSUE_RATE_LIMIT_PER_MINUTE',
  },
});
