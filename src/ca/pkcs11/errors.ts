// Which PKCS#11 failures mean "the token or its session is gone" (re-open once, then report the
// token as unavailable: 503 and /readyz) rather than "this operation is wrong" (an error as is).
import pkcs11js from 'pkcs11js';
import { DependencyUnavailableError } from '../../core/unavailable.js';

const TOKEN_GONE = new Set<number>([
  pkcs11js.CKR_SESSION_HANDLE_INVALID,
  pkcs11js.CKR_SESSION_CLOSED,
  pkcs11js.CKR_DEVICE_REMOVED,
  pkcs11js.CKR_DEVICE_ERROR,
  pkcs11js.CKR_DEVICE_MEMORY,
  pkcs11js.CKR_TOKEN_NOT_PRESENT,
  pkcs11js.CKR_TOKEN_NOT_RECOGNIZED,
  pkcs11js.CKR_USER_NOT_LOGGED_IN,
  pkcs11js.CKR_SLOT_ID_INVALID,
  pkcs11js.CKR_CRYPTOKI_NOT_INITIALIZED,
  // A handle that no longer names the key: the token was replaced, or its objects went with it.
  pkcs11js.CKR_OBJECT_HANDLE_INVALID,
  pkcs11js.CKR_KEY_HANDLE_INVALID,
  pkcs11js.CKR_GENERAL_ERROR,
]);

/** The Cryptoki return value an error carries (pkcs11js's Pkcs11Error), or null. */
export function ckrOf(err: unknown): number | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && (err as { name?: unknown }).name === 'Pkcs11Error' ? code : null;
}

export function isTokenGone(err: unknown): boolean {
  if (err instanceof TokenAbsentError) return true;
  const code = ckrOf(err);
  return code !== null && TOKEN_GONE.has(code);
}

/** The token is not in any slot of its module (unplugged, or its files are gone). */
export class TokenAbsentError extends Error {
  override readonly name = 'TokenAbsentError';
}

/** How a token names itself in readiness checks and errors. */
export const tokenName = (label: string): string => `pkcs11 token "${label}"`;

/** A token that cannot sign now: REST answers 503, the worker keeps the request queued. */
export class TokenUnavailableError extends DependencyUnavailableError {
  /** As /readyz names it. */
  readonly component: string;
  constructor(label: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super('ca', `${tokenName(label)} cannot sign: ${why}`, { cause });
    this.component = tokenName(label);
  }
}

export function tokenUnavailable(label: string, cause: unknown): TokenUnavailableError {
  return new TokenUnavailableError(label, cause);
}

/** A refused login in words (the PIN itself is never part of any message). */
export function loginRefusal(label: string, err: unknown): Error | null {
  const code = ckrOf(err);
  if (code === pkcs11js.CKR_PIN_INCORRECT || code === pkcs11js.CKR_PIN_LEN_RANGE) return new Error(`${tokenName(label)} refused the PIN: it is wrong`);
  if (code === pkcs11js.CKR_PIN_LOCKED) return new Error(`${tokenName(label)} refused the PIN: the PIN is locked (too many wrong tries)`);
  return null;
}
