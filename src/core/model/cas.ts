// CAs and the keys and usages they sign with.

export type KeyAlgorithm = 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'];

export type ExtendedKeyUsage = 'serverAuth' | 'clientAuth' | 'codeSigning' | 'emailProtection' | 'timeStamping' | 'ocspSigning';
export type KeyUsage =
  | 'digitalSignature'
  | 'nonRepudiation'
  | 'keyEncipherment'
  | 'dataEncipherment'
  | 'keyAgreement'
  | 'keyCertSign'
  | 'cRLSign';

/**
 * Where a CA's key lives and who signs: `local`, a key certgate keeps sealed under the master key
 * (or a passphrase); `pkcs11`, a key in a PKCS#11 token that never leaves it; `upstream-acme`,
 * another CA reached over ACME, which signs (certgate keeps only its ACME account key).
 */
export const CA_BACKEND_KINDS = ['local', 'pkcs11', 'upstream-acme'] as const;
export type CaBackendKind = (typeof CA_BACKEND_KINDS)[number];

export interface CaRecord {
  id: string;
  name: string;
  kind: 'root' | 'issuing';
  parentId: string | null;
  keyAlgorithm: KeyAlgorithm;
  subject: string;
  certificatePem: string;
  /**
   * JSON envelope produced by ca/keyProtection: AES-256-GCM ciphertext, never the plain key (for an
   * upstream ACME CA, its account key). null when certgate holds no key of this CA (PKCS#11).
   */
  encryptedKey: string | null;
  backend: CaBackendKind;
  /**
   * The backend's own settings, JSON as the backend wrote it and parsed by the backend (a PKCS#11
   * key reference, an upstream's directory and account). Never a secret: PINs and HMAC keys are
   * named (an environment variable, a file), not stored. null for `local`.
   */
  backendConfig: Record<string, unknown> | null;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
}
