// A protocol's settings of a product (`template.protocols.<name>`), read with that protocol's
// schema. Checked when the product is made (core/products.ts); read again here, once per product
// record, because a record stored before a schema tightened may no longer pass.
import type { z, ZodType } from 'zod';
import type { ProductRecord } from './types.js';

/** The product's stored settings for a protocol do not pass its schema: the operator's to fix. */
export class ProductSettingsError extends Error {
  override readonly name = 'ProductSettingsError';
}

/**
 * The reader of one protocol's product settings: `protocol` is its key in the template, `label`
 * its name in messages ('EST'). Throws ProductSettingsError naming each wrong key.
 */
export function productSettingsReader<S extends ZodType>(protocol: string, label: string, schema: S): (product: ProductRecord) => z.output<S> {
  // Product records are cached by the core and replaced when they change, so the record itself keys this.
  const parsed = new WeakMap<ProductRecord, z.output<S>>();
  return (product) => {
    if (parsed.has(product)) return parsed.get(product) as z.output<S>;
    const result = schema.safeParse(product.template.protocols?.[protocol] ?? {});
    if (!result.success) {
      const detail = result.error.issues.map((i) => `${[protocol, ...i.path].join('.')}: ${i.message}`).join('; ');
      throw new ProductSettingsError(`product ${product.name} has invalid ${label} settings (${detail})`);
    }
    parsed.set(product, result.data);
    return result.data;
  };
}
