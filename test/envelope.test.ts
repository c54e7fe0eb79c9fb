// One AES-256-GCM envelope (auth/envelope) under every value certgate seals, and the stored
// encodings unchanged: the fixtures below were sealed by the code before it was shared, and
// databases and key files hold exactly such strings.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AesGcmSeal, gcmOpen, gcmSeal, SecretBox } from '../src/auth/envelope.js';
import { deriveKey } from '../src/auth/secrets.js';
import { decryptPrivateKey, KeyProtectionError } from '../src/ca/keyProtection.js';
import { createSealing, RekeyRefused, resealKey, resealSecret } from '../src/core/sealing.js';

const MASTER_KEY = 'fixture-master-key-0123456789';
const OLD = {
  pkcs8: 'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1ji6e3TQ0FOMXFsVig8q/mDDIVIsHQODOtJMzGaxhmyhRANCAASmNufwkTji74TABd9kooL1iQ82/xYneV2wQKvES0sQh0TT+FdyugDC68RZOQ6idrqwq4jXrOqnEGbHuWlO5bye',
  caKey: '{"v":1,"kdf":"scrypt","secret":"master","n":32768,"r":8,"p":1,"salt":"iSXsVgzONf0ZJXXXt6KgaQ==","iv":"x3KdykzaU3qEYz9A","tag":"1ka8rCJMvJXzyv1uRwf25Q==","ct":"eFW+RDeSwdQAbqRgb1+CzsX060oQEAcUuqf/QTLwJU5YOzqgdTBDgNXT9dUQGFz7m3E9fUAdg0RTHbyl7VquoGwncIxSqIQ7NkEjeslNWalRuBKr1k6PHiZk0VVtoXGoUAGv9eBmghANZDpiJjQZQjxbPJD0zo5GSjs3m41qBg0OZItMQ1iQHtg2"}',
  caKeyPassphrase: '{"v":1,"kdf":"scrypt","secret":"passphrase","n":32768,"r":8,"p":1,"salt":"mo182yDqfmjMf7UilLSL/w==","iv":"YLOGBEhSXctbtprk","tag":"nhM2RzlSc8IZSlOnaN5xYA==","ct":"Y1HeW84PenMTHgkXCFPi9EUr+q7aTw0qUEJRwe1jXWWn4Y7s9NYFHAj+OglPqaulJwE5BYpWeGzFev4mgZde+0NCWnqHh1Iq/fb5rXgCQF+CLqNTW0QUyZANHfU8Op8u0oUBKemSJJ6UD9f7a8iq1YnJdnTwGzpnisz3DMMCgd9UUz5eE+vyFxqc"}',
  credentialSecret: 'v1.JYq6G4FfcarOWYhk.pzha0YschNyhJZNjuX3FUg.X2xA7jYFsqfCXTBrttmOYg',
  estKeptKey: 'v1._b1PfZms0w1VXjVs.NL1P2RsvWXXX6ONUs9c.CdOiY8Oa4DQHB1y-XfgkGg',
};
const pkcs8Of = (key: ReturnType<typeof decryptPrivateKey>): string => key.export({ format: 'der', type: 'pkcs8' }).toString('base64');

describe('values sealed before the envelope was shared', () => {
  it('a CA key under the master key, and one under a passphrase, still open', () => {
    expect(pkcs8Of(decryptPrivateKey(OLD.caKey, MASTER_KEY))).toBe(OLD.pkcs8);
    expect(pkcs8Of(createSealing(MASTER_KEY).openKey(OLD.caKey))).toBe(OLD.pkcs8);
    expect(pkcs8Of(decryptPrivateKey(OLD.caKeyPassphrase, 'fixture passphrase'))).toBe(OLD.pkcs8);
    expect(() => decryptPrivateKey(OLD.caKey, 'another-master-key-0123')).toThrow(new KeyProtectionError('wrong master key: the CA key cannot be decrypted'));
    expect(() => decryptPrivateKey(OLD.caKeyPassphrase, 'wrong')).toThrow(new KeyProtectionError('wrong CA passphrase: the CA key cannot be decrypted'));
  });

  it('a key envelope relabelled from master to passphrase does not open (the kind is authenticated)', () => {
    const relabelled = JSON.stringify({ ...JSON.parse(OLD.caKey), secret: 'passphrase' });
    expect(() => decryptPrivateKey(relabelled, MASTER_KEY)).toThrow(/wrong CA passphrase/);
  });

  it('a credential secret still opens, for its own credential only', () => {
    const box = new SecretBox(MASTER_KEY);
    expect(box.open(OLD.credentialSecret, 'cred0123456789ab')).toBe('the-eab-hmac-key');
    expect(box.open(OLD.credentialSecret, 'cred0123456789ac')).toBeNull();
    expect(new SecretBox('another-master-key-0123').open(OLD.credentialSecret, 'cred0123456789ab')).toBeNull();
  });

  it('an EST kept key (a purpose seal) still opens, with its own AAD only', () => {
    const seal = createSealing(MASTER_KEY).secrets('est server-generated keys');
    expect(seal.open(OLD.estKeptKey, Buffer.from('certgate-est-key:v2:owner1:tx1'))?.toString()).toBe('kept key bytes');
    expect(seal.open(OLD.estKeptKey, Buffer.from('certgate-est-key:v2:owner1:tx2'))).toBeNull();
  });
});

