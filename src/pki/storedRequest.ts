// How a request's CSR is kept in its record: PEM, labelled by its format, so that the worker reads
// back exactly what the front-end accepted (a PKCS#10 CSR, or CMP's CRMF request message).
import { CsrError, parseCsr, type ParsedCsr } from './csr.js';
import { parseCrmfRequest } from './crmf.js';
import { pemBlocks, PemError, toPem } from './pem.js';

const PKCS10_LABEL = 'CERTIFICATE REQUEST';
/** RFC 7468 names no label for RFC 4211's CertReqMsg; this one says what it is. */
const CRMF_LABEL = 'CERTIFICATE REQUEST MESSAGE';

export function storedRequestPem(csr: ParsedCsr): string {
  return toPem(csr.format === 'crmf' ? CRMF_LABEL : PKCS10_LABEL, csr.der);
}

/** The format a stored request is in, by its PEM label (without parsing it). */
export function storedRequestFormat(pem: string): 'pkcs10' | 'crmf' {
  return pem.includes(`-----BEGIN ${CRMF_LABEL}-----`) ? 'crmf' : 'pkcs10';
}

/** A stored request read back; throws CsrError as parseCsr does. */
export function parseStoredRequest(pem: string): ParsedCsr {
  let blocks;
  try {
    blocks = pemBlocks(pem);
  } catch (e) {
    throw new CsrError(`malformed CSR: ${(e as PemError).message}`);
  }
  const crmf = blocks.find((b) => b.label === CRMF_LABEL);
  return crmf ? parseCrmfRequest(crmf.der) : parseCsr(pem);
}
