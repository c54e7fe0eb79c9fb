// The OCSP responder's own settings in the deployment's config (CERTGATE_OCSP_*). CRLs are the core's.
import { z } from 'zod';
import { protocolSettings } from '../../src/core/protocolConfig.js';

export const statusConfig = protocolSettings({
  shape: {
    /** nextUpdate - thisUpdate of each OCSP answer. */
    ocspValidityHours: z.coerce.number().min(0.1).max(24 * 7).default(4),
    /** How long a cached OCSP answer is served before it is signed again (bounds staleness across processes). */
    ocspCacheSeconds: z.coerce.number().int().min(0).max(86_400).default(60),
    /** Lifetime of each delegated OCSP signing certificate; a successor is issued when a third is left. */
    ocspSignerDays: z.coerce.number().int().min(1).max(365).default(7),
  },
  env: {
    ocspValidityHours: 'CERTGATE_OCSP_VALIDITY_HOURS',
    ocspCacheSeconds: 'CERTGATE_OCSP_CACHE_SECONDS',
    ocspSignerDays: 'CERTGATE_OCSP_SIGNER_DAYS',
  },
});
