// Revocation status for relying parties: CRLs, the OCSP responder, and the CA certificates that
// issued certificates point to (caIssuers). No authentication: this is public by design.
import express, { type Request, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import type { CrlPublisher } from '../../src/ca/crlPublisher.js';
import type { OcspResponder } from '../../src/ca/ocspResponder.js';
import { crlToPem } from '../../src/pki/crl.js';
import { ocspErrorResponse } from '../../src/pki/ocsp.js';
import { fromPem } from '../../src/pki/pem.js';
import type { Store } from '../../src/store/types.js';

export interface StatusDeps {
  store: Store;
  crls: CrlPublisher;
  ocsp: OcspResponder;
  log: Logger;
}

const MAX_OCSP_REQUEST = 16 * 1024;

function sendOcsp(res: Response, der: Buffer): void {
  res.status(200).type('application/ocsp-response').set('Content-Length', String(der.length)).end(der);
}

export function createStatusRouter({ store, crls, ocsp, log }: StatusDeps): Router {
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

  const ocspPost = express.raw({ type: () => true, limit: MAX_OCSP_REQUEST });
  const post = async (req: Request, res: Response): Promise<void> => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    sendOcsp(res, await ocsp.respond(body));
  };
  router.post('/ocsp', ocspPost, post);
  router.post('/ocsp/', ocspPost, post);

  // GET /ocsp/{url-encoding of base-64 encoding of the DER request} (RFC 6960 appendix A.1);
  // the base64 may itself contain '/', so take the whole rest of the path.
  router.get('/ocsp/*request', async (req, res) => {
    const raw = req.path.slice('/ocsp/'.length);
    let text: string;
    try {
      text = decodeURIComponent(raw);
    } catch {
      sendOcsp(res, ocspErrorResponse('malformedRequest'));
      return;
    }
    const b64 = text.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length > (MAX_OCSP_REQUEST * 4) / 3) {
      sendOcsp(res, ocspErrorResponse('malformedRequest'));
      return;
    }
    const der = await ocsp.respond(Buffer.from(b64, 'base64'));
    res.set('Cache-Control', 'max-age=300, public, no-transform, must-revalidate');
    sendOcsp(res, der);
  });

  router.use((err: unknown, req: Request, res: Response, next: (e?: unknown) => void) => {
    const e = err as { status?: number; type?: string };
    if (res.headersSent) return next(err);
    // The client's fault (a body too large, a path that does not decode): answer in kind.
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      if (req.path.startsWith('/ocsp')) sendOcsp(res, ocspErrorResponse('malformedRequest'));
      else res.status(e.status).type('text/plain').send('bad request\n');
      return;
    }
    log.error({ err: (err as Error).message }, 'status endpoint failed');
    res.status(500).type('text/plain').send('internal error\n');
  });
  return router;
}
