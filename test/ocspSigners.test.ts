// Delegated OCSP signers: issued on first use through the core's signer (in the inventory under the
// CA's system product, audited), encrypted at rest, rotated before they expire.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OcspSigners } from '../protocols/status/ocspSigners.js';
import { createCa, type CaSecrets } from '../src/ca/createCa.js';
import { CaRegistry } from '../src/ca/registry.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createSealing } from '../src/core/sealing.js';
import { systemProductId } from '../src/core/systemProducts.js';
import { SystemSigner } from '../src/core/systemSigner.js';
import { readCertificateBasics } from '../src/pki/certInfo.js';
import { openStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { opensslVerify, tempDir, x509Text } from './helpers/openssl.js';
import { statusReadsOf } from './helpers/status.js';
import { TEST_MASTER_KEY } from './helpers/gateway.js';

const secrets: CaSecrets = { masterKey: TEST_MASTER_KEY };
let store: Store;

beforeAll(async () => {
  store = await openStore({ sqlitePath: ':memory:' });
});
afterAll(async () => store.close());

describe('OCSP signers', () => {
  it('issues a delegated signer the CA vouches for, and a successor once a third of its life is left', async () => {
    const root = await createCa(store, { name: 'root', keyAlgorithm: 'ec-p256', validityDays: 3650 }, secrets, CLI_CONTEXT);
    const issuing = await createCa(store, { name: 'issuing', keyAlgorithm: 'rsa-2048', validityDays: 365, parentId: root.id }, secrets, CLI_CONTEXT);
    const lifetimeMs = 7 * 86_400_000;
    const signer = new SystemSigner(store, new CaRegistry(store, secrets, 'http://localhost:8080'));
    const signers = new OcspSigners(store.ocspSigners, signer, statusReadsOf(store), createSealing(secrets.masterKey), lifetimeMs);

    const first = await signers.current(issuing.id);
    expect(await signers.current(issuing.id)).toBe(first);
    const pem = new X509Certificate(first.certificateDer).toString();
    const text = x509Text(pem);
    expect(text).toMatch(/OCSP Signing/);
    expect(text).toMatch(/OCSP No Check/);
    expect(text).toMatch(/CA:FALSE/);
    expect(text).not.toMatch(/OCSP - URI/); // a signer is never checked through OCSP
    expect(opensslVerify(tempDir(), root.certificatePem, issuing.certificatePem, pem)).toMatch(/: OK/);
    const stored = await store.ocspSigners.latest(issuing.id);
    expect(stored?.encryptedKey).not.toContain('PRIVATE KEY');

    // One of our certificates like any other: in the inventory (so in the CRL and OCSP), under the
    // CA's system product, which operators' product lists leave out; and audited.
    const serialHex = readCertificateBasics(first.certificateDer).serialHex;
    const record = await store.certificates.getBySerial(issuing.id, serialHex);
    expect(record?.productId).toBe(systemProductId(issuing.id));
    expect(record?.commonName).toBe('issuing OCSP Responder');
    const listed = await store.inventory.list({ caIds: [issuing.id], includeImported: false }, { limit: 50, offset: 0 });
    expect(listed.certificates.map((c) => c.serialNumber)).toContain(serialHex);
    expect((await store.products.list()).map((p) => p.id)).not.toContain(systemProductId(issuing.id));
    const audit = await store.audit.list({ action: 'certificate.system_issued', target: record?.id as string }, { limit: 5, offset: 0 });
    expect(audit.entries).toHaveLength(1);
    expect(audit.entries[0]?.detail).toMatchObject({ purpose: 'ocsp-signer', serial: serialHex, ca: issuing.id });

    // Once two thirds of its life have passed, a new signer is issued (only the clock moves).
    vi.useFakeTimers({ toFake: ['Date'] });
    const second = await (async () => {
      try {
        vi.setSystemTime(first.renewAt + 1);
        return await signers.current(issuing.id);
      } finally {
        vi.useRealTimers();
      }
    })();
    expect(second.certificateDer.equals(first.certificateDer)).toBe(false);
    expect(second.notAfter.getTime()).toBeGreaterThan(first.notAfter.getTime());
  });
});
