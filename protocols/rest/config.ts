// REST's own settings in the deployment's config.
import { z } from 'zod';
import { protocolSettings } from '../../src/core/protocolConfig.js';

export const restConfig = protocolSettings({
  shape: {
    /** The deployment's name where the REST whoami reports a Certman workspace. */
    workspaceName: z.string().min(1).max(100).default('certgate'),
    /** REST requests per credential per minute (0: no limit). */
    rateLimitPerMinute: z.coerce.number().int().min(0).default(6_000),
    /** REST issuances and renewals per credential per minute (0: no limit); counted apart from, and also in, the above. */
    issueRateLimitPerMinute: z.coerce.number().int().min(0).default(1_200),
  },
  env: {
    workspaceName: 'CERTGATE_WORKSPACE_NAME',
    rateLimitPerMinute: 'CERTGATE_RATE_LIMIT_PER_MINUTE',
    issueRateLimitPerMinute: 'CERTGATE_ISSUE_RATE_LIMIT_PER_MINUTE',
  },
});
