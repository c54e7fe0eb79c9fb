// EST's own settings of a product: `template.protocols.est`, set with
// `certgate product create … --protocol-setting est.<key>=<value>`.
import { z } from 'zod';
import type { ProductRecord } from '../../src/core/types.js';

export const estSettingsSchema = z
  .object({
    /** How simpleenroll and serverkeygen callers authenticate (simplereenroll always needs the certificate it renews). */
    auth: z.enum(['basic', 'certificate', 'either']).default('either'),
    /**
     * Line length of base64 bodies; 0 writes one line. RFC 7030's examples wrap at 64; strongSwan's
     * `pki` (5.9) cannot read wrapped base64 and needs 0.
     */
    base64LineLength: z.union([z.literal(64), z.literal(76), z.literal(0)]).default(64),
    /** Retry-After (seconds) of a 202 while a request waits; default: what the core suggests (60 s for an approval). */
    retryAfterSeconds: z.number().int().min(1).max(86_400).optional(),
    /**
     * CAs (ids or names) whose certificates, issued by certgate under any product, authenticate a
     * simpleenroll or serverkeygen. Default: only certificates issued under this product.
     */
    trustedCas: z.array(z.string().min(1)).optional(),
  })
  .strict();

export type EstSettings = z.infer<typeof estSettingsSchema>;

export class EstSettingsError extends Error {
  override readonly name = 'EstSettingsError';
}

// Product records are cached by the core and replaced when they change, so the record itself keys this.
const parsed = new WeakMap<ProductRecord, EstSettings>();

/** The product's EST settings; throws EstSettingsError when the operator stored invalid ones. */
export function estSettingsOf(product: ProductRecord): EstSettings {
  let settings = parsed.get(product);
  if (!settings) {
    const result = estSettingsSchema.safeParse(product.template.protocols?.est ?? {});
    if (!result.success) {
      const detail = result.error.issues.map((i) => `${['est', ...i.path].join('.')}: ${i.message}`).join('; ');
      throw new EstSettingsError(`product ${product.name} has invalid EST settings (${detail})`);
    }
    settings = result.data;
    parsed.set(product, settings);
  }
  return settings;
}
