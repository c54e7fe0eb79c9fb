// The core's TokenKeys (src/core/tokenKeys.ts) over the pooled PKCS#11 sessions: RSA keys for a
// front-end's own certificates (the SCEP RA), generated, used for decryption and signing, in the token.
import { createPublicKey } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { TokenDigest, TokenKeyReference, TokenKeySource, TokenKeyStore } from '../../core/tokenKeys.js';
import { readPin } from './config.js';
import { ckrOf } from './errors.js';
import { generateTokenKey, privateKeyOf, readTokenPublicKey } from './keys.js';
import { tokenSessions } from './sessions.js';

const RSA_SIGN: Record<TokenDigest, number> = {
  sha1: pkcs11js.CKM_SHA1_RSA_PKCS,
  sha224: pkcs11js.CKM_SHA224_RSA_PKCS,
  sha256: pkcs11js.CKM_SHA256_RSA_PKCS,
  sha384: pkcs11js.CKM_SHA384_RSA_PKCS,
  sha512: pkcs11js.CKM_SHA512_RSA_PKCS,
};

/**
 * What a token answers to a ciphertext whose padding is wrong. SoftHSM2 says CKR_GENERAL_ERROR,
 * which the session pool would otherwise take for a token that is gone and re-initialize the
 * module for: anyone could make it do so with a bad envelope. A token that really is gone fails
 * the CertRep's signature next, and is reported then.
 */
const REFUSED_CIPHERTEXT = new Set<number>([pkcs11js.CKR_ENCRYPTED_DATA_INVALID, pkcs11js.CKR_ENCRYPTED_DATA_LEN_RANGE, pkcs11js.CKR_GENERAL_ERROR]);

export async function openTokenKeyStore(source: TokenKeySource): Promise<TokenKeyStore> {
  const sessions = tokenSessions({ module: source.module, token: source.token }, readPin(source.pin));
  await sessions.check();
  return {
    async generateRsa(label) {
      const ref = await generateTokenKey(sessions, label, 'rsa-2048', { decrypt: true });
      const { spkiDer } = await readTokenPublicKey(sessions, ref);
      return { ref, publicKey: createPublicKey({ key: spkiDer, format: 'der', type: 'spki' }) };
    },
    decryptPkcs1(ref: TokenKeyReference, ciphertext: Buffer) {
      return sessions.use(async (use) => {
        use.lib.C_DecryptInit(use.session, { mechanism: pkcs11js.CKM_RSA_PKCS }, privateKeyOf(use, ref));
        try {
          return Buffer.from(await use.lib.C_DecryptAsync(use.session, ciphertext, Buffer.alloc(512)));
        } catch (e) {
          const code = ckrOf(e);
          if (code !== null && REFUSED_CIPHERTEXT.has(code)) return null;
          throw e;
        }
      });
    },
    signPkcs1(ref, digest, data) {
      return sessions.use(async (use) => {
        use.lib.C_SignInit(use.session, { mechanism: RSA_SIGN[digest] }, privateKeyOf(use, ref));
        return Buffer.from(await use.lib.C_SignAsync(use.session, data, Buffer.alloc(512)));
      });
    },
  };
}
