// An admin's changes to the catalogue from a front-end (REST, and the console through it): products
// made and edited, local CAs made. Each goes through the one write the CLI uses, audited, and the
// catalogue every request reads sees it at once (here, and elsewhere through its broadcast).
import { productTemplateSchema } from '../policy/productSchema.js';
import type { Store } from '../store/types.js';
import { badRequest, conflict } from './errors.js';
import { createProduct, updateProduct, type ProductLimits } from './products.js';
import type { ProtocolModule } from './protocol.js';
import type { AuditContext, CaRecord, KeyAlgorithm, ProductRecord, ProductTemplate } from './types.js';

/** A CA whose key certgate makes and seals under the master key: a root, or an issuing CA under `parentId`. */
export interface NewLocalCa {
  name: string;
  /** e.g. "CN=Example Issuing CA, O=Example"; default CN=<name>. */
  subject?: string;
  keyAlgorithm: KeyAlgorithm;
  validityDays: number;
  parentId?: string;
}

export interface CatalogueAdminDeps {
  store: Pick<Store, 'products' | 'cas'>;
  protocols: readonly Pick<ProtocolModule, 'name' | 'productSettings'>[];
  limits: ProductLimits;
  /** Drops the cached lists (CatalogueCache.changed). */
  changed(): Promise<void>;
  /** The CA backend's own creation (src/ca), composed by the runtime: the core holds no CA key. */
  createLocalCa(input: NewLocalCa, by: AuditContext): Promise<CaRecord>;
}

const TEMPLATE_FIELDS = Object.keys(productTemplateSchema.shape);

/**
 * A template as given (certgate's own spelling, defaults filled in), or a 400 naming each wrong
 * field under `template.`. A field it does not know is refused rather than dropped: a misspelt
 * setting typed by hand would otherwise vanish while the default applies.
 */
function templateOf(input: unknown): ProductTemplate {
  const unknown = input && typeof input === 'object' ? Object.keys(input).filter((k) => !TEMPLATE_FIELDS.includes(k)) : [];
  if (unknown.length) throw badRequest(`${unknown.map((k) => `template.${k}`).join(', ')}: not a template field (known: ${TEMPLATE_FIELDS.join(', ')})`);
  const parsed = productTemplateSchema.safeParse(input);
  if (parsed.success) return parsed.data as ProductTemplate;
  throw badRequest(parsed.error.issues.map((i) => `${['template', ...i.path.map(String)].join('.')}: ${i.message}`).join('; '));
}

export class CatalogueAdmin {
  constructor(private readonly deps: CatalogueAdminDeps) {}

  async createProduct(input: { name: string; caId: string; template: unknown }, by: AuditContext): Promise<ProductRecord> {
    const { store, protocols, limits } = this.deps;
    const product = await createProduct(store, { name: input.name, caId: input.caId, template: templateOf(input.template) }, by, protocols, limits);
    await this.deps.changed();
    return product;
  }

  /** Requests decided after the edit follow the new template; certificates keep what they were issued with. */
  async updateProduct(id: string, change: { name: string; template: unknown }, by: AuditContext): Promise<ProductRecord> {
    const { store, protocols, limits } = this.deps;
    const product = await updateProduct(store, id, { name: change.name, template: templateOf(change.template) }, by, protocols, limits);
    await this.deps.changed();
    return product;
  }

  async createLocalCa(input: NewLocalCa, by: AuditContext): Promise<CaRecord> {
    const { store } = this.deps;
    if (await store.cas.getByName(input.name)) throw conflict(`name: a CA named "${input.name}" already exists`);
    if (input.parentId !== undefined && !(await store.cas.get(input.parentId))) throw badRequest(`parentId: no CA ${input.parentId}`);
    const ca = await this.deps.createLocalCa(input, by);
    await this.deps.changed();
    return ca;
  }
}
