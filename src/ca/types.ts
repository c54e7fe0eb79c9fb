// The interface every CA backend implements (the local CA today; upstream CAs later), modelled
// on step-ca's cas/ interface: the worker hands over a fully decided profile, the backend signs.
import type { CaRecord, ExtendedKeyUsage, KeyUsage } from '../core/types.js';
import type { UpstreamRevocation } from '../core/upstreamRevocation.js';
import type { CaCapabilities } from '../core/caCapabilities.js';
import type { SubjectAltNameSet } from '../pki/certificate.js';
import type { CrlEntry } from '../pki/crl.js';
import type { OcspAnswerContent } from '../pki/ocsp.js';

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
  /**
   * The requester's CSR, PEM, as it was accepted. A backend that signs locally uses the decided
   * profile above and ignores it; an upstream CA is sent it (the upstream signs the CSR's key).
   */
  csrPem?: string;
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
  /**
   * The issuer chain the backend returned with this certificate (upstream CAs), leaf's issuer
   * first, PEM each. Absent for local signing: the CA's own chain applies.
   */
  chainPem?: string[];
}

/** Why a backend that depends on something outside the process (a token) cannot sign now. */
export interface CaReadiness {
  /** What is missing, as /readyz names it: `pkcs11 token "X"`. */
  dependency: string;
  problem: string;
}

/** A certificate to revoke at an upstream CA (the core's revocation service decides when). */
export type { UpstreamRevocation } from '../core/upstreamRevocation.js';

export interface CaBackend {
  readonly caId: string;
  /** This CA's certificate, PEM. */
  readonly certificatePem: string;
  /** This CA's certificate followed by its parents up to (and including) the root, PEM each. */
  readonly chainPem: readonly string[];
  readonly notAfter: Date;
  /** What this backend can do; the same as capabilitiesOf(its record), kept here for callers holding a backend. */
  readonly capabilities: Readonly<CaCapabilities>;
  issue(request: IssueRequest): Promise<IssuedCertificate>;
  /** A CRL signed by this CA, DER. Only backends with the `crl` capability are asked. */
  signCrl(request: CrlRequest): Promise<Buffer>;
  /**
   * Revokes at the upstream CA; present exactly when capabilities.revoke is 'upstream'. Throws
   * UpstreamProblem (src/core/upstreamRevocation.ts) with the upstream's problem type for what it
   * answered (alreadyRevoked counts as done), a connection error when it cannot be reached.
   */
  revokeUpstream?(request: UpstreamRevocation): Promise<void>;
  /** Whether it can sign now; present for a backend that depends on something outside the process. */
  readiness?(): Promise<CaReadiness | null>;
  /**
   * Present for a CA whose own key signs its OCSP answers instead of a delegated signer (a key in
   * a token): the answer, signed by the CA, with the CA as responder.
   */
  signOcspResponse?(content: OcspAnswerContent): Promise<Buffer>;
}

/**
 * Builds the backend of a CA whose backend is not `local`. Registered per kind by the runtime, so
 * the registry needs neither a PKCS#11 library nor an ACME client to load a local CA.
 */
export type CaBackendLoader = (ca: CaRecord, context: { chainPem: string[]; pointers: StatusPointers | null }) => Promise<CaBackend>;
