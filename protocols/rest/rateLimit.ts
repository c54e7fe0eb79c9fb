// Per-credential rate limits (Certman's 429 with Retry-After): every request counts against one
// limit, issuance and renewal also against a lower one of their own. The counting is
// src/auth/requestLimits.ts's, shared with the other doors that lead to issuance.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { limitMessage, restLimits, restSubject, type RequestLimits } from '../../src/auth/requestLimits.js';
import { credentialOf, sourceIpOf } from './auth.js';

/** POSTs that make a certificate. */
const ISSUING = /^\/certificates(?:\/[^/]+\/(?:renew|rekey|replace))?\/?$/;

export interface RateLimits {
  rateLimitPerMinute: number;
  issueRateLimitPerMinute: number;
}

/** `issuing`: whether a request counts as an issuance too, besides REST's own issuing routes (other protocols' admin routes). */
export function rateLimit(requestLimits: RequestLimits, limits: RateLimits, who: 'credential' | 'address', issuing: (req: Request) => boolean = () => false): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const sourceIp = sourceIpOf(req);
    const subject = who === 'credential' ? restSubject(credentialOf(req).id) : `ip:${sourceIp ?? 'unknown'}`;
    const buckets = restLimits(limits, (req.method === 'POST' && ISSUING.test(req.path)) || issuing(req));
    const actor = who === 'credential' ? credentialOf(req).id : 'unknown';
    const refusal = await requestLimits.count(subject, buckets, { actor, protocol: 'rest', sourceIp });
    const policy = refusal?.limit ?? buckets.filter((b) => b.limit > 0).at(-1);
    if (policy) res.set('RateLimit-Policy', `${policy.limit};w=${policy.windowMs / 1000}`);
    if (refusal) {
      res.set('Retry-After', String(refusal.retryAfterSeconds));
      res.status(429).json({ error: limitMessage(refusal) });
      return;
    }
    next();
  };
}
