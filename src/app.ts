// Composes the HTTP request listener from the registered protocols. It knows no protocol's
// internals: each mounted protocol brings its router (and renders its own errors), or a bare
// node:http handler for what must not pay for express (OCSP).
import type { RequestListener } from 'node:http';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Runtime } from './runtime.js';

export function createRequestListener(rt: Runtime): RequestListener {
  const bare = rt.protocols.map((p) => p.mounted.handle).filter((h) => h !== undefined);
  const app = createApp(rt);
  return (req, res) => {
    for (const handle of bare) if (handle(req, res)) return;
    app(req, res);
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

  for (const { mounted } of rt.protocols) {
    if (mounted.router) app.use(mounted.path ?? '/', mounted.router);
  }

  // Only paths no protocol owns reach these.
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
