// SCEP's own settings in the deployment's config (CERTGATE_SCEP_*).
import { z } from 'zod';
import { protocolSettings } from '../../src/core/protocolConfig.js';
import type { TokenKeySource } from '../../src/core/tokenKeys.js';

export const scepConfig = protocolSettings({
  shape: {
    /** Lifetime of each SCEP RA certificate (one per CA); a successor is issued when a third is left. */
    scepRaDays: z.coerce.number().int().min(1).max(3650).default(365),
    /** SCEP issuances per product per minute, whatever the challenge (0: no limit). */
    scepIssuePerProductPerMinute: z.coerce.number().int().min(0).default(600),
    /** The CA (name or id) that issues the RA certificate of CAs certgate does not sign with (upstream CAs); '' for none. */
    scepRaCa: z.string().trim().max(200).default(''),
    /** The PKCS#11 module that new RA keys are generated in; '' keeps them in software, sealed under the master key. */
    scepRaPkcs11Module: z.string().trim().default(''),
    /** The token's label. */
    scepRaPkcs11Token: z.string().trim().default(''),
    /** The environment variable, or else the file, that holds the token's PIN (never the PIN itself). */
    scepRaPkcs11PinEnv: z.string().trim().default(''),
    scepRaPkcs11PinFile: z.string().trim().default(''),
  },
  env: {
    scepRaDays: 'CERTGATE_SCEP_RA_DAYS',
    scepIssuePerProductPerMinute: 'CERTGATE_SCEP_ISSUE_PER_PRODUCT_PER_MINUTE',
    scepRaCa: 'CERTGATE_SCEP_RA_CA',
    scepRaPkcs11Module: 'CERTGATE_SCEP_RA_PKCS11_MODULE',
    scepRaPkcs11Token: 'CERTGATE_SCEP_RA_PKCS11_TOKEN',
    scepRaPkcs11PinEnv: 'CERTGATE_SCEP_RA_PKCS11_PIN_ENV',
    scepRaPkcs11PinFile: 'CERTGATE_SCEP_RA_PKCS11_PIN_FILE',
  },
});

/** Where new RA keys go: a token (its module, label and PIN source), or null for software keys. */
export function raTokenOf(settings: ReturnType<typeof scepConfig.of>): TokenKeySource | null {
  const { scepRaPkcs11Module: module, scepRaPkcs11Token: token, scepRaPkcs11PinEnv: env, scepRaPkcs11PinFile: file } = settings;
  if (!module) {
    if (token || env || file) throw new Error('CERTGATE_SCEP_RA_PKCS11_TOKEN and _PIN_* need CERTGATE_SCEP_RA_PKCS11_MODULE');
    return null;
  }
  if (!token) throw new Error('CERTGATE_SCEP_RA_PKCS11_MODULE needs CERTGATE_SCEP_RA_PKCS11_TOKEN (the token label)');
  if (!env === !file) throw new Error('CERTGATE_SCEP_RA_PKCS11_MODULE needs exactly one of CERTGATE_SCEP_RA_PKCS11_PIN_ENV and CERTGATE_SCEP_RA_PKCS11_PIN_FILE');
  return { module, token, pin: env ? { env } : { file } };
}
