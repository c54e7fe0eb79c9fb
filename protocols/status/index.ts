// Revocation status for relying parties: CRLs and the CA certificates that issued certificates
// point to (caIssuers) on express; the OCSP responder on bare node:http (ocspHttp.ts). No
// authentication: this is public by design.
import express, { type Request, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import type { CrlPublisher } from '../../src/ca/crlPublisher.js';
import { crlToPem } from '../../src/pki/crl.js';
import { fromPem } from '../../src/pki/pem.js';
import type { Store } from '../../src/store/types.js';

export { createOcspHandler } from './ocspHttp.js';

export interface StatusDeps {
  store: Store;
  crls: CrlPublisher;
  log: Logger;
}

export function createStatusRouter({ store, crls, log }: StatusDeps): Router {
  const router = express.Router();

  router.get('/crl/:file', async (req, res) => {
    const m = /^(.+)\.(crl|pem)$/.exec(req.params.file as string);
    const ca = m ? await store.cas.get(m[1] as string) : undefined;
    if (!m || !ca) {
      res.status(404).type('text/plain').send('no such CRL\n');
      return;
    }
    const crl = await crls.current(ca.id);
    res.set('Last-Modified', crl.thisUpdate.toUTCString()).set('Expires', crl.nextUpdate.toUTCString());
    if (m[2] === 'pem') res.type('application/x-pem-file').send(crlToPem(crl.der));
    else res.type('application/pkix-crl').end(crl.der);
  });

  router.get('/ca/:file', async (req, res) => {
    const m = /^(.+)\.(crt|der|pem)$/.exec(req.params.file as string);
    const ca = m ? await store.cas.get(m[1] as string) : undefined;
    if (!m || !ca) {
      res.status(404).type('text/plain').send('no such CA\n');
      return;
    }
    if (m[2] === 'pem') res.type('application/x-pem-file').send(ca.certificatePem);
    else res.type('application/pkix-cert').end(fromPem(ca.certificatePem, ['CERTIFICATE']));
  });

  router.use((err: unknown, req: Request, res: Response, next: (e?: unknown) => void) => {
    const e = err as { status?: number; type?: string };
    if (res.headersSent) return next(err);
    // The client's fault (a path that does not decode): answer in kind.
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      res.status(e.status).type('text/plain').send('bad request\n');
      return;
    }
    log.error({ err: (err as Error).message }, 'status endpoint failed');
    res.status(500).type('text/plain').send('internal error\n');
  });
  return router;
}
