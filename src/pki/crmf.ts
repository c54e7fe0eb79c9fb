// A CRMF certificate request message (RFC 4211 CertReqMsg), as CMP's ir, cr and kur carry them, read
// into the form every request takes in the core (ParsedCsr), so that the product decides its
// certificate exactly as for a PKCS#10 CSR. Its proof of possession, when it is a signature, is a
// signature over the CertRequest by the requested key: the same check as a CSR's.
import type { ParsedCsr } from './csr.js';

export interface ParsedCrmfRequest extends ParsedCsr {
  format: 'crmf';
  /** certReqId: what responses, certConf and pollReq name the request by. */
  certReqId: bigint;
  /** The id-regCtrl-oldCertID control: the certificate a key update replaces. */
  oldCertId: { issuerDer: Buffer; serialHex: string } | null;
  /** How possession of the key is proved; only `signature` is verified (infoDer, signature). */
  popo: 'signature' | 'raVerified' | 'keyEncipherment' | 'keyAgreement' | 'none';
  /** The validity the requester asked for (the product decides the certificate's). */
  validity: { notBefore: Date | null; notAfter: Date | null } | null;
}

/** Reads one CertReqMsg (DER). Throws CsrError with a readable reason. */
export function parseCrmfRequest(der: Buffer): ParsedCrmfRequest {
  void der;
  throw new Error('parseCrmfRequest: not built yet');
}
