import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { badRequest } from '../core/errors.js';
import type { ApiKeyRecord, Permission, PermissionAction } from '../core/types.js';
import type { Store } from '../store/types.js';

// Token format: cg_<key id, 16 hex>_<secret, 43 base64url chars = 256 bits>. The id makes the
// lookup one indexed read; only SHA-256 of the secret is stored.
const TOKEN = /^cg_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export interface NewApiKeyInput {
  name: string;
  permissions: Permission[];
  admin: boolean;
}

/** Creates a key and returns the token. The token is shown once and never stored. */
export async function createApiKey(store: Store, input: NewApiKeyInput): Promise<{ key: ApiKeyRecord; token: string }> {
  // Such a key authenticates and then may do nothing at all: always a mistake in the request.
  if (!input.admin && !input.permissions.some((p) => p.actions.length > 0)) throw badRequest('an API key needs at least one permission, or admin');
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const key = await store.apiKeys.insert({ id, name: input.name, secretHash: hashSecret(secret), permissions: input.permissions, admin: input.admin });
  return { key, token: `cg_${id}_${secret}` };
}

/** The live key a bearer token names, or null for anything else (malformed, unknown, revoked, wrong secret). */
export async function authenticateApiKey(store: Store, token: string): Promise<ApiKeyRecord | null> {
  const m = TOKEN.exec(token);
  if (!m) return null;
  const key = await store.apiKeys.get(m[1] as string);
  if (!key || key.revokedAt) return null;
  const given = Buffer.from(hashSecret(m[2] as string), 'hex');
  const stored = Buffer.from(key.secretHash, 'hex');
  return given.length === stored.length && timingSafeEqual(given, stored) ? key : null;
}

export function can(key: ApiKeyRecord, action: PermissionAction, caId: string): boolean {
  if (key.admin) return true;
  return key.permissions.some((p) => (p.ca === '*' || p.ca === caId) && p.actions.includes(action));
}

/** The CAs on which the key may do `action`: '*' for all of them. */
export function permittedCas(key: ApiKeyRecord, action: PermissionAction): '*' | string[] {
  if (key.admin || key.permissions.some((p) => p.ca === '*' && p.actions.includes(action))) return '*';
  return [...new Set(key.permissions.filter((p) => p.actions.includes(action)).map((p) => p.ca))];
}

/** Parses CLI/API permission strings like "issue:*", "read,issue:<ca-id>". */
export function parsePermission(text: string): Permission {
  const [actions, ca] = text.split(':');
  if (!actions || !ca) throw new Error(`permission "${text}" must look like "read,issue:<ca-id or *>"`);
  const list = actions.split(',').map((a) => a.trim());
  for (const a of list) if (a !== 'read' && a !== 'issue' && a !== 'revoke') throw new Error(`unknown permission action "${a}"`);
  return { ca: ca.trim(), actions: list as PermissionAction[] };
}
