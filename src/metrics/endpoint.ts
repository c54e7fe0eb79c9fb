// GET /metrics: the text exposition for Prometheus, behind a bearer token when the operator set
// one (CERTGATE_METRICS_TOKEN). The token is a scraper's, not a credential: it opens this page only.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { MetricsHost } from './host.js';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Compared as digests: equal lengths for timingSafeEqual, and no early exit on the length. */
function tokenMatches(header: string | undefined, expected: Buffer): boolean {
  const presented = /^Bearer (.+)$/i.exec(header ?? '')?.[1];
  return presented !== undefined && timingSafeEqual(digest(presented), expected);
}

export function metricsHandler(host: MetricsHost, token: string | undefined, log: Logger): (req: Request, res: Response) => Promise<void> {
  const expected = token === undefined ? null : digest(token);
  return async (req, res) => {
    if (expected && !tokenMatches(req.get('authorization'), expected)) {
      res.status(401).set('WWW-Authenticate', 'Bearer realm="certgate metrics"').json({ error: 'the metrics need the bearer token set in CERTGATE_METRICS_TOKEN' });
      return;
    }
    try {
      res.set('Content-Type', host.contentType).set('Cache-Control', 'no-store').send(await host.scrape());
    } catch (e) {
      log.error({ err: (e as Error).message }, 'metrics: scrape failed');
      res.status(503).set('Retry-After', '5').json({ error: 'the metrics could not be gathered; try again' });
    }
  };
}
