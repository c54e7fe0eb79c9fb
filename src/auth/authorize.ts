// The one authorization decision: may this principal do this to this resource? Every REST route
// asks it (and the thin wrappers in permissions.ts keep the other callers on it). A credential acts
// only within its products, on every action, not only issuance; `scope: own` narrows it to what it
// requested itself; approval follows four eyes; private keys leave only to their requester unless
// the credential holds exportAnyKeys. Refusals are audited by the Authorizer below.
import { forbidden } from '../core/errors.js';
import { credentialHolders, EVERYONE, type AuditContext, type AuditEntryInput, type CredentialRecord, type CredentialScope, type CredentialType, type Holder, type Permission, type PermissionAction, type ProductRecord } from '../core/types.js';

export type AuthzAction = 'read' | 'issue' | 'revoke' | 'suspend' | 'edit' | 'renew' | 'rekey' | 'replace' | 'exportKeys' | 'delete' | 'approve';

/** The permission each action needs on the resource's CA. Edit and delete kept today's `issue`; suspend and reinstate today's `revoke`. */
export const PERMISSION_OF: Readonly<Record<AuthzAction, PermissionAction>> = {
  read: 'read',
  issue: 'issue',
  renew: 'issue',
  rekey: 'issue',
  replace: 'issue',
  edit: 'issue',
  delete: 'issue',
  revoke: 'revoke',
  suspend: 'revoke',
  approve: 'approve',
  exportKeys: 'exportKeys',
};

/** What a protocol credential (not `rest`) may do: issue through its protocol, and follow up on what it asked for. */
const PROTOCOL_CREDENTIAL_ACTIONS: ReadonlySet<AuthzAction> = new Set(['issue', 'renew', 'rekey', 'replace', 'read']);

export interface Principal {
  id: string;
  type: CredentialType;
  /** How its requests name it (`apikey:<id>` for REST): what a resource's requester is compared with. */
  as: string;
  products: '*' | string[];
  permissions: Permission[];
  admin: boolean;
  scope: CredentialScope;
  /** Whose domain and organization records it acts on (credentialHolders). */
  holders: Holder[];
}

export type ResourceKind = 'certificate' | 'request' | 'product' | 'ca' | 'webhook' | 'domain' | 'organization';

/**
 * What is acted on. An imported certificate has no CA and no product: an action on it needs the
 * permission on every CA ('*'), as before. `owner` is the inventory's free-text label, which
 * anyone who may edit can change, so it never grants anything; `requester` does.
 */
export interface Resource {
  kind: ResourceKind;
  id: string;
  caId: string | null;
  productId: string | null;
  /** Who asked for it (`apikey:<id>`, `acme:<account>`, ...); null when unknown (imported, or a product/CA). */
  requester: string | null;
  owner?: string | null;
  /** The product lets a requester approve its own requests (ProductTemplate.selfApproval). */
  selfApproval?: boolean;
  /** A domain's or organization's holder (model/domains.ts): who it belongs to. */
  holder?: Holder;
}

/** A domain or organization record as the decision sees it: its holder, and who made it (four eyes on approval). */
export const heldResource = (kind: 'domain' | 'organization', r: { id: string; holder: Holder; createdBy: string }): Resource => ({
  kind,
  id: r.id,
  caId: null,
  productId: null,
  requester: r.createdBy,
  holder: r.holder,
});

/** A CA-wide question (a list or lookup narrowed to a CA). */
export const caResource = (caId: string): Resource => ({ kind: 'ca', id: caId, caId, productId: null, requester: null });

/** Issuing under a product (REST, or minting a SCEP challenge for it). */
export const productResource = (p: Pick<ProductRecord, 'id' | 'caId'>): Resource => ({ kind: 'product', id: p.id, caId: p.caId, productId: p.id, requester: null });

/**
 * A webhook subscription as the decision sees it: one resource per product it covers (every
 * product: one resource for all of them, '*'), its requester the credential that made it. Its
 * deliveries tell what happens to certificates, so it needs `read` on each product's CA.
 */
