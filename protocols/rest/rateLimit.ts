// Per-credential rate limits (Certman's 429 with Retry-After): every request counts against one
// limit, issuance and renewal also against a lower one of their own.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { RateCounter } from '../../src/core/rateCounter.js';
import { credentialOf, sourceIpOf } from './auth.js';

const WINDOW_MS = 60_000;

/** POSTs that make a certificate. */
const ISSUING = /^\/certificates(?:\/[^/]+\/(?:renew|rekey|replace))?\/?$/;

export interface RateLimits {
  perMinute: number;
  issuePerMinute: number;
}

export function rateLimit(counter: RateCounter, limits: RateLimits, who: 'credential' | 'address'): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const subject = who === 'credential' ? `c:${credentialOf(req).id}` : `ip:${sourceIpOf(req) ?? 'unknown'}`;
    const buckets: [string, number][] = [['all', limits.perMinute]];
    if (req.method === 'POST' && ISSUING.test(req.path)) buckets.push(['issue', limits.issuePerMinute]);
    for (const [bucket, limit] of buckets) {
      if (limit <= 0) continue;
      const { count, resetAt } = await counter.hit(`${subject}:${bucket}`, WINDOW_MS);
      res.set('RateLimit-Policy', `${limit};w=${WINDOW_MS / 1000}`);
      if (count > limit) {
        res.set('Retry-After', String(Math.max(1, Math.ceil((resetAt - Date.now()) / 1000))));
        res.status(429).json({ error: `rate limit exceeded: at most ${limit} ${bucket === 'issue' ? 'issuances and renewals' : 'requests'} a minute for this credential` });
        return;
      }
    }
    next();
  };
}
