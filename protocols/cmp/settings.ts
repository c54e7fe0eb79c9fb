// CMP's own settings of a product: `template.protocols.cmp`, set with
// `certgate product create … --protocol-setting cmp.<key>=<value>`.
import { z } from 'zod';
import { trustedCaSchema } from '../../src/auth/certificateLogin.js';
import { productSettingsReader } from '../../src/core/productSettings.js';

export const cmpSettingsSchema = z
  .object({
    /**
     * How ir, cr and p10cr are protected: a cmp credential's MAC, a certificate's signature, or
     * either. kur and a holder's rr always need the signature of the certificate they are about.
     */
    auth: z.enum(['mac', 'signature', 'either']).default('either'),
    /** Whether a client that asks for implicitConfirm gets it (else it must send certConf). */
    implicitConfirm: z.boolean().default(true),
    /** The checkAfter of this product's pollReps, in seconds; default: CERTGATE_CMP_CHECK_AFTER_SECONDS. */
    checkAfterSeconds: z.number().int().min(1).max(86_400).optional(),
    /**
     * The CAs whose certificates, signing an ir or cr, authenticate it (where `auth` allows a
     * signature). None by default: a certificate certgate issued is never a login for new names
     * merely because certgate issued it. Under such a certificate the request's names must equal
     * the certificate's unless the entry says `namesMayDiffer` (a wildcard not in the certificate
     * is refused even then).
     */
    trustedCas: z.array(trustedCaSchema).max(50).optional(),
  })
  .strict();

export type CmpSettings = z.infer<typeof cmpSettingsSchema>;

/** The product's CMP settings; throws ProductSettingsError when the operator stored invalid ones. */
export const cmpSettingsOf = productSettingsReader('cmp', 'CMP', cmpSettingsSchema);