export function webhookResources(w: { id: string; owner: string; products: Pick<ProductRecord, 'id' | 'caId'>[] | null }): Resource[] {
  if (w.products === null) return [{ kind: 'webhook', id: w.id, caId: '*', productId: '*', requester: w.owner }];
  return w.products.map((p) => ({ kind: 'webhook', id: w.id, caId: p.caId, productId: p.id, requester: w.owner }));
}

export type Decision = { ok: true } | { ok: false; reason: string };

export const principalOfCredential = (c: CredentialRecord, as: string): Principal => ({
  id: c.id,
  type: c.type,
  as,
  products: c.products,
  permissions: c.permissions,
  admin: c.admin,
  scope: c.scope ?? 'product',
  holders: credentialHolders(c),
});

function holds(p: Pick<Principal, 'admin' | 'permissions'>, permission: PermissionAction, caId: string): boolean {
  if (p.admin) return true;
  return p.permissions.some((g) => (g.ca === '*' || g.ca === caId) && g.actions.includes(permission));
}

export function inProducts(p: Pick<Principal, 'products'>, productId: string): boolean {
  return p.products === '*' || p.products.includes(productId);
}

const article = (r: Resource): string => (r.kind === 'ca' ? `CA ${r.id}` : `${r.kind} ${r.id}`);

/** The decision. Pure: the Authorizer audits what it refuses. */
export function may(p: Principal, action: AuthzAction, r: Resource): Decision {
  const no = (reason: string): Decision => ({ ok: false, reason });
  if (p.type !== 'rest' && !PROTOCOL_CREDENTIAL_ACTIONS.has(action)) return no(`a ${p.type} credential may not ${action}`);
  if (r.kind === 'webhook') {
    if (p.type !== 'rest') return no(`a ${p.type} credential may not manage webhook subscriptions`);
    // Admins see every subscription; anyone else only the ones it made (their URLs are its own).
    if (!p.admin && r.requester !== p.as) return no(`webhook ${r.id} was made by another credential`);
    if (r.productId === '*' && !p.admin && p.products !== '*') return no('a subscription to every product needs a credential for every product: name its products');
  }

  if (r.kind === 'domain' || r.kind === 'organization') return mayOnHeld(p, action, r);

  if (r.productId !== null && !inProducts(p, r.productId)) return no(`this credential may not ${action} under product ${r.productId}: it is not one of its products`);
  // Imported certificates belong to no CA; CAs and products are not requested by anyone.
  const ownable = r.kind === 'certificate' || r.kind === 'request';
  const mine = r.requester !== null && r.requester === p.as;
  if (p.scope === 'own' && ownable && action !== 'issue' && !mine) return no(`this credential acts only on what it requested itself, and ${article(r)} was requested by another`);

  if (p.type === 'rest') {
    const caId = r.caId ?? '*';
    const where = r.caId === null ? 'every CA (*), as an imported certificate belongs to none' : r.caId === '*' ? 'any CA' : `CA ${r.caId}`;
    if (action === 'read' && r.kind === 'request' && mine) {
      // A caller always sees where its own request stands (the 202 it got points there).
    } else if (action === 'exportKeys') {
      if (!holds(p, 'exportKeys', caId) && !holds(p, 'exportAnyKeys', caId)) return no(`this credential may not export private keys on ${where} (it needs the exportKeys permission)`);
      if (!mine && !holds(p, 'exportAnyKeys', caId)) return no(`exportKeys covers the keys of certificates this credential requested; ${article(r)} was requested by another (that needs exportAnyKeys)`);
    } else if (!holds(p, PERMISSION_OF[action], caId)) {
      return no(`this credential may not ${action} on ${where}`);
    }
  } else if (ownable && action !== 'issue' && !mine) {
    // A device's credential follows up only on its own requests.
    return no(`a ${p.type} credential acts only on what it requested itself`);
  }

  if (action === 'approve' && mine && !r.selfApproval) return no('four eyes: a request is approved by someone other than its requester (the product does not allow self-approval)');
  return { ok: true };
}

