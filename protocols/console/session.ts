// /console/session: sign in with a REST credential's API key, see who is signed in, sign out. The
// session itself is the core's (src/auth/consoleSessions.ts); this is only its cookie.
import express, { type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { CSRF_HEADER, SESSION_COOKIE, sessionCookieOf } from '../../src/auth/consoleSessions.js';
import { credentialView } from '../../src/auth/credentialView.js';
import { sourceIpOf } from '../../src/auth/ipAllowlist.js';
import { MINUTE_MS, type Limit } from '../../src/auth/requestLimits.js';
import { badRequest, forbidden, unauthorized } from '../../src/core/errors.js';
import type { CoreServices } from '../../src/core/protocol.js';
import type { CredentialRecord } from '../../src/core/types.js';

/**
 * Sign-ins an address may try a minute. Wrong keys are slowed and then refused by the core's login
 * throttle whatever this says; this bounds the work (and audit entries) one address can cause.
 */
const SIGN_IN_LIMIT: Limit = { bucket: 'console-sign-in', limit: 60, windowMs: MINUTE_MS, what: 'console sign-ins a minute from this address' };

const signInBody = z.object({ key: z.string().max(512) }).strict();

const sessionOf = (req: Request): string | undefined => sessionCookieOf(req.headers.cookie);

function setCookie(res: Response, token: string, maxAgeMs: number): void {
  // Path=/: the console's pages call the REST API under /v1 with it.
  res.cookie(SESSION_COOKIE, token, { httpOnly: true, secure: true, sameSite: 'strict', path: '/', maxAge: maxAgeMs });
}

/** Who is signed in, as the console shows it (never a secret). */
const signedIn = (credential: CredentialRecord, csrfToken: string, exp: number) => ({
  credential: credentialView(credential),
  csrfToken,
  expiresAt: new Date(exp * 1000).toISOString(),
});

export function sessionRouter(core: CoreServices): Router {
  const router = express.Router();
  router.use(express.json({ limit: '4kb' }));
  const context = (req: Request) => ({ protocol: 'console', sourceIp: sourceIpOf(req) });

  router.post('/', async (req, res) => {
    await core.requestLimits.enforce(`ip:${sourceIpOf(req) ?? 'unknown'}`, [SIGN_IN_LIMIT], { actor: 'unknown', ...context(req) });
    const parsed = signInBody.safeParse(req.body ?? {});
    if (!parsed.success) throw badRequest('send {"key": "cg_…"}: the API key of a REST credential');
    const result = await core.credentials.openSession(parsed.data.key.trim(), context(req));
    if (!result.ok) throw unauthorized(result.reason === 'malformed' || result.reason === 'missing' ? 'that is not an API key: it starts with cg_ and was shown once when the credential was made' : `sign-in refused: ${result.message}`);
    setCookie(res, result.token, result.exp * 1000 - Date.now());
    res.set('Cache-Control', 'no-store').status(201).json(signedIn(result.credential, result.csrfToken, result.exp));
  });

  router.get('/', async (req, res) => {
    const token = sessionOf(req);
    if (!token) throw unauthorized('not signed in');
    const result = await core.credentials.authenticate({ type: 'rest', bearer: token, session: true }, context(req));
    const csrf = result.ok ? await core.credentials.sessionCsrf(token) : null;
    if (!result.ok || !csrf) throw unauthorized('your session has ended; sign in again');
    res.set('Cache-Control', 'no-store').json(signedIn(result.credential, csrf.csrfToken, csrf.exp));
  });

  router.delete('/', async (req, res) => {
    const token = sessionOf(req);
    if (token && !(await core.credentials.sessionCsrfMatches(token, req.get(CSRF_HEADER)))) throw forbidden(`signing out needs the session's CSRF token in ${CSRF_HEADER}`);
    try {
      if (token) await core.credentials.endSession(token, context(req));
    } finally {
      // The browser forgets the session even when it could not be ended everywhere (Redis down: 503).
      res.clearCookie(SESSION_COOKIE, { httpOnly: true, secure: true, sameSite: 'strict', path: '/' });
    }
    res.status(204).end();
  });
  return router;
}
