// Creating a product: the one write of the product catalogue, recorded in the audit trail.
import { randomUUID } from 'node:crypto';
import { AUDIT } from '../audit/actions.js';
import type { Store } from '../store/types.js';
import { badRequest } from './errors.js';
import { SYSTEM_PRODUCT_NAME_PREFIX } from './systemProducts.js';
import type { AuditContext, ProductRecord, ProductTemplate } from './types.js';

export async function createProduct(store: Store, input: { name: string; caId: string; template: ProductTemplate }, by: AuditContext): Promise<ProductRecord> {
  if (input.name.startsWith(SYSTEM_PRODUCT_NAME_PREFIX)) throw badRequest(`name: names starting with "${SYSTEM_PRODUCT_NAME_PREFIX}" are reserved for the CAs' system products`);
  if (await store.products.getByName(input.name)) throw badRequest(`name: a product named "${input.name}" already exists`);
  const id = randomUUID();
  return store.products.insert(
    { id, name: input.name, caId: input.caId, template: input.template },
    { ...by, action: AUDIT.productCreate, target: id, outcome: 'success', detail: { name: input.name, ca: input.caId, template: input.template } },
  );
}
