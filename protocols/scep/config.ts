// SCEP's own settings in the deployment's config (CERTGATE_SCEP_*).
import { z } from 'zod';
import { protocolSettings } from '../../src/core/protocolConfig.js';

export const scepConfig = protocolSettings({
  shape: {
    /** Lifetime of each SCEP RA certificate (one per CA); a successor is issued when a third is left. */
    scepRaDays: z.coerce.number().int().min(1).max(3650).default(365),
    /** SCEP issuances per product per minute, whatever the challenge (0: no limit). */
    scepIssuePerProductPerMinute: z.coerce.number().int().min(0).default(600),
    /** The CA (name or id) that issues the RA certificate of CAs certgate does not sign with (upstream CAs); '' for none. */
    scepRaCa: z.string().trim().max(200).default(''),
  },
  env: {
    scepRaDays: 'CERTGATE_SCEP_RA_DAYS',
    scepIssuePerProductPerMinute: 'CERTGATE_SCEP_ISSUE_PER_PRODUCT_PER_MINUTE',
    scepRaCa: 'CERTGATE_SCEP_RA_CA',
  },
});
