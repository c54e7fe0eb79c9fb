// The certificate a renewal, rekey or replacement follows: finding it, where its key came from,
// and the managed-mode order that reproduces it with a new key.
import { notFound, unprocessable } from '../../src/core/errors.js';
import type { CoreServices } from '../../src/core/protocol.js';
import type { CertificateRecord, KeyAlgorithm } from '../../src/core/types.js';
import type { ManagedKey } from './issuance.js';
import { keyAlgorithmInput } from './keyAlgorithm.js';

/** One of our certificates: imported ones are renewed by their own CA (and can be marked renewed). */
export async function issuedCertificate(core: CoreServices, certificateId: string): Promise<CertificateRecord> {
  const cert = await core.queries.certificateById(certificateId);
  if (cert) return cert;
  const listed = await core.queries.inventoryById(certificateId);
  if (listed) throw unprocessable(`certificate ${certificateId} was imported: it is renewed by the CA that issued it (mark it renewed instead)`);
  throw notFound(`certificate ${certificateId} not found`);
}

export async function keySourceOf(core: CoreServices, cert: CertificateRecord): Promise<'csr' | 'managed'> {
  const request = cert.requestId ? await core.queries.requestById(cert.requestId) : undefined;
  return request?.details.keySource ?? 'csr';
}

/** A managed key for the same names as `cert`, of its key algorithm unless another is asked for. */
export function managedKeyLike(cert: CertificateRecord, keyAlgorithm?: KeyAlgorithm): ManagedKey {
  return {
    commonName: cert.commonName ?? cert.sanDns[0] ?? cert.sanIp[0] ?? '',
    sanDns: cert.sanDns,
    sanIp: cert.sanIp,
    keyAlgorithm: keyAlgorithm ?? keyAlgorithmInput.parse(cert.keyAlgorithm),
  };
}
