// Creating a product: the one write of the product catalogue, recorded in the audit trail.
import { randomUUID } from 'node:crypto';
import { AUDIT } from '../audit/actions.js';
import type { Store } from '../store/types.js';
import { badRequest } from './errors.js';
import type { ProtocolModule } from './protocol.js';
import { SYSTEM_PRODUCT_NAME_PREFIX } from './systemProducts.js';
import type { AuditContext, ProductRecord, ProductTemplate } from './types.js';

/**
 * Refuses (400, naming the path) settings for a protocol that is not registered, or that its
 * registered productSettings schema refuses. Only checked: each protocol reads its own settings
 * from the stored template as it always has.
 */
export function checkProtocolSettings(settings: ProductTemplate['protocols'], protocols: readonly Pick<ProtocolModule, 'name' | 'productSettings'>[]): void {
  for (const [name, value] of Object.entries(settings)) {
    const protocol = protocols.find((p) => p.name === name);
    if (!protocol) throw badRequest(`protocols.${name}: no protocol ${JSON.stringify(name)} is registered (known: ${protocols.map((p) => p.name).join(', ')})`);
    if (!protocol.productSettings) throw badRequest(`protocols.${name}: the ${name} protocol has no product settings`);
    const result = protocol.productSettings.safeParse(value);
    if (!result.success) throw badRequest(result.error.issues.map((i) => `${['protocols', name, ...i.path.map(String)].join('.')}: ${i.message}`).join('; '));
  }
}

/** The deployment's limits a product is held to at creation (config: CERTGATE_DCV_MAX_REUSE_DAYS). */
export interface ProductLimits {
  dcvMaxReuseDays: number;
}

/**
 * Refuses (400) a product requiring DCV whose reuse window is longer than the deployment allows:
 * an operator asking for 90 days where 10 are the rule learns it now, not from certificates that
 * quietly need validations more often. A product without DCV reuses nothing, so it is not held to it.
 */
export function checkDcvPolicy(dcv: ProductTemplate['dcv'], limits: ProductLimits): void {
  if (dcv.mode !== 'required' || dcv.reuseDays <= limits.dcvMaxReuseDays) return;
  throw badRequest(
    `dcv.reuseDays: ${dcv.reuseDays} days is longer than this deployment's maximum of ${limits.dcvMaxReuseDays} (CERTGATE_DCV_MAX_REUSE_DAYS); give at most ${limits.dcvMaxReuseDays}. A validation is never reused past the maximum anyway: requests are checked against the shorter of the two`,
  );
}

/**
 * `protocols`: the registered ones, to check the template's protocol settings against; `limits`:
 * the deployment's, to hold the template to. Not given, they are not checked.
 */
export async function createProduct(
  store: Store,
  input: { name: string; caId: string; template: ProductTemplate },
  by: AuditContext,
  protocols?: readonly Pick<ProtocolModule, 'name' | 'productSettings'>[],
  limits?: ProductLimits,
): Promise<ProductRecord> {
  if (protocols) checkProtocolSettings(input.template.protocols, protocols);
  if (limits) checkDcvPolicy(input.template.dcv, limits);
  if (input.name.startsWith(SYSTEM_PRODUCT_NAME_PREFIX)) throw badRequest(`name: names starting with "${SYSTEM_PRODUCT_NAME_PREFIX}" are reserved for the CAs' system products`);
  if (await store.products.getByName(input.name)) throw badRequest(`name: a product named "${input.name}" already exists`);
  const id = randomUUID();
  return store.products.insert(
    { id, name: input.name, caId: input.caId, template: input.template },
    { ...by, action: AUDIT.productCreate, target: id, outcome: 'success', detail: { name: input.name, ca: input.caId, template: input.template } },
  );
}
