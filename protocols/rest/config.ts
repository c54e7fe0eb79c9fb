// REST's own settings in the deployment's config (with the per-credential limits, which MCP reads too).
import { z } from 'zod';
import { restLimitSettings } from '../../src/auth/restLimitSettings.js';
import { protocolSettings } from '../../src/core/protocolConfig.js';

export const restConfig = protocolSettings({
  shape: {
    /** The deployment's name where the REST whoami reports a Certman workspace. */
    workspaceName: z.string().min(1).max(100).default('certgate'),
    ...restLimitSettings.shape,
  },
  env: {
    workspaceName: 'CERTGATE_WORKSPACE_NAME',
    ...restLimitSettings.env,
  },
});
