// CA creation and signing for every supported key algorithm, checked by openssl as a relying
// party would: chain verification, extensions, serials.
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, type CaSecrets } from '../src/ca/createCa.js';
import { KeyProtectionError } from '../src/ca/keyProtection.js';
import { CaRegistry } from '../src/ca/registry.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { KEY_ALGORITHMS } from '../src/core/types.js';
import { parseCsr } from '../src/pki/csr.js';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { openStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { opensslVerify, tempDir, x509Text } from './helpers/openssl.js';
import { TEST_MASTER_KEY } from './helpers/gateway.js';

const dir = tempDir();
const secrets: CaSecrets = { masterKey: TEST_MASTER_KEY, passphrases: { 'locked-issuing': 'correct horse battery staple' } };
let store: Store;

beforeAll(async () => {
  store = await openStore({ sqlitePath: ':memory:' });
});
afterAll(async () => store.close());

describe.each(KEY_ALGORITHMS)('a %s root with an issuing CA under it', (alg) => {
  it('issues a leaf that openssl verifies, with SKI/AKI, basicConstraints and keyUsage', async () => {
    const root = await createCa(store, { name: `root-${alg}`, keyAlgorithm: alg, validityDays: 3650 }, secrets, CLI_CONTEXT);
    const issuing = await createCa(store, { name: `issuing-${alg}`, keyAlgorithm: alg, validityDays: 1825, parentId: root.id }, secrets, CLI_CONTEXT);
    expect(issuing.parentId).toBe(root.id);
    expect(JSON.parse(issuing.encryptedKey ?? '')).toMatchObject({ secret: 'master', kdf: 'scrypt' });

    const rootText = x509Text(root.certificatePem);
    expect(rootText).toMatch(/CA:TRUE/);
    expect(rootText).toMatch(/Certificate Sign, CRL Sign/);
    const issuingText = x509Text(issuing.certificatePem);
    expect(issuingText).toMatch(/CA:TRUE, pathlen:0/);
    const bits = { 'ec-p256': /256 bit/, 'ec-p384': /384 bit/, 'rsa-2048': /2048 bit/, 'rsa-3072': /3072 bit/, 'rsa-4096': /4096 bit/ }[alg];
    expect(issuingText).toMatch(bits);

    const backend = await new CaRegistry(store, secrets).get(issuing.id);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const csr = parseCsr(buildCsr(privateKey, 'CN=leaf.example.com', { dns: ['leaf.example.com'] }));
    const now = new Date();
    const leaf = await backend.issue({
      subjectDer: csr.subjectDer,
      spkiDer: csr.spkiDer,
      san: { dns: ['leaf.example.com'], ip: ['192.0.2.1'], email: ['ops@example.com'], uri: ['https://example.com/id'] },
      notBefore: now,
      notAfter: new Date(now.getTime() + 10 * 86_400_000),
      keyUsage: ['digitalSignature'],
      extendedKeyUsage: ['serverAuth', 'clientAuth'],
    });
    expect(opensslVerify(dir, root.certificatePem, issuing.certificatePem, leaf.pem)).toMatch(/: OK/);
    const cert = new X509Certificate(leaf.pem);
    expect(cert.subjectAltName).toBe('DNS:leaf.example.com, IP Address:192.0.2.1, email:ops@example.com, URI:https://example.com/id');
    expect(cert.serialNumber.toLowerCase()).toBe(leaf.serialHex);
    expect(leaf.serialHex).toMatch(/^(?!00)[0-9a-f]{32}$/); // 128 bits, no leading zero byte
    const text = x509Text(leaf.pem);
    expect(text).toMatch(/CA:FALSE/);
    const ski = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(issuingText)?.[1];
    expect(text).toContain(ski);
  });
});

describe('CA keys at rest', () => {
  it('a passphrase-protected CA opens only with its passphrase, never with the master key', async () => {
    const root = (await store.cas.getByName('root-ec-p256'))!;
    const locked = await createCa(store, { name: 'locked-issuing', keyAlgorithm: 'ec-p256', validityDays: 365, parentId: root.id, passphrase: 'correct horse battery staple' }, secrets, CLI_CONTEXT);
    expect(JSON.parse(locked.encryptedKey ?? '').secret).toBe('passphrase');
    await expect(new CaRegistry(store, secrets).get(locked.id)).resolves.toMatchObject({ caId: locked.id, certificatePem: locked.certificatePem });
    await expect(new CaRegistry(store, { masterKey: secrets.masterKey }).get(locked.id)).rejects.toThrow(/passphrase/);
    await expect(new CaRegistry(store, { masterKey: secrets.masterKey, passphrases: { 'locked-issuing': 'wrong' } }).get(locked.id)).rejects.toThrow(KeyProtectionError);
  });

  it('a wrong master key cannot open any CA', async () => {
    const ca = (await store.cas.getByName('issuing-ec-p384'))!;
    await expect(new CaRegistry(store, { masterKey: 'not-the-master-key-000' }).get(ca.id)).rejects.toThrow(/wrong master key/);
  });
});
