// The one rule every protocol route uses to find its product from a label: ACME's directory,
// EST's and SCEP's paths (see EnrollmentService.productForLabel).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PRODUCT, EnrollmentService } from '../src/core/enrollmentService.js';
import type { ProductRecord } from '../src/core/types.js';
import type { JobQueue } from '../src/queue/types.js';
import type { Store } from '../src/store/types.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';

const template = parseProductTemplate({});
const product = (name: string): ProductRecord => ({ id: `id-${name}`, name, caId: 'ca', template, createdAt: new Date(0) });

/** An enrollment service over a product list only (productForLabel reads nothing else). */
function serviceOver(products: ProductRecord[]): EnrollmentService {
  const store = { products: { list: async () => [...products] } } as unknown as Store;
  return new EnrollmentService(store, {} as JobQueue, { verify: async () => true, close: async () => undefined });
}

describe('productForLabel', () => {
  it('takes the product a label names, and never another for an unknown label', async () => {
    const service = serviceOver([product('a'), product(DEFAULT_PRODUCT), product('b')]);
    expect((await service.productForLabel('b'))?.name).toBe('b');
    expect(await service.productForLabel('c')).toBeUndefined();
    expect(await service.productForLabel('')).toBeUndefined();
  });

  it('without a label, takes the product named default wherever it stands, else the first', async () => {
    expect((await serviceOver([product('a'), product(DEFAULT_PRODUCT)]).productForLabel(undefined))?.name).toBe(DEFAULT_PRODUCT);
    expect((await serviceOver([product('a'), product('b')]).productForLabel(undefined))?.name).toBe('a');
    expect(await serviceOver([]).productForLabel(undefined)).toBeUndefined();
  });

  it('finds a product created after the list was cached', async () => {
    const products = [product('a')];
    const service = serviceOver(products);
    expect(await service.productForLabel('late')).toBeUndefined();
    products.push(product('late'));
    expect((await service.productForLabel('late'))?.name).toBe('late');
  });

  it('answers as the rule says for any list and label (property)', async () => {
    const name = fc.constantFrom('a', 'b', 'c', DEFAULT_PRODUCT);
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(name, { maxLength: 4 }), fc.option(name, { nil: undefined }), async (names, label) => {
        const found = await serviceOver(names.map(product)).productForLabel(label);
        const expected = label !== undefined ? names.find((n) => n === label) : (names.find((n) => n === DEFAULT_PRODUCT) ?? names[0]);
        expect(found?.name).toBe(expected);
      }),
    );
  });
});
