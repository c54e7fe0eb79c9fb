// RSA keys a front-end keeps in a PKCS#11 token for its own certificates (the SCEP RA): made in
// the token, used there, never seen by the front-end. The core implements it with the pkcs11 code
// (front-ends do not import src/ca); what the front-end stores is the reference alone.
import type { KeyObject } from 'node:crypto';

/** Where the token is; the PIN comes from an environment variable or a file, never from settings. */
export interface TokenKeySource {
  module: string;
  token: string;
  pin: { env: string } | { file: string };
}

/** A key in the token: its CKA_LABEL and CKA_ID (hex). */
export interface TokenKeyReference {
  label: string;
  idHex: string;
}

export type TokenDigest = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

export interface TokenKeyStore {
  /** An RSA-2048 key pair made in the token (sensitive, not extractable, for decryption and signing). */
  generateRsa(label: string): Promise<{ ref: TokenKeyReference; publicKey: KeyObject }>;
  /**
   * RSA PKCS#1 v1.5 decryption (CKM_RSA_PKCS) in the token; null when the token refuses the
   * ciphertext (its padding is wrong). As constant-time as the token is.
   */
  decryptPkcs1(ref: TokenKeyReference, ciphertext: Buffer): Promise<Buffer | null>;
  /** An RSA PKCS#1 v1.5 signature of `data` hashed with `digest`, made by the token. */
  signPkcs1(ref: TokenKeyReference, digest: TokenDigest, data: Buffer): Promise<Buffer>;
}

export interface TokenKeys {
  /** Logs in to the token (the PIN read now); throws, in words, when it cannot. */
  open(source: TokenKeySource): Promise<TokenKeyStore>;
}
