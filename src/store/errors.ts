// Errors the store throws on purpose. Anything else is a database failure (worth a retry).

export class StoreError extends Error {
  override readonly name: string = 'StoreError';
}

/** recordIssuance on a request id that does not exist. */
export class RequestNotFoundError extends StoreError {
  override readonly name = 'RequestNotFoundError';
  constructor(readonly requestId: string) {
    super(`enrollment request ${requestId} not found`);
  }
}

/** recordIssuance on a request that is neither `signing` nor already `issued`. */
export class InvalidRequestStateError extends StoreError {
  override readonly name = 'InvalidRequestStateError';
  constructor(
    readonly requestId: string,
    readonly status: string,
  ) {
    super(`enrollment request ${requestId} is ${status}, not signing`);
  }
}

/** recordIssuance with a certificate whose serial is not the one the claim allocated. */
export class SerialMismatchError extends StoreError {
  override readonly name = 'SerialMismatchError';
  constructor(
    readonly requestId: string,
    readonly claimed: string | null,
    readonly offered: string,
  ) {
    super(`enrollment request ${requestId} was claimed with serial ${claimed ?? '(none)'}, not ${offered}`);
  }
}

/** The (CA, serial number) pair is taken. The caller may retry with a fresh serial. */
export class DuplicateSerialError extends StoreError {
  override readonly name = 'DuplicateSerialError';
  constructor(
    readonly caId: string,
    readonly serialNumber: string,
  ) {
    super(`serial number ${serialNumber} already used by CA ${caId}`);
  }
}

/** True for a unique or primary-key violation on either database. */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  // PostgreSQL: 23505 unique_violation. better-sqlite3: extended result codes.
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
