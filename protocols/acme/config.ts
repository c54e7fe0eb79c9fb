// ACME's own settings in the deployment's config. The validator's (ports, resolver, address
// ranges) are the core's: src/dcv serves whichever protocol validates names.
import { z } from 'zod';
import { protocolSettings } from '../../src/core/protocolConfig.js';

export const acmeConfig = protocolSettings({
  shape: {
    /** The CAA issuer domains that mean this CA (RFC 8659); default: the public URL's host. */
    caaIdentities: z.array(z.string().min(1)).default([]),
  },
  env: { caaIdentities: 'CERTGATE_CAA_IDENTITIES' },
  lists: ['caaIdentities'],
});
