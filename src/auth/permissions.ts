// What a credential may do once it has authenticated, for callers that ask by CA or by product
// alone (SCEP's challenge route, the credential service): thin wrappers over the one decision in
// authorize.ts, so that there is one place where a permission is read.
import { PERMISSION_ACTIONS, type CredentialRecord, type Permission, type PermissionAction } from '../core/types.js';
import { inProducts, listScope, principalOfCredential } from './authorize.js';

/** Whether the credential holds `action` on this CA (or on every CA, for '*'), whatever the product. */
export function can(credential: CredentialRecord, action: PermissionAction, caId: string): boolean {
  if (credential.admin) return true;
  const cas = listScope(principalOfCredential(credential, credential.id), action).caIds;
  return cas === '*' || (caId !== '*' && cas.includes(caId));
}

/** The CAs on which the credential may do `action`: '*' for all of them. */
export function permittedCas(credential: CredentialRecord, action: PermissionAction): '*' | string[] {
  return listScope(principalOfCredential(credential, credential.id), action).caIds;
}

export function mayIssueUnder(credential: CredentialRecord, productId: string): boolean {
  return inProducts(credential, productId);
}

/** Parses CLI/API permission strings like "issue:*", "read,issue:<ca-id>". */
export function parsePermission(text: string): Permission {
  const [actions, ca] = text.split(':');
  if (!actions || !ca) throw new Error(`permission "${text}" must look like "read,issue:<ca-id or *>"`);
  const list = actions.split(',').map((a) => a.trim());
  for (const a of list) if (!PERMISSION_ACTIONS.includes(a as PermissionAction)) throw new Error(`unknown permission action "${a}" (one of ${PERMISSION_ACTIONS.join(', ')})`);
  return { ca: ca.trim(), actions: list as PermissionAction[] };
}
