// Credentials of every protocol and what they permit.

/**
 * `approve`: approve or decline requests that wait for an operator. `exportKeys`: download the
 * escrowed private key (PKCS#12) of a certificate this credential requested; `exportAnyKeys`: of
 * any certificate within the credential's products.
 */
export type PermissionAction = 'read' | 'issue' | 'revoke' | 'approve' | 'exportKeys' | 'exportAnyKeys';
export const PERMISSION_ACTIONS: readonly PermissionAction[] = ['read', 'issue', 'revoke', 'approve', 'exportKeys', 'exportAnyKeys'];
export interface Permission {
  /** A CA id, or '*' for every CA. */
  ca: string;
  actions: PermissionAction[];
}

/** `own`: reads and acts only on the certificates and requests it requested itself; `product`: on everything of its products. */
export type CredentialScope = 'own' | 'product';
export const CREDENTIAL_SCOPES: readonly CredentialScope[] = ['own', 'product'];

/** The kind of credential: one each protocol registers (auth/credentialKinds.ts), e.g. `rest`, `est`. */
export type CredentialType = string;

/**
 * One credential of any protocol: who may authenticate, under which products, from where, until
 * when. What the secret is depends on its kind (protocols/<name>/credential.ts); only its hash,
 * or (where the protocol needs the secret itself: an ACME EAB HMAC key, a SCEP challenge) its
 * ciphertext under the master key, is stored.
 */
export interface CredentialRecord {
  id: string;
  type: CredentialType;
  /** For `est`, the HTTP Basic username. */
  name: string;
  /** Product ids it may issue under, or '*' for every product. */
  products: '*' | string[];
  ownerUser: string | null;
  ownerGroup: string | null;
  expiresAt: Date | null;
  /** CIDR blocks the caller must come from; empty means anywhere. */
  allowIps: string[];
  /** `rest` only: what it may do on which CA. Other types issue only (through their protocol). */
  permissions: Permission[];
  /** `rest` only: may manage CAs, products, credentials and read the audit trail. */
  admin: boolean;
  /** How far within its products it reaches (see CredentialScope). */
  scope: CredentialScope;
  /** SHA-256 (hex) of the secret (`rest`, `est`), or an encrypted envelope of it (`acme`, `scep`). */
  secret: string;
  /** The secret before the last rotation, while its grace period lasts. */
  previousSecret: string | null;
  previousSecretUntil: Date | null;
  /** Bumped by every rotation; a bearer token minted under an older one dies with that secret. */
  secretVersion: number;
  enabled: boolean;
  revokedAt: Date | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  useCount: number;
}
