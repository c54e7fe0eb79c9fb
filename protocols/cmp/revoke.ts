// rr → rp (RFC 9483 §4.2): revocation of one certificate, named by issuer and serial, by its
// holder (the request signed with that very certificate: possession of its key is the authority,
// as for ACME's revokeCert by the certificate's key); the reason from crlEntryDetails. A MAC
// credential is put to the one authorization decision, which today lets no protocol credential
// revoke: the refusal is in the trail, and operators revoke over REST.
import { X509Certificate } from 'node:crypto';
import { AppError } from '../../src/core/errors.js';
import { principalOfCredential } from '../../src/auth/authorize.js';
import { REVOCATION_REASON_CODES, type CertificateRecord, type RevocationReason } from '../../src/core/types.js';
import { readCertificateBasics } from '../../src/pki/certInfo.js';
import { fromPem } from '../../src/pki/pem.js';
import { normalizeSerialHex } from '../../src/pki/serial.js';
import { auditContextOf, recordEnd, type CmpDeps, type Exchange, type Handler } from './exchange.js';
import type { PkiBody, RevDetails } from './messages.js';
import { CmpRefusal } from './refusal.js';

const REASON_OF_CODE = new Map<number, RevocationReason>(Object.entries(REVOCATION_REASON_CODES).map(([name, code]) => [code, name as RevocationReason]));

function reasonOf(code: number | null): RevocationReason {
  if (code === null) return 'unspecified';
  const reason = REASON_OF_CODE.get(code);
  // removeFromCRL lifts a hold: it is not a revocation (RFC 5280 §5.3.1).
  if (!reason || reason === 'removeFromCRL') throw new CmpRefusal('badRequest', `CRL reason code ${code} is not a reason to revoke for`);
  return reason;
}

const caSubjectMatches = (caPem: string, issuerDer: Buffer): boolean => readCertificateBasics(fromPem(caPem, ['CERTIFICATE'])).subjectDer.equals(issuerDer);

async function certificateOf(deps: CmpDeps, details: RevDetails): Promise<CertificateRecord> {
  if (!details.issuerDer || !details.serialHex) throw new CmpRefusal('badCertId', 'the rr names its certificate by issuer and serialNumber in certDetails (RFC 9483 section 4.2)');
  const serial = normalizeSerialHex(details.serialHex);
  for (const ca of await deps.core.catalogue.cas()) {
    if (!caSubjectMatches(ca.certificatePem, details.issuerDer)) continue;
    const certificate = await deps.core.queries.certificateBySerial(ca.id, serial);
    if (certificate) return certificate;
  }
  throw new CmpRefusal('badCertId', 'certgate issued no certificate with this issuer and serial number');
}

async function mayRevoke(deps: CmpDeps, x: Exchange, certificate: CertificateRecord): Promise<void> {
  if (certificate.productId !== x.product.id) throw new CmpRefusal('notAuthorized', `the certificate was issued under another product than ${x.product.name}`);
  if (x.sender.kind === 'signature') {
    if (x.sender.x509.raw.equals(new X509Certificate(certificate.certificatePem).raw)) return;
    throw new CmpRefusal('notAuthorized', 'an rr is signed by the certificate it revokes');
  }
  const principal = principalOfCredential(x.sender.credential, x.sender.principal);
  const request = certificate.requestId ? await deps.core.queries.requestById(certificate.requestId) : undefined;
  try {
    await deps.core.authz.require(principal, 'revoke', { kind: 'certificate', id: certificate.id, caId: certificate.caId, productId: certificate.productId, requester: request?.requester ?? null }, auditContextOf(x));
  } catch (e) {
    if (e instanceof AppError) throw new CmpRefusal('notAuthorized', e.message);
    throw e;
  }
}

export const revoke: Handler = async (deps, x) => {
  const body = x.message.body as Extract<PkiBody, { type: 'rr' }>;
  const details = body.revocations[0];
  if (body.revocations.length !== 1 || !details) throw new CmpRefusal('badRequest', `the rr carries ${body.revocations.length} revocations; certgate takes exactly one (RFC 9483 section 4.2)`);
  const reason = reasonOf(details.reasonCode);
  const certificate = await certificateOf(deps, details);
  await mayRevoke(deps, x, certificate);
  if (certificate.revokedAt && certificate.revocationReason !== 'certificateHold') throw new CmpRefusal('certRevoked', `the certificate is already revoked (${certificate.revocationReason})`);
  try {
    await deps.core.revocations.revoke(certificate.id, { reason }, auditContextOf(x), () => undefined);
  } catch (e) {
    if (e instanceof AppError && e.kind === 'conflict' && (await deps.core.queries.certificateById(certificate.id))?.revokedAt) throw new CmpRefusal('certRevoked', 'the certificate is already revoked');
    if (e instanceof AppError) throw new CmpRefusal('badRequest', e.message);
    throw e;
  }
  await recordEnd(deps, x, 'revoked', { certificate: certificate.id, serial: certificate.serialNumber, reason });
  return { body: { type: 'rp', statuses: [{ status: 'accepted', statusString: [], failInfo: [] }] } };
};
