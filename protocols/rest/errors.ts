import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { classifyFailure, HTTP_STATUS_OF, logFailure } from '../../src/core/failure.js';
import { rejectionJson } from './serialize.js';

/**
 * Every failure becomes {"error": "..."}; a store or queue that cannot be reached is a 503 with
 * Retry-After; only our own bugs are 500s, and they show no details.
 */
export function restErrorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent) return;
    if (err instanceof ZodError) {
      const msg = err.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
      res.status(400).json({ error: `invalid request: ${msg}` });
      return;
    }
    const failure = classifyFailure(err);
    if (failure.kind === 'refused') {
      const e = failure.error;
      if (e.kind === 'unauthorized') res.set('WWW-Authenticate', 'Bearer');
      if (e.retryAfterSeconds !== undefined) res.set('Retry-After', String(e.retryAfterSeconds));
      res.status(HTTP_STATUS_OF[e.kind]).json({ error: e.message, ...(e.rejection ? rejectionJson(e.rejection) : {}) });
      return;
    }
    logFailure(log, failure, 'the REST front-end', req.path);
    res.status(failure.status).set(failure.headers).json({ error: failure.sentence });
  };
}
