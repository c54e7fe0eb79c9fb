// Revocation status for relying parties: CRLs and the CA certificates that issued certificates
// point to (caIssuers) on express; the OCSP responder on bare node:http (ocspHttp.ts), ahead of
// express's routing. No authentication: this is public by design.
import express, { type Request, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import { BACKEND_NAMES, capabilitiesOf } from '../../src/core/caCapabilities.js';
import type { CoreServices, CrlReads, MountedProtocol, ProtocolModule } from '../../src/core/protocol.js';
import { classifyFailure, logFailure, plainAnswerOf } from '../../src/core/failure.js';
import { crlToPem } from '../../src/pki/crl.js';
import { fromPem } from '../../src/pki/pem.js';
import { statusConfig } from './config.js';
import { CrlWatcher } from './crlWatcher.js';
import { createOcspHandler } from './ocspHttp.js';
import { OcspResponder } from './ocspResponder.js';
import { OcspSigners } from './ocspSigners.js';
import type { StatusReads } from './reads.js';

export type { StatusReads } from './reads.js';

/** What the status protocol uses of CoreServices; `queries` need only answer StatusReads. */
export type StatusCore = Pick<CoreServices, 'config' | 'log' | 'crls' | 'ocspSigners' | 'signer' | 'sealing' | 'onStatusChange' | 'metrics'> & { queries: StatusReads };

/** How often, without Redis, the CRL numbers are read for revocations made by another process. */
const CRL_WATCH_INTERVAL_MS = 2_000;
/** Cached OCSP answers, at most: about 1 KB each. */
const OCSP_CACHE_ENTRIES = 200_000;

function signersOf(core: StatusCore): OcspSigners {
  return new OcspSigners(core.ocspSigners, core.signer, core.queries, core.sealing, statusConfig.of(core.config).ocspSignerDays * 86_400_000);
}

function responderOf(core: StatusCore): OcspResponder {
  const config = statusConfig.of(core.config);
  return new OcspResponder(
    core.queries,
    signersOf(core),
    { validityMs: config.ocspValidityHours * 3_600_000, cacheMaxAgeMs: config.ocspCacheSeconds * 1000, cacheEntries: OCSP_CACHE_ENTRIES },
    core.log,
    core.metrics,
  );
}

/** The responder as the configuration asks for it, forgetting answers whose status changed. */
export function createOcspResponder(core: StatusCore): OcspResponder {
  const ocsp = responderOf(core);
  core.onStatusChange((caId, serialHex) => ocsp.invalidate(caId, serialHex));
  return ocsp;
}

export function mountStatus(core: StatusCore): MountedProtocol {
  const ocsp = createOcspResponder(core);
  // Without Redis no news crosses processes, and a new CRL number (the CLI's `cert revoke`
  // publishes one) is the only sign of a revocation made elsewhere.
  const watcher = new CrlWatcher(core.queries, core.crls, (caId) => ocsp.invalidate(caId), core.log);
  return {
    router: createStatusRouter(core.queries, core.crls, core.log),
    handle: createOcspHandler(ocsp),
    // Awaited before anything listens (and, with --processes, before the children fork, so that
    // they share one signer instead of each issuing its own on a CA's first request).
    async startServing() {
      if (!core.config.redisUrl) watcher.start(CRL_WATCH_INTERVAL_MS);
      await ocsp.prepareSigners().catch((e: Error) => core.log.warn({ err: e.message }, 'could not prepare the OCSP signers'));
    },
    close() {
      watcher.stop();
      return Promise.resolve();
    },
  };
}

export const statusProtocol: ProtocolModule = {
  name: 'status',
  mount: (core: CoreServices) => mountStatus(core),
};

function createStatusRouter(reads: Pick<StatusReads, 'caById'>, crls: CrlReads, log: Logger): Router {
  const router = express.Router();

  router.get('/crl/:file', async (req, res) => {
    const m = /^(.+)\.(crl|pem)$/.exec(req.params.file as string);
    const ca = m ? await reads.caById(m[1] as string) : undefined;
    if (!m || !ca) {
      res.status(404).type('text/plain').send('no such CRL\n');
      return;
    }
    if (!capabilitiesOf(ca).crl) {
      res.status(404).type('text/plain').send(`certgate publishes no CRL for CA "${ca.name}": it is backed by ${BACKEND_NAMES[ca.backend]}, and its certificates name the CRL that CA publishes\n`);
      return;
    }
    const crl = await crls.current(ca.id);
    res.set('Last-Modified', crl.thisUpdate.toUTCString()).set('Expires', crl.nextUpdate.toUTCString());
    if (m[2] === 'pem') res.type('application/x-pem-file').send(crlToPem(crl.der));
    else res.type('application/pkix-crl').end(crl.der);
  });

  router.get('/ca/:file', async (req, res) => {
    const m = /^(.+)\.(crt|der|pem)$/.exec(req.params.file as string);
    const ca = m ? await reads.caById(m[1] as string) : undefined;
    if (!m || !ca) {
      res.status(404).type('text/plain').send('no such CA\n');
      return;
    }
    if (m[2] === 'pem') res.type('application/x-pem-file').send(ca.certificatePem);
    else res.type('application/pkix-cert').end(fromPem(ca.certificatePem, ['CERTIFICATE']));
  });

  router.use((err: unknown, req: Request, res: Response, next: (e?: unknown) => void) => {
    if (res.headersSent) return next(err);
    const failure = classifyFailure(err);
    logFailure(log, failure, 'the status endpoints', req.path);
    const answer = plainAnswerOf(failure);
    res.status(answer.status).set(answer.headers).type('text/plain').send(`${answer.sentence}\n`);
  });
  return router;
}
