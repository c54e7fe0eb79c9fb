// A credential's life: created with its kind's secret and checks, rotated, revoked, listed, and
// (for a sealed kind) its secret shown to the operator again.
import { AUDIT } from '../audit/actions.js';
import { badRequest, notFound } from '../core/errors.js';
import type { AuditContext, CredentialRecord, CredentialScope, Permission } from '../core/types.js';
import type { CredentialStatus, Store } from '../store/types.js';
import type { CredentialCache } from './credentialCache.js';
import type { CreationLookup, CredentialKinds } from './credentialKinds.js';
import { CidrError, parseCidr } from './ipAllowlist.js';
import { newCredentialId, storedSecret } from './secrets.js';
import { SecretBox } from './envelope.js';

export interface NewCredentialInput {
  /** One of the registered kinds' types. */
  type: string;
  name?: string;
  /** Product ids or names, or '*' for all. */
  products: '*' | string[];
  ownerUser?: string | null;
  ownerGroup?: string | null;
  expiresAt?: Date | null;
  allowIps?: string[];
  /** For a kind that has permissions (`rest`). */
  permissions?: Permission[];
  admin?: boolean;
  /** Default `product`. */
  scope?: CredentialScope;
}

export interface CreatedCredential {
  credential: CredentialRecord;
  /** Shown once: the API key, EST password, EAB HMAC key or SCEP challenge. */
  secret: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
const MAX_GRACE_SECONDS = 30 * 86_400;
const NO_GRANTS = { permissions: [] as Permission[], admin: false };

export class CredentialLifecycle {
  constructor(
    private readonly store: Store,
    private readonly kinds: CredentialKinds,
    private readonly cache: CredentialCache,
    private readonly box: SecretBox,
    private readonly now: () => number,
  ) {}

  async create(input: NewCredentialInput, actor: AuditContext): Promise<CreatedCredential> {
    const kind = this.kinds.of(input.type);
    const id = newCredentialId();
    const products = await this.resolveProducts(input.products);
    const name = input.name?.trim() || `${kind.type}-${id}`;
    if (!NAME.test(name)) throw badRequest('name: 1 to 128 letters, digits and . _ @ -, starting with a letter or digit');
    const expiresAt = input.expiresAt ?? null;
    if (expiresAt && expiresAt.getTime() <= this.now()) throw badRequest('expiresAt: the expiry is in the past');
    const allowIps = (input.allowIps ?? []).map((entry, i) => {
      try {
        return parseCidr(entry).text;
      } catch (e) {
        throw badRequest(`allowIps[${i}]: ${(e as CidrError).message}`);
      }
    });
    const lookup: CreationLookup = {
      liveByName: (n) => this.store.credentials.findLive(kind.type, n),
      caOfProduct: async (productId) => (await this.store.products.get(productId))?.caId,
    };
    const draft = { name, products, ...(input.permissions ? { permissions: input.permissions } : {}), ...(input.admin !== undefined ? { admin: input.admin } : {}) };
    const { permissions, admin } = kind.onCreate ? await kind.onCreate(draft, lookup) : NO_GRANTS;
    const secret = kind.newSecret(id);
    const credential = await this.store.credentials.insert(
      {
        id,
        type: kind.type,
        name,
        products,
        ownerUser: input.ownerUser ?? null,
        ownerGroup: input.ownerGroup ?? null,
        expiresAt,
        allowIps,
        permissions,
        admin,
        scope: input.scope ?? 'product',
        secret: storedSecret(kind.storage, secret.secret, id, this.box),
      },
      auditEntry(actor, AUDIT.credentialCreate, id, { type: kind.type, name, products, admin }),
    );
    return { credential, secret: secret.shown };
  }

  /** A new secret; the old one keeps working for `graceSeconds` (0: stops now). */
  async rotate(id: string, graceSeconds: number, actor: AuditContext): Promise<CreatedCredential> {
    if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_GRACE_SECONDS) {
      throw badRequest('graceSeconds: a whole number of seconds from 0 to 2592000 (30 days)');
    }
    const existing = await this.store.credentials.get(id);
    if (!existing || existing.revokedAt) throw notFound(`no live credential ${id}`);
    const kind = this.kinds.find(existing.type);
    if (!kind) throw badRequest(`credential ${id} is of type ${existing.type}, which no registered protocol makes secrets for`);
    const secret = kind.newSecret(id);
    const until = graceSeconds > 0 ? new Date(this.now() + graceSeconds * 1000) : null;
    const stored = storedSecret(kind.storage, secret.secret, id, this.box);
    const credential = await this.store.credentials.rotate(id, stored, until, auditEntry(actor, AUDIT.credentialRotate, id, { graceSeconds }));
    if (!credential) throw notFound(`no live credential ${id}`);
    await this.cache.changed(id);
    return { credential, secret: secret.shown };
  }

  async revoke(id: string, actor: AuditContext): Promise<CredentialRecord> {
    const credential = await this.store.credentials.revoke(id, auditEntry(actor, AUDIT.credentialRevoke, id, {}));
    if (!credential) throw notFound(`no live credential ${id}`);
    await this.cache.changed(id);
    return credential;
  }

  get(id: string): Promise<CredentialRecord | undefined> {
    return this.store.credentials.get(id);
  }

  list(filter: { type?: string; status?: CredentialStatus }, page: { limit: number; offset: number }) {
    return this.store.credentials.list(filter, page);
  }

  /** A sealed kind's secret (an EAB HMAC key, a static SCEP challenge), for showing to the operator again; null for hashed kinds. */
  revealSecret(credential: CredentialRecord): string | null {
    if (this.kinds.find(credential.type)?.storage !== 'sealed') return null;
    return this.box.open(credential.secret, credential.id);
  }

  private async resolveProducts(products: '*' | string[]): Promise<'*' | string[]> {
    if (products === '*') return '*';
    if (products.length === 0) throw badRequest('products: name at least one product, or "*" for all');
    const ids: string[] = [];
    for (const ref of products) {
      const product = (await this.store.products.get(ref)) ?? (await this.store.products.getByName(ref));
      if (!product) throw badRequest(`products: unknown product ${JSON.stringify(ref)}`);
      if (!ids.includes(product.id)) ids.push(product.id);
    }
    return ids;
  }
}

export function auditEntry(actor: AuditContext, action: string, target: string, detail: Record<string, unknown>) {
  return { ...actor, action, target, outcome: 'success' as const, detail };
}
