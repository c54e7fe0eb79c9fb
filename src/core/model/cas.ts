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

export interface CaRecord {
  id: string;
  name: string;
  kind: 'root' | 'issuing';
  parentId: string | null;
  keyAlgorithm: KeyAlgorithm;
  subject: string;
  certificatePem: string;
  /** JSON envelope produced by ca/keyProtection: AES-256-GCM ciphertext, never the plain key. */
  encryptedKey: string;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
}
