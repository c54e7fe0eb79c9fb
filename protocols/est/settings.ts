// EST's own settings of a product: `template.protocols.est`, set with
// `certgate product create … --protocol-setting est.<key>=<value>`.
import { z } from 'zod';
import { trustedCaSchema } from '../../src/auth/certificateLogin.js';
import { productSettingsReader } from '../../src/core/productSettings.js';

export const estSettingsSchema = z
  .object({
    /** How simpleenroll and serverkeygen callers authenticate (simplereenroll always needs the certificate it renews). */
    // basic by default: a certificate alone is a login only where the operator named its issuer (trustedCas).
    auth: z.enum(['basic', 'certificate', 'either']).default('basic'),
    /**
     * Line length of base64 bodies; 0 writes one line. One line by default: RFC 7030's verified
     * erratum 5904 says EST's base64 carries no line breaks, and strongSwan's `pki` (5.9) cannot
     * read wrapped base64. 64 (RFC 7030's examples) and 76 (MIME) stay for clients that want lines.
     */
    base64LineLength: z.union([z.literal(64), z.literal(76), z.literal(0)]).default(0),
    /** Retry-After (seconds) of a 202 while a request waits; default: what the core suggests (60 s for an approval or a domain validation). */
    retryAfterSeconds: z.number().int().min(1).max(86_400).optional(),
    /**
     * The CAs whose certificates, presented as TLS client certificates, authenticate simpleenroll
     * and serverkeygen (where `auth` is `certificate` or `either`). None by default: a certificate
     * certgate issued is never a login for new names merely because certgate issued it. Under such
     * a certificate the request's names must equal the certificate's unless the entry says
     * `namesMayDiffer` (a wildcard not in the certificate is refused even then).
     */
    trustedCas: z.array(trustedCaSchema).max(50).optional(),
  })
  .strict();

export type EstSettings = z.infer<typeof estSettingsSchema>;

/** The product's EST settings; throws ProductSettingsError when the operator stored invalid ones. */
export const estSettingsOf = productSettingsReader('est', 'EST', estSettingsSchema);
