// What the routes that issue (POST /certificates, renew, rekey, replace) take and answer in common.
import { z } from 'zod';
import { issuedSchema, pendingSchema } from './schemas.js';

export const csrPem = z.string().min(1).max(65_536);
export const validityDays = z.number().int().min(1).max(36_500);
/** Accepted wherever Certman takes it; certgate's CA passphrases live in its configuration, so it is not used. */
export const caPassphrase = z.string().max(1024).optional().describe('accepted for Certman compatibility; certgate reads CA passphrases from its configuration');

export const IDEMPOTENCY_HEADER = {
  'Idempotency-Key': { description: 'csr mode only, kept 24 h: the same key and body give the same answer, another body 422, a first request still in progress 409' },
};

export const ISSUED = {
  201: { description: 'Issued', schema: issuedSchema, headers: { Location: 'the certificate' } },
  202: { description: 'Accepted, waiting for approval or for the worker', schema: pendingSchema, headers: { Location: 'the request', 'Retry-After': 'seconds' } },
};
