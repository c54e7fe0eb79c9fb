// Creating a product: the one write of the product catalogue, recorded in the audit trail.
import { randomUUID } from 'node:crypto';
import { AUDIT } from '../audit/actions.js';
import type { Store } from '../store/types.js';
import { BACKEND_NAMES, capabilitiesOf } from './caCapabilities.js';
import { readProductTemplate } from '../policy/productSchema.js';
import { DEFAULT_PRODUCT } from './enrollmentService.js';
import { badRequest, conflict, notFound } from './errors.js';
import type { ProtocolModule } from './protocol.js';
import { isSystemProductId, SYSTEM_PRODUCT_NAME_PREFIX } from './systemProducts.js';
import type { AuditContext, CaRecord, ProductRecord, ProductTemplate } from './types.js';

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
 * What a template asks for that a CA which does not sign locally (an upstream ACME CA) would leave
 * out without a word: such a CA certifies the names it is sent, with the extended key usages of its
 * own profile, and takes no subject attributes from us. Only that is refused; what the upstream
 * refuses itself (a name type ACME has no identifier for) fails visibly at issuance, and the
 * validity it sets is documented rather than refused (the template always has one).
 */
export function templateRefusals(template: ProductTemplate, ca: Pick<CaRecord, 'backend'>): string[] {
  if (capabilitiesOf(ca).signsLocally) return [];
  const refusals: string[] = [];
  const attributes = Object.keys(template.subject.attributes);
  if (attributes.length > 0) refusals.push(`subject.attributes (${attributes.join(', ')}): the upstream CA puts no subject attributes of ours in its certificates`);
  if (template.subject.organization === 'validated') refusals.push('subject.organization "validated": the upstream CA does not certify an organization');
  const foreign = template.extendedKeyUsages.filter((u) => u !== 'serverAuth' && u !== 'clientAuth');
  if (foreign.length > 0) refusals.push(`extendedKeyUsages (${foreign.join(', ')}): an ACME CA issues TLS certificates (serverAuth, perhaps clientAuth), whatever the product asks`);
  else if (!template.extendedKeyUsages.includes('serverAuth')) refusals.push('extendedKeyUsages without serverAuth: an ACME CA issues TLS server certificates, so its certificates would carry serverAuth all the same');
  return refusals;
}

/** Refuses (409, in words) a template the CA's backend cannot honour. */
export function checkTemplateForCa(template: ProductTemplate, ca: Pick<CaRecord, 'name' | 'backend'>): void {
  const refusals = templateRefusals(template, ca);
  if (refusals.length === 0) return;
  throw conflict(`CA "${ca.name}" is backed by ${BACKEND_NAMES[ca.backend]}, which cannot honour this product: ${refusals.join('; ')}`);
}

/**
 * `protocols`: the registered ones, to check the template's protocol settings against; `limits`:
 * the deployment's, to hold the template to. Not given, they are not checked.
 */
export async function createProduct(
  store: Pick<Store, 'products' | 'cas'>,
  input: { name: string; caId: string; template: ProductTemplate },
  by: AuditContext,
  protocols?: readonly Pick<ProtocolModule, 'name' | 'productSettings'>[],
  limits?: ProductLimits,
): Promise<ProductRecord> {
  await checkProduct(store, input, protocols, limits);
  const id = randomUUID();
  return store.products.insert(
    { id, name: input.name, caId: input.caId, template: input.template },
    { ...by, action: AUDIT.productCreate, target: id, outcome: 'success', detail: { name: input.name, ca: input.caId, template: input.template } },
  );
}

/** What a product must be, made or edited: settings, DCV, what its CA can honour, and a free name (409 when taken). */
async function checkProduct(
  store: Pick<Store, 'products' | 'cas'>,
  input: { id?: string; name: string; caId: string; template: ProductTemplate },
  protocols?: readonly Pick<ProtocolModule, 'name' | 'productSettings'>[],
  limits?: ProductLimits,
): Promise<void> {
  if (protocols) checkProtocolSettings(input.template.protocols, protocols);
  if (limits) checkDcvPolicy(input.template.dcv, limits);
  const ca = await store.cas.get(input.caId);
  if (!ca) throw badRequest(`caId: no CA ${input.caId}`);
  checkTemplateForCa(input.template, ca);
  if (input.name.startsWith(SYSTEM_PRODUCT_NAME_PREFIX)) throw badRequest(`name: names starting with "${SYSTEM_PRODUCT_NAME_PREFIX}" are reserved for the CAs' system products`);
  const named = await store.products.getByName(input.name);
  if (named && named.id !== input.id) throw conflict(`name: a product named "${input.name}" already exists`);
}

/**
 * Edits a product's name and template (its CA stays: certificates and requests refer to it), under
 * the same checks as createProduct, audited as product.update with what changed. Certificates keep
 * what they were issued with; requests decided afterwards follow the new template.
 */
export async function updateProduct(
  store: Pick<Store, 'products' | 'cas'>,
  id: string,
  change: { name: string; template: ProductTemplate },
  by: AuditContext,
  protocols?: readonly Pick<ProtocolModule, 'name' | 'productSettings'>[],
  limits?: ProductLimits,
): Promise<ProductRecord> {
  const existing = isSystemProductId(id) ? undefined : await store.products.get(id);
  if (!existing) throw notFound(`product ${id} not found`);
  if (change.name !== existing.name && (existing.name === DEFAULT_PRODUCT || change.name === DEFAULT_PRODUCT)) {
    // ACME, EST and SCEP clients that name no product get the one called "default".
    throw conflict(`name: the product named "${DEFAULT_PRODUCT}" is the one clients that name no product enrol under; renaming to or from it would move them to another product, perhaps on another CA`);
  }
  await checkProduct(store, { id, name: change.name, caId: existing.caId, template: change.template }, protocols, limits);
  // As this version reads it: a template stored before a field existed shows no change for its default.
  const before: Record<string, unknown> = { name: existing.name, ...(readProductTemplate(existing.template) ?? existing.template) };
  const after: Record<string, unknown> = { name: change.name, ...change.template };
  const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k])).sort();
  const detail = { name: change.name, changed: Object.fromEntries(changed.map((k) => [k, { from: before[k] ?? null, to: after[k] ?? null }])) };
  const updated = await store.products.update(id, change, { ...by, action: AUDIT.productUpdate, target: id, outcome: 'success', detail });
  if (!updated) throw notFound(`product ${id} not found`);
  return updated;
}
