// POST /v1/verify (emCA's verifySignature): what certgate can say about a certificate shown to
// it — ours or not, correctly signed, in its validity period, revoked — and POST
// /v1/verify/signature: a detached signature checked against the key of one of our certificates.
import { constants, verify as verifySignature, X509Certificate, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { badRequest, unprocessable } from '../../src/core/errors.js';
import type { CoreServices } from '../../src/core/protocol.js';
import type { CaRecord, CertificateRecord } from '../../src/core/types.js';
import { serialOrNull } from '../../src/pki/serial.js';
import { pemBlocks, PemError } from '../../src/pki/pem.js';
import { authorize, certificateResource, mayDo } from './auth.js';
import { issuedCertificate } from './followedCertificate.js';
import { certmanKeyAlgorithm } from './keyAlgorithm.js';
import type { RestRoutes } from './route.js';

const time = z.string().meta({ format: 'date-time' });
const pem = z.string().min(1).max(65_536);
/** A PEM bundle is a certificate and its issuers; a longer one is not a chain anyone needs checked. */
const MAX_CHAIN = 10;

const verifyBody = z
  .object({
    certificatePem: pem.describe('the certificate to check; certificates after the first count as its chain'),
    chainPem: pem.optional().describe('issuers of a certificate that is not ours, leaf-most first'),
  })
  .strict();

const verdictSchema = z
  .object({
    ours: z.boolean().describe('signed by one of certgate\'s CAs'),
    ca_id: z.string().nullable().describe('the certgate CA whose name and key identifier the certificate names as its issuer'),
    certificate_id: z.string().nullable().describe('certgate\'s record of this very certificate (by issuer and serial number)'),
    subject: z.string(),
    issuer: z.string(),
    serial_number: z.string(),
    valid_from: time,
    valid_to: time,
    signature_valid: z.boolean(),
    verified_by: z.enum(['ca', 'chain', 'self']).nullable().describe('what the signature verified against: our CA, the chain given, the certificate itself; null: nothing'),
    expired: z.boolean(),
    not_yet_valid: z.boolean(),
    revoked: z.boolean().nullable().describe('null: unknown (certgate knows the status of its own certificates only)'),
    revoked_at: time.nullable(),
    revocation_reason: z.string().nullable().describe('certificateHold: suspended'),
    valid: z.boolean().describe('signature valid, within its validity period and not revoked; for a foreign certificate this is relative to the chain given, not a statement of trust'),
    problems: z.array(z.string()).describe('why it is not valid, in words'),
  })
  .meta({ id: 'Verification' });

const HASHES = ['sha256', 'sha384', 'sha512'] as const;
type Hash = (typeof HASHES)[number];

const signatureBody = z
  .object({
    certificateId: z.string().min(1).max(200).optional().describe('one of our certificates; give this or certificatePem'),
    certificatePem: pem.optional().describe('one of our certificates, as PEM; give this or certificateId'),
    data: z.base64().max(262_144).describe('the signed bytes, base64'),
    signature: z.base64().max(4096).describe('base64: a DER ECDSA signature, or an RSA signature (PKCS#1 v1.5, or PSS with padding: pss)'),
    hash: z.enum(HASHES).optional().describe('default: the curve\'s hash for EC keys (P-256: sha256, P-384: sha384, P-521: sha512), sha256 for RSA'),
    padding: z.enum(['pkcs1', 'pss']).optional().describe('RSA keys only; default pkcs1 (v1.5). pss: MGF1 with the same hash, any salt length'),
  })
  .strict()
  .refine((b) => (b.certificateId === undefined) !== (b.certificatePem === undefined), { message: 'give certificateId or certificatePem (one of them)', path: ['certificateId'] });

const signatureVerdictSchema = z.object({
  valid: z.boolean().describe('the signature is the key\'s signature over data; say nothing of the certificate\'s own status (see certificate_status)'),
  certificate_id: z.string(),
  ca_id: z.string(),
  key_algorithm: z.string(),
  hash: z.enum(HASHES).nullable().describe('null for Ed25519, which hashes internally'),
  padding: z.enum(['pkcs1', 'pss']).nullable().describe('null for non-RSA keys'),
  certificate_status: z.enum(['active', 'revoked', 'expired', 'not_yet_valid']).describe('a suspended certificate is revoked with reason certificateHold'),
  revoked_at: time.nullable(),
  revocation_reason: z.string().nullable(),
});

/** The certificates in a PEM text, parsed; `field` names it in the 400 a bad one gets. */
function certificatesIn(text: string, field: string): X509Certificate[] {
  let blocks: { label: string; der: Buffer }[];
  try {
    blocks = pemBlocks(text).filter((b) => b.label === 'CERTIFICATE');
  } catch (e) {
    if (e instanceof PemError) throw badRequest(`${field}: ${e.message}`);
    throw e;
  }
  if (!blocks.length) throw badRequest(`${field}: no "-----BEGIN CERTIFICATE-----" block`);
  if (blocks.length > MAX_CHAIN) throw badRequest(`${field}: at most ${MAX_CHAIN} certificates`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b.der);
    } catch {
      throw badRequest(`${field}: certificate ${i + 1} is not a DER X.509 certificate`);
    }
  });
}

