// Rows for tests that write to a store directly: the fields a test does not look at, filled in once.
import { randomUUID } from 'node:crypto';
import { DEFAULT_REQUEST_DETAILS, type ProductTemplate } from '../../src/core/types.js';
import type { NewEnrollmentRequest, Store } from '../../src/store/index.js';
import { testAudit } from './audit.js';

/** A queued-to-be request under `productId` on `caId`; `overrides` win. */
export function newRequestRow(productId: string, caId: string, overrides: Partial<NewEnrollmentRequest> = {}): NewEnrollmentRequest {
  return {
    id: randomUUID(),
    productId,
    caId,
    requester: 'apikey:k1',
    credentialId: null,
    protocol: 'rest',
    csrPem: '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n',
    validityDays: 30,
    idempotencyKey: null,
    transactionId: null,
    constraints: [],
    fingerprint: 'f1ngerpr1nt',
    details: { ...DEFAULT_REQUEST_DETAILS },
    ...overrides,
  };
}

/** A CA (a placeholder certificate, no usable key) and a product on it: what request rows point at. */
export async function insertCaAndProduct(store: Store, template: ProductTemplate): Promise<{ caId: string; productId: string }> {
  const caId = randomUUID();
  const productId = randomUUID();
  await store.cas.insert(
    { id: caId, name: 'ca', kind: 'root', parentId: null, keyAlgorithm: 'ec-p256', subject: 'CN=ca', certificatePem: 'pem', encryptedKey: 'key', notBefore: new Date(), notAfter: new Date() },
    testAudit(),
  );
  await store.products.insert({ id: productId, name: 'p', caId, template }, testAudit());
  return { caId, productId };
}
