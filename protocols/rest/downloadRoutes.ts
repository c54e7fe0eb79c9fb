// A certificate as a file: PEM, DER, PEM with its chain, certs-only PKCS#7, or (for an escrowed
// key) PKCS#12 under a password the caller chooses.
import type { Response } from 'express';
import { z } from 'zod';
import { unprocessable } from '../../src/core/errors.js';
import type { CoreServices } from '../../src/core/protocol.js';
import type { InventoryRecord } from '../../src/core/types.js';
import { pemBlocks, toPem } from '../../src/pki/pem.js';
import { buildPkcs12 } from '../../src/pki/pkcs12.js';
import { certsOnlyPkcs7 } from '../../src/pki/pkcs7.js';
import { auditContextOf, authorizedCertificate } from './auth.js';
import type { RestRoutes } from './route.js';
import { idParams } from './schemas.js';

const FORMATS = ['pem', 'der', 'chain', 'pkcs7'] as const;
type Format = (typeof FORMATS)[number] | 'pkcs12';

const CONTENT_TYPES: Record<Format, string> = {
  pem: 'application/x-pem-file',
  der: 'application/pkix-cert',
  chain: 'application/pem-certificate-chain',
  pkcs7: 'application/pkcs7-mime; smime-type=certs-only',
  pkcs12: 'application/x-pkcs12',
};
const EXTENSIONS: Record<Format, string> = { pem: 'pem', der: 'cer', chain: 'pem', pkcs7: 'p7b', pkcs12: 'p12' };

const downloadQuery = z
  .object({
    format: z
      .enum(FORMATS, { error: 'format must be one of pem, der, chain, pkcs7 (pkcs12 is a POST with {format, password}: a password never goes in a URL)' })
      .default('pem'),
  })
  .strict();

const pkcs12Body = z
  .object({
    format: z.literal('pkcs12'),
    password: z.string().min(4).max(1024).describe('protects the key and the file; never logged or stored'),
  })
  .strict();

/** The certificate (DER) and the chain we have for it, the certificate first. */
async function certificateAndChain(core: CoreServices, cert: InventoryRecord): Promise<[Buffer, ...Buffer[]]> {
  // An imported record holds whatever chain came with it, after its certificate.
  const [leaf, ...rest] = pemBlocks(cert.certificatePem).filter((b) => b.label === 'CERTIFICATE').map((b) => b.der);
  if (!leaf) throw unprocessable(`certificate ${cert.id} has no certificate in its record`);
  if (cert.source === 'imported' || cert.caId === null) return [leaf, ...rest];
  const chain = await core.cas.chainFor({ caId: cert.caId, requestId: cert.requestId });
  return [leaf, ...chain.flatMap((pem) => pemBlocks(pem).map((b) => b.der))];
}

/** A name for the saved file: the common name where it makes one, else the id. */
function fileName(cert: InventoryRecord, format: Format): string {
  const base = (cert.commonName ?? '').replace(/^\*\./, 'wildcard.').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100) || cert.id;
  return `${base}.${EXTENSIONS[format]}`;
}

function send(res: Response, cert: InventoryRecord, format: Format, body: string | Buffer): void {
  res
    .status(200)
    .set('Content-Type', CONTENT_TYPES[format])
    .set('Content-Disposition', `attachment; filename="${fileName(cert, format)}"`)
    .send(typeof body === 'string' ? body : Buffer.from(body));
}

export function mountDownloadRoutes(routes: RestRoutes, core: CoreServices): void {
  const { queries } = core;

  routes.add(
    {
      method: 'get',
      path: '/certificates/:id/download',
      tag: 'Certificates',
      summary: 'Download a certificate: pem, der, chain (PEM, the certificate then its CA chain) or pkcs7 (certs-only, DER)',
      description: 'PKCS#12 carries a private key under a password, so it is a POST (a password never goes in a URL).',
      permission: 'read on its CA, within the credential\'s products (imported: read on every CA)',
      params: idParams,
      query: downloadQuery,
      responses: {
        200: {
          description: 'The file, as an attachment, in the format asked for',
          contentType: CONTENT_TYPES.pem,
          // Media types without their parameters, as OpenAPI keys them.
          alternatives: { [CONTENT_TYPES.der]: 'format=der', [CONTENT_TYPES.chain]: 'format=chain', 'application/pkcs7-mime': 'format=pkcs7 (smime-type=certs-only)' },
        },
      },
    },
    async ({ req, res, params, query }) => {
      const cert = await authorizedCertificate(core, req, params.id, 'read');
      const ders = await certificateAndChain(core, cert);
      const [leaf] = ders;
      switch (query.format) {
        case 'pem':
          return send(res, cert, 'pem', toPem('CERTIFICATE', leaf));
        case 'der':
          return send(res, cert, 'der', leaf);
        case 'chain':
          return send(res, cert, 'chain', ders.map((d) => toPem('CERTIFICATE', d)).join(''));
        case 'pkcs7':
          return send(res, cert, 'pkcs7', certsOnlyPkcs7(ders));
      }
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/certificates/:id/download',
      tag: 'Certificates',
      summary: 'Download a certificate with its escrowed private key and chain as PKCS#12 (AES-256-CBC, PBKDF2-HMAC-SHA256)',
      description:
        'Only for certificates issued in managed mode under a product that escrows keys. Every download, and every refusal, is in the audit trail. `exportKeys` lets a credential export the keys of certificates it requested itself; `exportAnyKeys`, of any certificate of its products.',
      permission: 'exportKeys on its CA and the credential requested it (or exportAnyKeys), within the credential\'s products',
      params: idParams,
      body: pkcs12Body,
      responses: { 200: { description: 'The PKCS#12 file, as an attachment', contentType: CONTENT_TYPES.pkcs12 } },
    },
    async ({ req, res, params, body }) => {
      const listed = await authorizedCertificate(core, req, params.id, 'exportKeys');
      const cert = listed.source === 'issued' ? await queries.certificateById(listed.id) : undefined;
      if (!cert) throw unprocessable(`certificate ${listed.id} was imported: certgate never held its private key, so it has no PKCS#12 to give`);
      const envelope = await queries.escrowedKeyForExport(cert, auditContextOf(req), { format: body.format });
      if (envelope === null) {
        throw unprocessable(
          `certificate ${cert.id} has no escrowed private key: only certificates issued in managed mode under a product that escrows keys can be downloaded as PKCS#12 (download it as pem, der, chain or pkcs7)`,
        );
      }
      const key = core.sealing.openKey(envelope);
      const certificates = await certificateAndChain(core, listed);
      res.set('Cache-Control', 'no-store');
      send(res, listed, 'pkcs12', buildPkcs12({ key, certificates, password: body.password, ...(cert.commonName ? { friendlyName: cert.commonName } : {}) }));
    },
  );
}
