// The composition root for HTTP: mounts each protocol's router on one express app. Together with
// cli.ts it is the only part of src/ that knows the protocols exist.
import type { RequestListener } from 'node:http';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { createRestRouter } from '../protocols/rest/index.js';
import { mountStatus, prepareOcspSigners, type StatusCore } from '../protocols/status/index.js';
import type { MountedProtocol } from './core/protocol.js';
import type { Runtime } from './runtime.js';

/**
 * The status protocol's share of CoreServices, from the runtime, until CoreServices is built for
 * every protocol. Its status news is this process's own revocations (RevocationService.onChange).
 */
function statusServices(rt: Runtime): StatusCore {
  const { store } = rt;
  return {
    config: rt.config,
    log: rt.log,
    cas: rt.cas,
    crls: rt.crls,
    ocspSigners: store.ocspSigners,
    masterKey: rt.secrets.masterKey,
    onStatusChange: (listener) => rt.revocations.onChange(listener),
    queries: {
      caById: (caId) => store.cas.get(caId),
      caList: () => store.cas.list(),
      certificateBySerial: (caId, serialHex) => store.certificates.getBySerial(caId, serialHex),
      latestCrlHeader: (caId) => store.crls.latestHeader(caId),
    },
  };
}

/** CRLs, CA certificates and OCSP, for a process that serves HTTP. */
export function mountStatusProtocol(rt: Runtime): MountedProtocol {
  return mountStatus(statusServices(rt));
}

/** Every CA's OCSP signer, issued once before several serving processes start (see cluster.ts). */
export function prepareStatusSigners(rt: Runtime): Promise<void> {
  return prepareOcspSigners(statusServices(rt));
}

/** What the HTTP and HTTPS servers run: the OCSP responder on bare node:http, the rest on express. */
export function createRequestListener(rt: Runtime, status: MountedProtocol): RequestListener {
  const app = createApp(rt, status);
  return (req, res) => {
    if (!status.handle?.(req, res)) app(req, res);
  };
}

export function createApp(rt: Runtime, status: MountedProtocol): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const checks = await Promise.all([
      rt.store.ping().then(() => null, (e: Error) => `store: ${e.message}`),
      rt.queue.ping().then(() => null, (e: Error) => `queue: ${e.message}`),
    ]);
    const problems = checks.filter((c): c is string => c !== null);
    res.status(problems.length ? 503 : 200).json(problems.length ? { status: 'unavailable', problems } : { status: 'ready' });
  });

  app.use(
    '/v1',
    createRestRouter({
      store: rt.store,
      cas: rt.cas,
      enrollments: rt.enrollments,
      revocations: rt.revocations,
      log: rt.log,
      issueWaitMs: rt.config.issueWaitMs,
    }),
  );
  if (status.router) app.use(status.path ?? '/', status.router);
  app.use((req, res) => {
    res.status(404).json({ error: `not found: ${req.method} ${req.path}` });
  });
  // Last resort, so that nothing ever answers with express's HTML stack trace page.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      res.status(status).json({ error: 'bad request' });
      return;
    }
    rt.log.error({ err: (err as Error).message, path: req.path }, 'unhandled error');
    res.status(500).json({ error: 'internal error' });
  });
  return app;
}
