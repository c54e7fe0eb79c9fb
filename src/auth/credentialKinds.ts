// A kind of credential is a plug-in, as step-ca's provisioners are: each protocol registers the one
// its clients present (ProtocolModule.credentialKind), saying how its secret is made and how what a
// client presents is resolved to a stored credential. The core keeps what every kind shares (the
// throttle, the refusal audit, the state, expiry, address and product checks, the cache, hashing or
// sealing the secret), so a new protocol brings its credential without touching the core.
import { badRequest } from '../core/errors.js';
import type { CredentialRecord, Permission } from '../core/types.js';
import type { SecretStorage } from './secrets.js';
import type { TokenClaims } from './tokens.js';

/**
 * What a client presents, by credential type. Each kind's file adds its own entry by declaration
 * merging (`declare module '…/src/auth/credentialKinds.js' { interface PresentedCredentials { … } }`),
 * so `authenticate({ type, … })` is checked against that protocol's shape and the core names none.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by the kinds' declaration merging
export interface PresentedCredentials {}

export type CredentialTypeName = keyof PresentedCredentials & string;
export type PresentedOf<T extends CredentialTypeName> = { type: T } & PresentedCredentials[T];
export type PresentedCredential = { [T in CredentialTypeName]: PresentedOf<T> }[CredentialTypeName];

export interface AuthContext {
  protocol: string;
  sourceIp: string | null;
  /** The product the caller asks for, when the protocol names it (EST/SCEP label, ACME directory). */
  productId?: string;
}

export type RefusalReason =
  | 'missing'
  | 'malformed'
  | 'unknown'
  | 'wrongSecret'
  | 'wrongType'
  | 'revoked'
  | 'disabled'
  | 'expired'
  | 'ipNotAllowed'
  | 'productNotAllowed'
  | 'tokenInvalid'
  | 'tokenExpired'
  | 'secretRotated'
  | 'throttled';

/** A presented credential's record, or why there is none (with the record when one was found). */
export type Resolved = { credential: CredentialRecord } | { reason: RefusalReason; credential?: CredentialRecord };

/** What the core lends a kind to resolve with: reads of its credentials and checks of their secrets. */
export interface CredentialLookup {
  /** Any credential by id, through the cache (the core refuses one of another type afterwards). */
  byId(id: string): Promise<CredentialRecord | undefined>;
  /** The live credential of this kind with this name. */
  liveByName(name: string): Promise<CredentialRecord | undefined>;
  /** The active credentials of this kind that may issue under the product. */
  boundTo(productId: string): Promise<CredentialRecord[]>;
  /** Constant-time: the presented secret is the current one, or the previous one in its grace window. */
  secretMatches(credential: CredentialRecord, presented: string): boolean;
  /** A sealed kind's live secrets in the clear: the current one, and the previous one in its grace window. */
  openSecrets(credential: CredentialRecord): string[];
  /** Whether the secret before the last rotation still works. */
  previousLive(credential: CredentialRecord): boolean;
  /** A bearer token the core minted (CredentialService.exchangeToken), checked. */
  verifyToken(token: string): Promise<TokenClaims | 'expired' | 'invalid'>;
  /** A console session the core opened (CredentialService.openSession), checked; one signed out is invalid. */
  verifySession(token: string): Promise<TokenClaims | 'expired' | 'invalid'>;
}

/** What a kind may read while a credential of it is created. */
export interface CreationLookup {
  liveByName(name: string): Promise<CredentialRecord | undefined>;
  /** The CA a product issues from; undefined for an unknown product. */
  caOfProduct(productId: string): Promise<string | undefined>;
}

export interface CredentialDraft {
  name: string;
  /** Product ids (already resolved), or '*'. */
  products: '*' | string[];
  permissions?: Permission[];
  admin?: boolean;
}

export interface CredentialKind<T extends CredentialTypeName = CredentialTypeName> {
  /** The stored `type` of its credentials. */
  readonly type: T;
  /**
   * `hashed` where the secret is only ever compared; `sealed` under the master key where the
   * protocol needs the secret itself (an HMAC key, a challenge to show the operator again).
   */
  readonly storage: SecretStorage;
  /** A fresh secret: `shown` to the holder once, `secret` the part the core hashes or seals. */
  newSecret(id: string): { shown: string; secret: string };
  /**
   * Who a login claims to be before anything is checked: what the per-identity throttle counts.
   * null where the presented secret names no one (counted per source only).
   */
  claimedIdentity(presented: PresentedOf<T>): string | null;
  /** Who a refusal names when no credential was found (never the secret). Default `unknown`. */
  claimedBy?(presented: PresentedOf<T>): string;
  resolve(presented: PresentedOf<T>, lookup: CredentialLookup, context: AuthContext): Promise<Resolved>;
  /** Checks and defaults of its own at creation; throw badRequest to refuse. Default: no permissions, not admin. */
  onCreate?(draft: CredentialDraft, lookup: CreationLookup): Promise<{ permissions: Permission[]; admin: boolean }>;
}

/** The registered kinds, by type. */
export class CredentialKinds {
  private readonly byType = new Map<string, CredentialKind>();

  constructor(kinds: readonly CredentialKind[]) {
    for (const kind of kinds) {
      if (this.byType.has(kind.type)) throw new Error(`two credential kinds of type ${JSON.stringify(kind.type)}`);
      this.byType.set(kind.type, kind);
    }
  }

  get types(): string[] {
    return [...this.byType.keys()];
  }

  find(type: string): CredentialKind | undefined {
    return this.byType.get(type);
  }

  /** The kind of this type; a bad request naming the known ones when there is none. */
  of(type: string): CredentialKind {
    const kind = this.byType.get(type);
    if (!kind) throw badRequest(`type: unknown credential type ${JSON.stringify(type)}; known: ${this.types.join(', ') || 'none'}`);
    return kind;
  }
}
