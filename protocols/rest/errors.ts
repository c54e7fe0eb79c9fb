import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { AppError, type ErrorKind } from '../../src/core/errors.js';
import { isDependencyDown, RETRY_AFTER_SECONDS } from '../../src/core/unavailable.js';
import { rejectionJson } from './serialize.js';

const STATUS: Record<ErrorKind, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  rate_limited: 429,
};

/**
 * Every failure becomes {"error": "..."}; a store or queue that cannot be reached is a 503 with
 * Retry-After; only our own bugs are 500s, and they show no details.
 */
export function restErrorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent) return;
    if (err instanceof AppError) {
      if (err.kind === 'unauthorized') res.set('WWW-Authenticate', 'Bearer');
      if (err.retryAfterSeconds !== undefined) res.set('Retry-After', String(err.retryAfterSeconds));
      res.status(STATUS[err.kind]).json({ error: err.message, ...(err.rejection ? rejectionJson(err.rejection) : {}) });
      return;
    }
    if (err instanceof ZodError) {
      const msg = err.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
      res.status(400).json({ error: `invalid request: ${msg}` });
      return;
    }
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.parse.failed') {
      res.status(400).json({ error: 'request body is not valid JSON' });
      return;
    }
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({ error: e.message ?? 'bad request' });
      return;
    }
    if (isDependencyDown(err)) {
      // The store or the queue cannot be reached: not our bug, and worth trying again soon.
      log.warn({ err: (err as Error).message, path: req.path }, 'dependency unavailable');
      res.set('Retry-After', String(RETRY_AFTER_SECONDS));
      res.status(503).json({ error: 'service temporarily unavailable, try again later' });
      return;
    }
    log.error({ err, path: req.path }, 'unhandled error in REST handler');
    res.status(500).json({ error: 'internal error' });
  };
}