/** `verify` throws for a key and signature algorithm that do not go together: that is a no. */
function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

const serialOf = (cert: X509Certificate): string | null => serialOrNull(cert.serialNumber);

const oneLine = (name: string): string => name.split('\n').filter(Boolean).join(', ');

interface Provenance {
  /** The CA named as issuer (by name and key identifier), whether or not its signature verifies. */
  claimed: CaRecord | undefined;
  /** The CA whose key verifies the signature. */
  signer: CaRecord | undefined;
  /** Our record of exactly this certificate. */
  record: CertificateRecord | undefined;
  /** The certificate is one of our CAs' own (which have no certificate record, and are not revoked). */
  caItself: CaRecord | undefined;
}

export function mountVerifyRoutes(routes: RestRoutes, core: CoreServices): void {
  const { queries } = core;
  // CA certificates never change: each is parsed once per process.
  const parsedCas = new Map<string, X509Certificate>();
  const caCertificate = (ca: CaRecord): X509Certificate => {
    let x509 = parsedCas.get(ca.id);
    if (!x509) parsedCas.set(ca.id, (x509 = new X509Certificate(ca.certificatePem)));
    return x509;
  };

  async function provenanceOf(cert: X509Certificate): Promise<Provenance> {
    const cas = await queries.caList();
    const named = cas.filter((ca) => cert.checkIssued(caCertificate(ca)));
    const signer = named.find((ca) => signedBy(cert, caCertificate(ca)));
    const serial = serialOf(cert);
    // By issuer and serial; the bytes must match too (a serial alone could be copied into a forgery).
    const stored = signer && serial ? await queries.certificateBySerial(signer.id, serial) : undefined;
    const record = stored && new X509Certificate(stored.certificatePem).raw.equals(cert.raw) ? stored : undefined;
    const caItself = signer && !record ? cas.find((ca) => caCertificate(ca).raw.equals(cert.raw)) : undefined;
    return { claimed: signer ?? named[0], signer, record, caItself };
  }

  routes.add(
    {
      method: 'post',
      path: '/verify',
      tag: 'Verify',
      summary: 'Check a certificate: is it ours, is its signature valid, is it expired or not yet valid, is it revoked',
      description: 'A certificate of ours is checked against its CA and our records; another is checked against the chain given (its issuer must be in it), and its revocation status is unknown to certgate.',
      permission: 'any credential (the certificate id only with read on its CA)',
      body: verifyBody,
      responses: { 200: { description: 'The verdict', schema: verdictSchema } },
    },
    async ({ req, res, body }) => {
      const [cert, ...bundled] = certificatesIn(body.certificatePem, 'certificatePem') as [X509Certificate, ...X509Certificate[]];
      const chain = [...bundled, ...(body.chainPem ? certificatesIn(body.chainPem, 'chainPem') : [])];
      const { claimed, signer, record, caItself } = await provenanceOf(cert);
      const problems: string[] = [];

      let verifiedBy: 'ca' | 'chain' | 'self' | null = null;
      if (signer) verifiedBy = 'ca';
      else if (chain.some((issuer) => signedBy(cert, issuer))) verifiedBy = 'chain';
      else if (signedBy(cert, cert)) verifiedBy = 'self';
      if (claimed && !signer) problems.push(`it names CA ${claimed.name} as its issuer, but that CA's key does not verify its signature: it was altered or forged`);
      else if (!verifiedBy) problems.push(chain.length ? 'no certificate in the chain given signed it' : 'not issued by a certgate CA, and no chain was given to check its signature against');

      const now = Date.now();
      const validFrom = new Date(cert.validFrom);
      const validTo = new Date(cert.validTo);
      const expired = validTo.getTime() < now;
      const notYetValid = validFrom.getTime() > now;
      if (expired) problems.push(`expired on ${validTo.toISOString()}`);
      if (notYetValid) problems.push(`not valid before ${validFrom.toISOString()}`);

      // certgate does not revoke its CAs; a certificate it issued has a record that says.
      const revoked = record ? record.revokedAt !== null : caItself ? false : null;
      if (record?.revokedAt) problems.push(`revoked on ${record.revokedAt.toISOString()} (${record.revocationReason ?? 'unspecified'})`);
      if (signer && !record && !caItself) problems.push('signed by a certgate CA, but certgate has no record of it');

      res.json({
        ours: !!signer,
        ca_id: claimed?.id ?? null,
        // Status is public (OCSP, CRLs); which record it is, is for those who may read the CA.
        certificate_id: record && mayDo(core, req, 'read', await certificateResource(core, record)) ? record.id : null,
        subject: oneLine(cert.subject),
        issuer: oneLine(cert.issuer),
        serial_number: serialOf(cert) ?? cert.serialNumber.toLowerCase(),
        valid_from: validFrom.toISOString(),
        valid_to: validTo.toISOString(),
        signature_valid: verifiedBy !== null,
        verified_by: verifiedBy,
        expired,
        not_yet_valid: notYetValid,
        revoked,
        revoked_at: record?.revokedAt?.toISOString() ?? null,
        revocation_reason: record?.revocationReason ?? null,
        valid: verifiedBy !== null && !expired && !notYetValid && revoked !== true,
        problems,
      } satisfies z.output<typeof verdictSchema>);
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/verify/signature',
      tag: 'Verify',
      summary: 'Check a detached signature over data against the public key of one of our certificates',
      permission: 'read on the certificate\'s CA',
      body: signatureBody,
      responses: { 200: { description: 'The verdict', schema: signatureVerdictSchema } },
    },
    async ({ req, res, body }) => {
      let record: CertificateRecord;
      if (body.certificateId !== undefined) {
        record = await issuedCertificate(core, body.certificateId);
      } else {
        const [cert] = certificatesIn(body.certificatePem as string, 'certificatePem') as [X509Certificate];
        const found = (await provenanceOf(cert)).record;
        if (!found) throw unprocessable('certificatePem: not a certificate certgate issued (POST /v1/verify says more)');
        record = found;
      }
      await authorize(core, req, 'read', await certificateResource(core, record));

      const key = new X509Certificate(record.certificatePem).publicKey;
      const rsa = key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss';
      if (body.padding && !rsa) throw badRequest(`padding: applies to RSA keys; this certificate's key is ${certmanKeyAlgorithm(record.keyAlgorithm)}`);
      const edwards = key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448';
      if (body.hash && edwards) throw badRequest(`hash: ${key.asymmetricKeyType} signs the data itself, without a separate hash`);
      const hash = edwards ? null : (body.hash ?? defaultHash(key));
      const padding = rsa ? (body.padding ?? (key.asymmetricKeyType === 'rsa-pss' ? 'pss' : 'pkcs1')) : null;

      const now = Date.now();
      res.json({
        valid: checkSignature(key, hash, padding, Buffer.from(body.data, 'base64'), Buffer.from(body.signature, 'base64')),
        certificate_id: record.id,
        ca_id: record.caId,
        key_algorithm: certmanKeyAlgorithm(record.keyAlgorithm),
        hash,
        padding,
        certificate_status: record.revokedAt ? 'revoked' : record.validTo.getTime() < now ? 'expired' : record.validFrom.getTime() > now ? 'not_yet_valid' : 'active',
        revoked_at: record.revokedAt?.toISOString() ?? null,
        revocation_reason: record.revocationReason,
      } satisfies z.output<typeof signatureVerdictSchema>);
    },
  );
}

const CURVE_HASH: Record<string, Hash> = { prime256v1: 'sha256', secp384r1: 'sha384', secp521r1: 'sha512' };

function defaultHash(key: KeyObject): Hash {
  return key.asymmetricKeyType === 'ec' ? (CURVE_HASH[key.asymmetricKeyDetails?.namedCurve ?? ''] ?? 'sha256') : 'sha256';
}

function checkSignature(key: KeyObject, hash: Hash | null, padding: 'pkcs1' | 'pss' | null, data: Buffer, signature: Buffer): boolean {
  try {
    return verifySignature(
      hash,
      data,
      {
        key,
        dsaEncoding: 'der',
        ...(padding === 'pss' ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO } : {}),
      },
      signature,
    );
  } catch {
    // A signature that is not even well-formed (bad DER, wrong length) is simply not valid.
    return false;
  }
}
