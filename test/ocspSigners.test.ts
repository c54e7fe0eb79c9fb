// Delegated OCSP signers: issued on first use, encrypted at rest, rotated before they expire.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OcspSigners } from '../protocols/status/ocspSigners.js';
import { createCa, type CaSecrets } from '../src/ca/createCa.js';
import { CaRegistry } from '../src/ca/registry.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { openStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { opensslVerify, tempDir, x509Text } from './helpers/openssl.js';
import { statusReadsOf } from './helpers/status.js';

const secrets: CaSecrets = { masterKey: 'ocsp-signer-test-master-key' };
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
    const signers = new OcspSigners(store.ocspSigners, new CaRegistry(store, secrets, 'http://localhost:8080'), statusReadsOf(store), secrets.masterKey, lifetimeMs);

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
