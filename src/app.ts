// Composes the HTTP request listener from the registered protocols. It knows no protocol's
// internals: each mounted protocol brings its router (and renders its own errors), or a bare
// node:http handler for what must not pay for express (OCSP).
import type { RequestListener } from 'node:http';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { httpChallengeResponse } from './ca/upstream/orders.js';
import { classifyFailure, logFailure, plainAnswerOf } from './core/failure.js';
import { RETRY_AFTER_SECONDS } from './core/unavailable.js';
import { metricsHandler } from './metrics/endpoint.js';
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
    const [checks, keys] = await Promise.all([
      Promise.all([check('store', () => rt.store.ping()), check('queue', () => rt.queue.ping())]),
      // A CA key store (a token) that does not answer in time is down, as a store that does not is.
      withinPingTimeout(rt.cas.unready()).catch((e: unknown) => [{ dependency: 'CA keys', problem: e instanceof Error ? e.message : String(e) }]),
    ]);
    const [store] = checks;
    // A store that is down is reported by its own check; the CA list it holds is then unknown.
    const down = [...checks.filter((c): c is { dependency: string; problem: string } => c !== null), ...(store ? [] : keys)];
    if (!down.length) {
      res.json({ status: 'ready' });
      return;
    }
    res
      .status(503)
      .set('Retry-After', String(RETRY_AFTER_SECONDS))
      .json({ status: 'unavailable', down: down.map((d) => d.dependency), problems: down.map((d) => `${d.dependency}: ${d.problem}`) });
  });

  // The upstream ACME CA's http-01 validation of orders this gateway's workers placed (any process
  // may be asked: the key authorizations are in the store). 404 for a token no order is waiting on.
  app.get('/.well-known/acme-challenge/:token', async (req, res, next) => {
    try {
      const keyAuthorization = await httpChallengeResponse(rt.store, req.params.token);
      if (keyAuthorization === null) res.status(404).type('text/plain').send('no such challenge');
      else res.type('application/octet-stream').send(keyAuthorization);
    } catch (e) {
      next(e);
    }
  });
  // With metrics off there is no such page: the 404 below answers.
  if (rt.metrics) app.get('/metrics', metricsHandler(rt.metrics, rt.config.metricsToken, rt.log));

  for (const { mounted } of rt.protocols) {
    if (mounted.router) app.use(mounted.path ?? '/', mounted.router);
  }

  // Only paths no protocol owns reach these.
  app.use((req, res) => {
    res.status(404).json({ error: `not found: ${req.method} ${req.path}` });
  });
  // Last resort, so that nothing ever answers with express's HTML stack trace page.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const failure = classifyFailure(err);
    logFailure(rt.log, failure, 'the HTTP host', req.path);
    const answer = plainAnswerOf(failure);
    res.status(answer.status).set(answer.headers).json({ error: answer.sentence });
  });
  return app;
}

/** How long /readyz waits for one dependency's ping: a server that accepts but never answers is down too. */
export const READY_PING_TIMEOUT_MS = 2000;

/** `work`, or a rejection once READY_PING_TIMEOUT_MS have passed without its answer. */
async function withinPingTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${READY_PING_TIMEOUT_MS} ms`)), READY_PING_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** null when `ping` succeeds within READY_PING_TIMEOUT_MS, else what went wrong. */
async function check(dependency: string, ping: () => Promise<void>): Promise<{ dependency: string; problem: string } | null> {
  try {
    await withinPingTimeout(ping());
    return null;
  } catch (e) {
    return { dependency, problem: e instanceof Error ? e.message : String(e) };
  }
}
