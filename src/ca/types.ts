// The interface every CA backend implements (the local CA today; upstream CAs later), modelled
// on step-ca's cas/ interface: the worker hands over a fully decided profile, the backend signs.
import type { ExtendedKeyUsage, KeyUsage } from '../core/types.js';
import type { SubjectAltNameSet } from '../pki/certificate.js';
import type { CrlEntry } from '../pki/crl.js';

export interface IssueRequest {
  subjectDer: Buffer;
  spkiDer: Buffer;
  san: SubjectAltNameSet;
  notBefore: Date;
  notAfter: Date;
  keyUsage: KeyUsage[];
  extendedKeyUsage: ExtendedKeyUsage[];
  /** Serial magnitude; the backend draws one when absent. Enrollment passes the one its claim allocated. */
  serial?: Buffer;
  /**
   * The enrollment request this certificate answers. A retried request arrives again with the same
   * id and serial, so an upstream CA can drop the duplicate instead of issuing twice.
   */
  requestId?: string;
  /** id-pkix-ocsp-nocheck, for the CA's delegated OCSP signers. */
  ocspNoCheck?: boolean;
  /** Leave out the CRL and OCSP pointers (an OCSP signer must not be checked through OCSP). */
  noStatusPointers?: boolean;
}

/** Where relying parties find status and the issuer, printed into each certificate. */
export interface StatusPointers {
  crlUrl: string;
  ocspUrl: string;
  caIssuersUrl: string;
}

export interface CrlRequest {
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: CrlEntry[];
}

export interface IssuedCertificate {
  der: Buffer;
  pem: string;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
}

export interface CaBackend {
  readonly caId: string;
  /** This CA's certificate, PEM. */
  readonly certificatePem: string;
  /** This CA's certificate followed by its parents up to (and including) the root, PEM each. */
  readonly chainPem: readonly string[];
  readonly notAfter: Date;
  issue(request: IssueRequest): Promise<IssuedCertificate>;
  /** A CRL signed by this CA, DER. */
  signCrl(request: CrlRequest): Buffer;
}
