// The PKCS#11 backend against SoftHSM2: keys made in the token (sensitive, never extractable),
// certificates signed there that verify, sessions re-opened after the token closed them, a token
// that is gone reported as unavailable and used again once back, a wrong PIN refused in words.
import { X509Certificate } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTokenKey, generateTokenKey, readTokenPublicKey, TokenSigner } from '../src/ca/pkcs11/keys.js';
import { tokenSessions } from '../src/ca/pkcs11/sessions.js';
import { isDependencyDown } from '../src/core/unavailable.js';
import { randomSerial, signCertificateAsync } from '../src/pki/certificate.js';
import { encodeName, parseDnString } from '../src/pki/name.js';
import { toPem } from '../src/pki/pem.js';
import type { KeyAlgorithm } from '../src/core/types.js';
import { startSoftHsm, type SoftHsm } from './harness/softhsm.js';
import { until } from './helpers/until.js';

const hsm = startSoftHsm();
const PIN = '1234';

/** A self-signed CA certificate whose signature the token makes. */
async function selfSigned(signer: TokenSigner, spkiDer: Buffer, cn: string): Promise<X509Certificate> {
  const name = encodeName(parseDnString(`CN=${cn}`));
  const der = await signCertificateAsync(
    { serial: randomSerial(), issuerDer: name, subjectDer: name, spkiDer, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000), ca: {}, keyUsage: ['keyCertSign', 'cRLSign'], extendedKeyUsage: [] },
    signer,
  );
  return new X509Certificate(toPem('CERTIFICATE', der));
}

