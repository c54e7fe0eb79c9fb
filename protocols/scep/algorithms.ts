// The object identifiers SCEP (RFC 8894) and the CMS around it (RFC 5652) use, and the algorithms
// certgate accepts: what a request may use, and therefore what a reply answers with.

import { OID } from '../../src/pki/oids.js';

/** The CMS identifiers a pkiMessage uses (the values are oids.ts's). */
export const CMS = {
  data: OID.data,
  signedData: OID.signedData,
  envelopedData: OID.envelopedData,
  contentType: OID.contentType,
  messageDigest: OID.messageDigest,
  signingTime: OID.signingTime,
} as const;

/** SCEP's signed attributes (RFC 8894 §3.2.1), under id-VeriSign's 2.16.840.1.113733.1.9. */
export const SCEP_ATTR = {
  messageType: '2.16.840.1.113733.1.9.2',
  pkiStatus: '2.16.840.1.113733.1.9.3',
  failInfo: '2.16.840.1.113733.1.9.4',
  senderNonce: '2.16.840.1.113733.1.9.5',
  recipientNonce: '2.16.840.1.113733.1.9.6',
  transactionID: '2.16.840.1.113733.1.9.7',
} as const;

export const MESSAGE_TYPE = {
  CertRep: 3,
  RenewalReq: 17,
  PKCSReq: 19,
  CertPoll: 20,
  GetCert: 21,
  GetCRL: 22,
} as const;
export type MessageType = (typeof MESSAGE_TYPE)[keyof typeof MESSAGE_TYPE];
const MESSAGE_TYPES = new Set<number>(Object.values(MESSAGE_TYPE));
export const isMessageType = (n: number): n is MessageType => MESSAGE_TYPES.has(n);

export const PKI_STATUS = { SUCCESS: '0', FAILURE: '2', PENDING: '3' } as const;
export type PkiStatus = keyof typeof PKI_STATUS;

/** RFC 8894 §3.2.1.4. */
export const FAIL_INFO = { badAlg: '0', badMessageCheck: '1', badRequest: '2', badTime: '3', badCertId: '4' } as const;
export type FailInfo = keyof typeof FAIL_INFO;

export type DigestName = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

/** Digest algorithms a request may be signed with (MD5 is refused: badAlg). */
export const DIGESTS: Readonly<Record<string, DigestName>> = {
  [OID.sha1]: 'sha1',
  [OID.sha224]: 'sha224',
  [OID.sha256]: 'sha256',
  [OID.sha384]: 'sha384',
  [OID.sha512]: 'sha512',
};
export const DIGEST_OID: Readonly<Record<DigestName, string>> = Object.fromEntries(Object.entries(DIGESTS).map(([oid, name]) => [name, oid])) as Record<DigestName, string>;

export const RSA_ENCRYPTION = OID.rsaEncryption;
export const RSASSA_PSS = OID.rsassaPss;

/** SignerInfo signature algorithms: rsaEncryption takes its hash from digestAlgorithm; the others name theirs. */
export const SIGNATURES: Readonly<Record<string, { kind: 'rsa' | 'ecdsa'; hash: DigestName | null }>> = {
  [RSA_ENCRYPTION]: { kind: 'rsa', hash: null },
  [OID.sha1WithRSAEncryption]: { kind: 'rsa', hash: 'sha1' },
  [OID.sha224WithRSAEncryption]: { kind: 'rsa', hash: 'sha224' },
  [OID.sha256WithRSAEncryption]: { kind: 'rsa', hash: 'sha256' },
  [OID.sha384WithRSAEncryption]: { kind: 'rsa', hash: 'sha384' },
  [OID.sha512WithRSAEncryption]: { kind: 'rsa', hash: 'sha512' },
  [OID.ecdsaWithSHA1]: { kind: 'ecdsa', hash: 'sha1' },
  [OID.ecdsaWithSHA256]: { kind: 'ecdsa', hash: 'sha256' },
  [OID.ecdsaWithSHA384]: { kind: 'ecdsa', hash: 'sha384' },
  [OID.ecdsaWithSHA512]: { kind: 'ecdsa', hash: 'sha512' },
};

export interface ContentCipher {
  oid: string;
  /** node:crypto's name. */
  name: string;
  keyLength: number;
  ivLength: number;
}

export const AES_128_CBC: ContentCipher = { oid: OID.aes128Cbc, name: 'aes-128-cbc', keyLength: 16, ivLength: 16 };
export const AES_256_CBC: ContentCipher = { oid: OID.aes256Cbc, name: 'aes-256-cbc', keyLength: 32, ivLength: 16 };
export const DES_EDE3_CBC: ContentCipher = { oid: OID.desEde3Cbc, name: 'des-ede3-cbc', keyLength: 24, ivLength: 8 };
const AES_192_CBC: ContentCipher = { oid: OID.aes192Cbc, name: 'aes-192-cbc', keyLength: 24, ivLength: 16 };
/** Content encryption: AES-CBC and 3DES (single DES, RC2 and the rest are refused: badAlg). */
export const CIPHERS: Readonly<Record<string, ContentCipher>> = Object.fromEntries([AES_128_CBC, AES_192_CBC, AES_256_CBC, DES_EDE3_CBC].map((c) => [c.oid, c]));

/** What GetCACaps advertises (RFC 8894 §3.5.2); see CLIENTS.md for why exactly these. */
export const CA_CAPABILITIES = ['AES', 'DES3', 'POSTPKIOperation', 'Renewal', 'SHA-256', 'SHA-384', 'SHA-512', 'SCEPStandard'] as const;
