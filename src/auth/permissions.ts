// What a credential may do once it has authenticated: REST permissions per CA, and the products
// every type of credential may issue under.
import { PERMISSION_ACTIONS, type CredentialRecord, type Permission, type PermissionAction } from '../core/types.js';

export function can(credential: CredentialRecord, action: PermissionAction, caId: string): boolean {
  if (credential.admin) return true;
  return credential.permissions.some((p) => (p.ca === '*' || p.ca === caId) && p.actions.includes(action));
}

/** The CAs on which the credential may do `action`: '*' for all of them. */
export function permittedCas(credential: CredentialRecord, action: PermissionAction): '*' | string[] {
  if (credential.admin || credential.permissions.some((p) => p.ca === '*' && p.actions.includes(action))) return '*';
  return [...new Set(credential.permissions.filter((p) => p.actions.includes(action)).map((p) => p.ca))];
}

export function mayIssueUnder(credential: CredentialRecord, productId: string): boolean {
  return credential.products === '*' || credential.products.includes(productId);
}

/** Parses CLI/API permission strings like "issue:*", "read,issue:<ca-id>". */
export function parsePermission(text: string): Permission {
  const [actions, ca] = text.split(':');
  if (!actions || !ca) throw new Error(`permission "${text}" must look like "read,issue:<ca-id or *>"`);
  const list = actions.split(',').map((a) => a.trim());
  for (const a of list) if (!PERMISSION_ACTIONS.includes(a as PermissionAction)) throw new Error(`unknown permission action "${a}"`);
  return { ca: ca.trim(), actions: list as PermissionAction[] };
}
