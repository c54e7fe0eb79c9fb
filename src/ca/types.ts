// The interface every CA backend implements (the local CA today; upstream CAs later), modelled
// on step-ca's cas/ interface: the worker hands over a fully decided profile, the backend signs.
import type { ExtendedKeyUsage, KeyUsage } from '../core/types.js';
import type { SubjectAltNameSet } from '../pki/certificate.js';

export interface IssueRequest {
  subjectDer: Buffer;
  spkiDer: Buffer;
  san: SubjectAltNameSet;
  notBefore: Date;
  notAfter: Date;
  keyUsage: KeyUsage[];
  extendedKeyUsage: ExtendedKeyUsage[];
  /** Serial magnitude; the backend draws one when absent. */
  serial?: Buffer;
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
}
