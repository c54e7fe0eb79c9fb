// How a credential is shown (CLI --json and REST alike): everything but its secret.
import type { CredentialRecord } from '../core/types.js';
import type { CreatedCredential } from './credentialService.js';

export type CredentialState = 'active' | 'revoked' | 'expired' | 'disabled';

export function credentialState(c: CredentialRecord, now = Date.now()): CredentialState {
  if (c.revokedAt) return 'revoked';
  if (c.expiresAt && c.expiresAt.getTime() <= now) return 'expired';
  return c.enabled ? 'active' : 'disabled';
}

const iso = (d: Date | null): string | null => d?.toISOString() ?? null;

/** `now`: the deployment's clock (CoreServices.now), which decides `expired` where the service does. */
export function credentialView(c: CredentialRecord, now = Date.now()) {
  return {
    id: c.id,
    type: c.type,
    name: c.name,
    status: credentialState(c, now),
    products: c.products,
    owner_user: c.ownerUser,
    owner_group: c.ownerGroup,
    expires_at: iso(c.expiresAt),
    allow_ips: c.allowIps,
    scope: c.scope,
    ...(c.type === 'rest' ? { permissions: c.permissions, admin: c.admin } : {}),
    ...(c.type === 'acme' ? { kid: c.id } : {}),
    created_at: iso(c.createdAt),
    last_used_at: iso(c.lastUsedAt),
    use_count: c.useCount,
    revoked_at: iso(c.revokedAt),
    previous_secret_valid_until: c.previousSecret ? iso(c.previousSecretUntil) : null,
  };
}

/** What create and rotate answer: the credential, and its secret this once, named as its protocol names it. */
export function createdCredentialView({ credential, secret }: CreatedCredential) {
  const named =
    credential.type === 'rest'
      ? { api_key: secret }
      : credential.type === 'acme'
        ? { kid: credential.id, hmac_key: secret }
        : credential.type === 'est'
          ? { username: credential.name, password: secret }
          : credential.type === 'cmp'
            ? { reference: credential.name }
            : { challenge: secret };
  return { ...credentialView(credential), secret, ...named };
}