describe.skipIf(!hsm)('PKCS#11 keys in SoftHSM2', () => {
  const soft = hsm as SoftHsm;
  const ref = { module: soft?.module, token: 'unit' };

  beforeAll(() => {
    soft.initToken('unit', PIN);
    soft.initToken('other', PIN);
    soft.initToken('pinned', PIN);
  });
  afterAll(() => soft.remove());

  it.each<[KeyAlgorithm, string]>([
    ['ec-p256', 'ecdsa-with-SHA256'],
    ['ec-p384', 'ecdsa-with-SHA384'],
    ['rsa-2048', 'sha256WithRSAEncryption'],
  ])('generates a %s key in the token that signs certificates which verify (%s)', async (algorithm, sigAlg) => {
    const sessions = tokenSessions(ref, PIN);
    const key = await generateTokenKey(sessions, `key-${algorithm}`, algorithm);
    const pub = await readTokenPublicKey(sessions, key);
    expect(pub.algorithm).toBe(algorithm);
    const cert = await selfSigned(new TokenSigner(sessions, key, algorithm), pub.spkiDer, `unit ${algorithm}`);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.toLegacyObject().raw.toString('hex')).toContain(Buffer.from(`unit ${algorithm}`).toString('hex'));
    expect(cert.publicKey.asymmetricKeyType).toBe(algorithm.startsWith('ec') ? 'ec' : 'rsa');
    // openssl's name for the signature algorithm, as a relying party reads it.
    const { execFileSync } = await import('node:child_process');
    expect(execFileSync('openssl', ['x509', '-noout', '-text'], { input: cert.toString(), encoding: 'utf8' })).toContain(`Signature Algorithm: ${sigAlg}`);

    // The same key is found again by its label, with the id it was made with.
    expect(await findTokenKey(sessions, `key-${algorithm}`)).toEqual(key);
    // And the token says it can never leave.
    const listed = soft.listObjects('unit', PIN);
    const block = listed.split(/\n(?=\S)/).find((b) => b.startsWith('Private Key Object') && b.includes(`label:      key-${algorithm}`)) ?? '';
    expect(block).toMatch(/Access:\s+sensitive, always sensitive, never extractable/);
  });

  it('signs many certificates at once (sessions in the module from several threads)', async () => {
    const sessions = tokenSessions(ref, PIN);
    const key = await generateTokenKey(sessions, 'parallel', 'ec-p256');
    const pub = await readTokenPublicKey(sessions, key);
    const signer = new TokenSigner(sessions, key, 'ec-p256');
    const certs = await Promise.all(Array.from({ length: 200 }, (_, i) => selfSigned(signer, pub.spkiDer, `parallel ${i}`)));
    for (const cert of certs) expect(cert.verify(cert.publicKey)).toBe(true);
  });

  it('re-opens sessions the token closed, once, and signs', async () => {
    const sessions = tokenSessions(ref, PIN);
    const key = await generateTokenKey(sessions, 'reopen', 'ec-p256');
    const pub = await readTokenPublicKey(sessions, key);
    const signer = new TokenSigner(sessions, key, 'ec-p256');
    await selfSigned(signer, pub.spkiDer, 'before');
    // Every session of the application to this token closes (as after a token reset); the pool still holds one.
    await sessions.use(({ lib, session }) => lib.C_CloseAllSessions(lib.C_GetSessionInfo(session).slotID));
    const cert = await selfSigned(signer, pub.spkiDer, 'after');
    expect(cert.verify(cert.publicKey)).toBe(true);
  });

  it('a token that is gone is unavailable (a dependency outage); once back it signs again', async () => {
    const sessions = tokenSessions({ module: soft.module, token: 'other' }, PIN);
    const key = await generateTokenKey(sessions, 'gone', 'ec-p256');
    const pub = await readTokenPublicKey(sessions, key);
    const signer = new TokenSigner(sessions, key, 'ec-p256');
    await selfSigned(signer, pub.spkiDer, 'present');
    soft.unplug('other');
    try {
      const err = await selfSigned(signer, pub.spkiDer, 'absent').then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err?.message).toMatch(/^pkcs11 token "other" cannot sign/);
      expect(isDependencyDown(err)).toBe(true);
      // The other token of the same module is not disturbed.
      const unit = tokenSessions(ref, PIN);
      const k = await findTokenKey(unit, 'reopen');
      await selfSigned(new TokenSigner(unit, k, 'ec-p256'), (await readTokenPublicKey(unit, k)).spkiDer, 'unit still');
    } finally {
      soft.plugBack('other');
    }
    // The module re-reads its tokens at most once a second.
    let cert: X509Certificate | null = null;
    await until(async () => (cert = await selfSigned(signer, pub.spkiDer, 'back').catch(() => null)) !== null, 10_000, 'the token signs again');
    expect((cert as X509Certificate | null)?.verify((cert as unknown as X509Certificate).publicKey)).toBe(true);
  });

  it('refuses a wrong PIN in words, without the PIN in the message', async () => {
    // A token nobody logged in to yet (login is per token, not per session).
    const err = await tokenSessions({ module: soft.module, token: 'pinned' }, '99999999').check().then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toBe('pkcs11 token "pinned" refused the PIN: it is wrong');
    expect(isDependencyDown(err)).toBe(false);
  });

  it('says which token is missing', async () => {
    const err = await tokenSessions({ module: soft.module, token: 'nosuch' }, PIN).check().then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/pkcs11 token "nosuch" cannot sign: no token labelled "nosuch" is present/);
  });

  it('refuses a key that can leave the token', async () => {
    const sessions = tokenSessions(ref, PIN);
    await sessions.use(({ lib, session }) =>
      lib.C_GenerateKeyPair(
        session,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [{ type: pkcs11js.CKA_TOKEN, value: true }, { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from('06082a8648ce3d030107', 'hex') }, { type: pkcs11js.CKA_ID, value: Buffer.from([7]) }],
        [{ type: pkcs11js.CKA_TOKEN, value: true }, { type: pkcs11js.CKA_SIGN, value: true }, { type: pkcs11js.CKA_SENSITIVE, value: false }, { type: pkcs11js.CKA_EXTRACTABLE, value: true }, { type: pkcs11js.CKA_LABEL, value: 'loose' }, { type: pkcs11js.CKA_ID, value: Buffer.from([7]) }],
      ),
    );
    await expect(findTokenKey(sessions, 'loose')).rejects.toThrow(/can leave the token/);
  });
});
