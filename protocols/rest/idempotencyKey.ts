import { unprocessable } from '../../src/core/errors.js';

/** The Idempotency-Key header, checked: Certman keys a retried call by it (see IDEMPOTENCY_TTL_MS). */
export function idempotencyKeyOf(header: string | undefined): string | null {
  if (header === undefined) return null;
  if (header.length < 1 || header.length > 255) throw unprocessable('Idempotency-Key must be 1 to 255 characters');
  return header;
}