/**
 * Domains and organizations belong to a holder, not to a CA or product: a REST credential acts on
 * those of its holders (an admin on all), with the permission the action needs on any CA; records
 * of the whole deployment are read by all and changed by admins only. Approval follows four eyes.
 */
function mayOnHeld(p: Principal, action: AuthzAction, r: Resource): Decision {
  const no = (reason: string): Decision => ({ ok: false, reason });
  if (p.type !== 'rest') return no(`a ${p.type} credential may not manage ${r.kind}s`);
  const mine = r.requester !== null && r.requester === p.as;
  if (!p.admin) {
    if (r.holder === EVERYONE && action !== 'read') return no(`${article(r)} belongs to the whole deployment: only an admin may ${action} it`);
    if (r.holder !== EVERYONE && (r.holder === undefined || !p.holders.includes(r.holder))) return no(`${article(r)} belongs to another owner`);
    if (p.scope === 'own' && action !== 'read' && !mine) return no(`this credential acts only on what it made itself, and ${article(r)} was made by another`);
    const permission = PERMISSION_OF[action];
    if (!p.permissions.some((g) => g.actions.includes(permission))) return no(`this credential may not ${action} ${r.kind}s (it needs the ${permission} permission on some CA)`);
  }
  if (action === 'approve' && mine) return no(`four eyes: ${article(r)} is approved by someone other than who made it`);
  return { ok: true };
}

/**
 * Where a list may look for `action`: the CAs ('*': all), the products ('*': all), and the
 * requester every item must have (scope own), for the list filters.
 */
export interface ListScope {
  caIds: '*' | string[];
  productIds: '*' | string[];
  requester: string | null;
}

export function listScope(p: Principal, permission: PermissionAction): ListScope {
  const caIds: '*' | string[] =
    p.admin || p.permissions.some((g) => g.ca === '*' && g.actions.includes(permission))
      ? '*'
      : [...new Set(p.permissions.filter((g) => g.actions.includes(permission)).map((g) => g.ca))];
  return { caIds: p.type === 'rest' ? caIds : [], productIds: p.products, requester: p.scope === 'own' ? p.as : null };
}

/** The audit action a refusal is recorded under: what was tried, named as its success would be. */
export function refusalAction(action: AuthzAction, kind: ResourceKind): string {
  if (action === 'issue') return 'request.submit';
  if (action === 'approve') return 'request.approve';
  if (action === 'exportKeys') return 'certificate.key_export';
  if (action === 'delete') return `${kind}.remove`;
  return `${kind}.${action}`;
}

export interface RefusalSink {
  append(entry: AuditEntryInput): Promise<unknown>;
}

/** The decision with its consequences: a refusal is written to the audit trail, then thrown as 403. */
export class Authorizer {
  constructor(private readonly audit: RefusalSink) {}

  may(p: Principal, action: AuthzAction, r: Resource): boolean {
    return may(p, action, r).ok;
  }

  /** Throws `forbidden` (after auditing it) unless the principal may. */
  async require(p: Principal, action: AuthzAction, r: Resource, by: AuditContext, tried = refusalAction(action, r.kind)): Promise<void> {
    const decision = may(p, action, r);
    if (decision.ok) return;
    await this.refuse(by, tried, r.id, decision.reason, { authz: action, ca: r.caId, product: r.productId });
  }

  /** Records and throws a refusal decided elsewhere (admin-only routes, a CA-wide lookup the credential may not make). */
  async refuse(by: AuditContext, tried: string, target: string, reason: string, detail: Record<string, unknown> = {}): Promise<never> {
    await this.audit.append({ ...by, action: tried, target: target.slice(0, 200), outcome: 'refused', detail: { reason, ...detail } });
    throw forbidden(reason);
  }
}
