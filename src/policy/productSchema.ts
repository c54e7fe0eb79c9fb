import { z } from 'zod';
import { KEY_ALGORITHMS, type ProductTemplate } from '../core/types.js';

/** CA/Browser Forum ballot SC-22 limit; applies to every product that issues serverAuth. */
export const TLS_SERVER_MAX_VALIDITY_DAYS = 397;

const eku = z.enum(['serverAuth', 'clientAuth', 'codeSigning', 'emailProtection', 'timeStamping', 'ocspSigning']);
const dnsSuffix = z
  .string()
  .transform((s) => s.toLowerCase().replace(/^\.+/, ''))
  .pipe(z.string().regex(/^[a-z0-9-]+(\.[a-z0-9-]+)*$/, 'must be a DNS suffix like example.com'));

export const productTemplateSchema = z
  .object({
    keyAlgorithms: z.array(z.enum(KEY_ALGORITHMS as [string, ...string[]])).min(1).default(['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096']),
    defaultValidityDays: z.number().int().min(1).default(90),
    maxValidityDays: z.number().int().min(1).default(397),
    allowedDnsSuffixes: z.array(dnsSuffix).default([]),
    allowWildcards: z.boolean().default(false),
    allowIpSans: z.boolean().default(false),
    allowEmailSans: z.boolean().default(false),
    allowUriSans: z.boolean().default(false),
    extendedKeyUsages: z.array(eku).min(1).default(['serverAuth', 'clientAuth']),
    requiresApproval: z.boolean().default(false),
  })
  .superRefine((t, ctx) => {
    if (t.defaultValidityDays > t.maxValidityDays) {
      ctx.addIssue({ code: 'custom', path: ['defaultValidityDays'], message: 'must not exceed maxValidityDays' });
    }
    if (t.extendedKeyUsages.includes('serverAuth') && t.maxValidityDays > TLS_SERVER_MAX_VALIDITY_DAYS) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxValidityDays'],
        message: `TLS server products may issue for at most ${TLS_SERVER_MAX_VALIDITY_DAYS} days`,
      });
    }
  });

export function parseProductTemplate(input: unknown): ProductTemplate {
  return productTemplateSchema.parse(input) as ProductTemplate;
}
