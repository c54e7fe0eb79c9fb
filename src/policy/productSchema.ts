import { z } from 'zod';
import { DEFAULT_DNS_LABEL, KEY_ALGORITHMS, type ProductTemplate } from '../core/types.js';
import { MAX_COMMON_NAME } from './subject.js';

/** CA/Browser Forum ballot SC-22 limit; applies to every product that issues serverAuth. */
export const TLS_SERVER_MAX_VALIDITY_DAYS = 397;

// No ocspSigning: a leaf that can sign OCSP answers could vouch "good" for a revoked certificate
// of the same CA. The CA's own delegated responders are issued apart from products.
const eku = z.enum(['serverAuth', 'clientAuth', 'codeSigning', 'emailProtection', 'timeStamping'], {
  error: (i) => (i.input === 'ocspSigning' ? 'ocspSigning is never issued to a product: only the CA\'s own OCSP responders carry it' : undefined),
});
const attributeValue = z.string().min(1).max(MAX_COMMON_NAME);
const attributeRule = z.union([z.object({ fixed: attributeValue }).strict(), z.object({ allowed: z.array(attributeValue).min(1) }).strict()]);
const countryRule = z.union([
  z.object({ fixed: z.string().regex(/^[A-Z]{2}$/, 'C is a two-letter country code') }).strict(),
  z.object({ allowed: z.array(z.string().regex(/^[A-Z]{2}$/, 'C is a two-letter country code')).min(1) }).strict(),
]);
const subjectPolicy = z
  .object({
    attributes: z
      .object({ C: countryRule.optional(), ST: attributeRule.optional(), L: attributeRule.optional(), O: attributeRule.optional(), OU: attributeRule.optional() })
      .strict()
      .default({}),
    unlisted: z.enum(['drop', 'refuse']).default('drop'),
    /**
     * `validated`: O (and OU, C, ST, L as the record holds them) come from an approved, unexpired
     * organization record of the requester; the CSR's O names it. `csr`: the attribute rules alone.
     */
    organization: z.enum(['csr', 'validated']).default('csr'),
  })
  .strict();
const dnsLabel = z.string().regex(/^_?[a-z0-9-]{1,63}$/, `a DNS label like ${DEFAULT_DNS_LABEL}`);
/** Domain control validation for every protocol (ACME proves names with its own authorizations). */
const dcvPolicy = z
  .object({
    mode: z.enum(['none', 'required']).default('none'),
    /** How old a validation may be to cover a request; capped by the deployment's CERTGATE_DCV_MAX_REUSE_DAYS. */
    reuseDays: z.number().int().min(1).max(825).default(30),
    /** A validated domain covers the names under it (a wildcard only when it was validated over dns-01). */
    subdomains: z.boolean().default(false),
    /** The TXT label dns-01 looks under: `<dnsLabel>.<domain>`. */
    dnsLabel: dnsLabel.default(DEFAULT_DNS_LABEL),
  })
  .strict();
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
    subject: subjectPolicy.default({ attributes: {}, unlisted: 'drop', organization: 'csr' }),
    dcv: dcvPolicy.default({ mode: 'none', reuseDays: 30, subdomains: false, dnsLabel: DEFAULT_DNS_LABEL }),
    protocols: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/), z.record(z.string(), z.unknown())).default({}),
    customFields: z
      .array(z.object({ name: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'a custom field name is a letter then letters, digits or _'), type: z.enum(['string', 'number', 'boolean']), required: z.boolean().default(false) }).strict())
      .max(50)
      .default([])
      .refine((fields) => new Set(fields.map((f) => f.name)).size === fields.length, 'custom field names must be unique'),
    escrowKeys: z.boolean().default(false),
    selfApproval: z.boolean().default(false),
    expiryNoticeDays: z
      .array(z.number().int().min(1).max(3650))
      .min(1)
      .max(10)
      .refine((days) => new Set(days).size === days.length, 'expiry notice days must be unique')
      .optional()
      .describe('days before notAfter at which certificate.expiring is sent; default: the deployment\'s CERTGATE_EXPIRY_NOTICE_DAYS'),
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

/** The template, or null for a stored one this version refuses (the worker rejects its requests, naming why). */
export function readProductTemplate(input: unknown): ProductTemplate | null {
  const parsed = productTemplateSchema.safeParse(input);
  return parsed.success ? (parsed.data as ProductTemplate) : null;
}