describe('the envelope', () => {
  it('opens what it sealed, and nothing sealed under another key, to another context, or altered', () => {
    const key = deriveKey(MASTER_KEY, 'test purpose');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.string(), (bytes, context) => {
        const plain = Buffer.from(bytes);
        const sealed = gcmSeal(key, plain, context);
        expect(gcmOpen(key, sealed, context)).toEqual(plain);
        expect(gcmOpen(deriveKey(MASTER_KEY, 'another purpose'), sealed, context)).toBeNull();
        expect(gcmOpen(key, sealed, `${context}.`)).toBeNull();
        const tag = Buffer.from(sealed.tag);
        tag[0] = (tag[0] as number) ^ 1;
        expect(gcmOpen(key, { ...sealed, tag }, context)).toBeNull();
      }),
      { numRuns: 50 },
    );
  });

  it('writes v1.<iv>.<ciphertext>.<tag> and refuses anything else', () => {
    const seal = new AesGcmSeal(randomBytes(32));
    const env = seal.seal(Buffer.from('secret'), 'ctx');
    expect(env).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{22}$/);
    expect(seal.open(env, 'ctx')?.toString()).toBe('secret');
    for (const bad of [env.replace(/^v1/, 'v2'), env.split('.').slice(0, 3).join('.'), '', 'v1...']) expect(seal.open(bad, 'ctx')).toBeNull();
  });
});

describe('re-sealing under a new master key', () => {
  const from = createSealing(MASTER_KEY);
  const to = createSealing('the-new-master-key-98765');

  it('resealKey: a key opened under the old master key opens only under the new one', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const moved = resealKey(from, to, from.sealKey(privateKey), 'the test key');
    expect(pkcs8Of(to.openKey(moved))).toBe(pkcs8Of(privateKey));
    expect(() => from.openKey(moved)).toThrow(KeyProtectionError);
  });

  it('resealKey refuses, naming the value, what does not open under the old key; a passphrase key too', () => {
    expect(() => resealKey(to, from, OLD.caKey, 'the SCEP RA key ra1')).toThrow(RekeyRefused);
    expect(() => resealKey(to, from, OLD.caKey, 'the SCEP RA key ra1')).toThrow(
      'the SCEP RA key ra1 does not open under the current master key (wrong master key: the CA key cannot be decrypted); nothing was rotated',
    );
    expect(() => resealKey(from, to, OLD.caKeyPassphrase, 'the key of CA "x"')).toThrow(/^the key of CA "x" does not open under the current master key \(this key is protected by a CA passphrase/);
  });

  it('resealSecret: a secret moves to the new key with its context, or the rotation is refused', () => {
    const oldBox = new SecretBox(MASTER_KEY);
    const newBox = new SecretBox('the-new-master-key-98765');
    const moved = resealSecret(oldBox, newBox, OLD.credentialSecret, 'cred0123456789ab', 'the current secret');
    expect(newBox.open(moved, 'cred0123456789ab')).toBe('the-eab-hmac-key');
    expect(oldBox.open(moved, 'cred0123456789ab')).toBeNull();
    expect(() => resealSecret(newBox, oldBox, OLD.credentialSecret, 'cred0123456789ab', 'the current secret of acme credential c1')).toThrow(
      new RekeyRefused('the current secret of acme credential c1 does not open under the current master key; nothing was rotated'),
    );
  });
});
