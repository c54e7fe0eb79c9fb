// The composition root for HTTP: mounts each protocol's router on one express app. Together with
// cli.ts it is the only part of src/ that knows the protocols exist.
import type { RequestListener } from 'node:http';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { createRestRouter } from '../protocols/rest/index.js';
import { createOcspHandler, createStatusRouter } from '../protocols/status/index.js';
import type { Runtime } from './runtime.js';

/** What the HTTP and HTTPS servers run: the OCSP responder on bare node:http, the rest on express. */
export function createRequestListener(rt: Runtime): RequestListener {
  const answerOcsp = createOcspHandler(rt.ocsp);
  const app = createApp(rt);
  return (req, res) => {
    if (!answerOcsp(req, res)) app(req, res);
  };
}

export function createApp(rt: Runtime): Express {
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
  app.use(createStatusRouter({ store: rt.store, crls: rt.crls, log: rt.log }));
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
