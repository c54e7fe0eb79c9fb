// SCEP challenge passwords. A static challenge is a `scep` credential (the credential service checks
// it and audits its refusals). A one-time challenge is minted over REST for one product (and,
// optionally, one subject) by a caller who may issue under it, as MDM systems do with NDES: kept
// here hashed, single-use, expiring. The challenge itself is shown once and never logged.
import { createHash, randomBytes } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z, ZodError } from 'zod';
import { sourceIpOf } from '../../src/auth/ipAllowlist.js';
import { principalOfCredential, productResource } from '../../src/auth/authorize.js';
import { restLimits, restSubject } from '../../src/auth/requestLimits.js';
import { AUDIT } from '../../src/audit/actions.js';
import { AppError } from '../../src/core/errors.js';
import { newId } from '../../src/core/ids.js';
import type { CoreServices } from '../../src/core/protocol.js';
import { isDependencyDown, RETRY_AFTER_SECONDS } from '../../src/core/unavailable.js';
import type { Constraint, ProductRecord } from '../../src/core/types.js';
import type { ParsedCsr } from '../../src/pki/csr.js';
import { comparableName, namesOfCsr } from '../../src/pki/names.js';
import type { ScepDb } from './db.js';

export const DEFAULT_CHALLENGE_TTL_S = 3600;
export const MAX_CHALLENGE_TTL_S = 30 * 86_400;

/** `credentialId`: what the core's per-credential issuance limit counts (the static credential, or the one-time challenge). */
export type ChallengeCheck =
  /** `oneTimeId`: the one-time challenge it used up (null for a static one), which release() gives back. */
  | { ok: true; actor: string; credentialId: string; oneTimeId: string | null; constraints: Constraint[] }
  | { ok: false; message: string };

const hashOf = (challenge: string): string => createHash('sha256').update(challenge, 'utf8').digest('hex');

/** `CN=host1.test, O=…` or a bare name: the one name the certificate may carry, lower-cased. */
export function subjectName(subject: string): string {
  const cn = /(?:^|[,/+])\s*CN\s*=\s*([^,/+]+)/i.exec(subject);
  return (cn ? (cn[1] as string) : subject).trim().toLowerCase();
}

export class Challenges {
  constructor(
    private readonly db: ScepDb,
    private readonly core: CoreServices,
  ) {}

  async mint(input: { product: ProductRecord; subject: string | null; ttlSeconds: number; createdBy: string; sourceIp: string | null }): Promise<{ challenge: string; expiresAt: Date; id: string }> {
    // Hex, like the static challenges: a challengePassword is often a PrintableString.
    const challenge = randomBytes(16).toString('hex');
    const now = Date.now();
    const id = newId(now);
    const expiresAt = new Date(now + input.ttlSeconds * 1000);
    await this.db.insertChallenge({
      id,
      challengeHash: hashOf(challenge),
      productId: input.product.id,
      subject: input.subject,
      createdBy: input.createdBy,
      expiresAt,
      usedAt: null,
      usedBy: null,
      createdAt: new Date(now),
    });
    // A one-time challenge is a credential for one enrollment: who handed it out, for what, is in the trail.
    await this.core.credentials.recordSecretIssued({ actor: input.createdBy, protocol: 'rest', sourceIp: input.sourceIp }, AUDIT.scepChallengeMint, `scep-challenge:${id}`, {
      product: input.product.id,
      subject: input.subject,
      expiresAt: expiresAt.toISOString(),
    });
    this.core.log.info({ challengeId: id, product: input.product.id, by: input.createdBy, expiresAt: expiresAt.toISOString(), subject: input.subject }, 'SCEP one-time challenge minted');
    return { challenge, expiresAt, id };
  }

  /**
   * Whether a PKCSReq's challengePassword admits it under `product`: a one-time challenge (used up
   * by this call when it admits), else a static `scep` credential. A one-time challenge bound to a
   * subject admits only a CSR for exactly that name, and the request carries the constraint.
   */
  async check(presented: string | null, product: ProductRecord, context: { sourceIp: string | null; usedBy: string; csr: ParsedCsr }): Promise<ChallengeCheck> {
    const challenge = presented ?? '';
    const oneTime = challenge ? await this.db.challengeByHash(hashOf(challenge)) : undefined;
    if (!oneTime) {
      const result = await this.core.credentials.authenticate({ type: 'scep', challenge }, { protocol: 'scep', sourceIp: context.sourceIp, productId: product.id });
      if (!result.ok) return { ok: false, message: presented === null ? 'the CSR has no challengePassword' : `challengePassword refused: ${result.message}` };
      return { ok: true, actor: result.credential.id, credentialId: result.credential.id, oneTimeId: null, constraints: [] };
    }
    const refuse = async (reason: string): Promise<ChallengeCheck> => {
      // The credential service audits static challenges itself; one-time ones are SCEP's own.
      await this.core.credentials.recordRefusal({ protocol: 'scep', sourceIp: context.sourceIp, productId: product.id }, `scep-challenge:${oneTime.id}`, reason, 'scep-one-time-challenge');
      return { ok: false, message: `challengePassword refused: ${reason}` };
    };
    const now = Date.now();
    if (oneTime.productId !== product.id) return refuse('it was issued for another product');
    if (oneTime.usedAt) return refuse('it has been used already');
    if (oneTime.expiresAt.getTime() <= now) return refuse('it has expired');
    const constraints: Constraint[] = [];
    if (oneTime.subject) {
      const asked = namesOfCsr(context.csr);
      const bound = comparableName(oneTime.subject);
      const extra = asked.filter((n) => n !== bound);
      if (extra.length || !asked.length) return refuse(`it was issued for ${oneTime.subject} only`);
      constraints.push({ kind: 'namesWithin', names: [oneTime.subject] });
    }
    if (!(await this.db.consumeChallenge(oneTime.id, context.usedBy, now))) return refuse('it has been used already');
    return { ok: true, actor: `scep-challenge:${oneTime.id}`, credentialId: `scep-challenge:${oneTime.id}`, oneTimeId: oneTime.id, constraints };
  }

  /** A one-time challenge whose request the core refused before storing it (a rate limit) may be used again. */
  release(check: Extract<ChallengeCheck, { ok: true }>, usedBy: string): Promise<void> {
    return check.oneTimeId ? this.db.releaseChallenge(check.oneTimeId, usedBy) : Promise.resolve();
  }

  removeExpired(now: number, keptMs: number): Promise<void> {
    return this.db.removeExpiredChallenges(now, keptMs);
  }
}

const mintBody = z
  .object({
    productId: z.string().min(1).max(200).optional(),
    product_id: z.string().min(1).max(200).optional(),
    subject: z.string().min(1).max(1024).optional(),
    ttlSeconds: z.number().int().min(1).max(MAX_CHALLENGE_TTL_S).optional(),
    ttl_seconds: z.number().int().min(1).max(MAX_CHALLENGE_TTL_S).optional(),
  })
  .strict()
  .transform((b) => ({ productId: b.productId ?? b.product_id, subject: b.subject, ttlSeconds: b.ttlSeconds ?? b.ttl_seconds ?? DEFAULT_CHALLENGE_TTL_S }))
  .refine((b) => b.productId, { message: 'productId is required', path: ['productId'] });

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** POST /v1/scep/challenges, answered in the REST API's form ({"error": …}). */
export function challengeRoutes(core: CoreServices, challenges: Challenges): Router {
  const router = express.Router();
  router.post('/v1/scep/challenges', express.json({ limit: '16kb' }), async (req, res) => {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const sourceIp = sourceIpOf(req);
    const auth = await core.credentials.authenticate({ type: 'rest', bearer: m ? (m[1] as string) : '' }, { protocol: 'rest', sourceIp });
    if (!auth.ok) {
      res.set('WWW-Authenticate', 'Bearer');
      throw new HttpProblem(401, auth.reason === 'missing' ? 'missing credential: send "Authorization: Bearer cg_..."' : auth.message);
    }
    const body = mintBody.parse(req.body ?? {});
    const ref = body.productId as string;
    const product = (await core.queries.productList()).find((p) => p.id === ref || p.name === ref);
    if (!product) throw new HttpProblem(400, `productId: unknown product ${JSON.stringify(ref)}`);
    const credential = auth.credential;
    // The same count as REST's own routes: minting leads to issuance, so it counts as one too,
    // and a credential past its 429 there gets no challenge here.
    await core.requestLimits.enforce(restSubject(credential.id), restLimits(core.config, true), { actor: credential.id, protocol: 'rest', sourceIp });
    // The one decision REST's routes ask: a challenge is an issuance under the product, and a refusal is audited.
    await core.authz.require(
      principalOfCredential(credential, `apikey:${credential.id}`),
      'issue',
      productResource(product),
      { actor: credential.id, protocol: 'rest', sourceIp },
      AUDIT.scepChallengeMint,
    );
    const subject = body.subject === undefined ? null : subjectName(body.subject);
    if (subject === '') throw new HttpProblem(400, 'subject: name the one name the certificate may carry (CN=host.example or host.example)');
    const minted = await challenges.mint({ product, subject, ttlSeconds: body.ttlSeconds, createdBy: credential.id, sourceIp });
    res
      .status(201)
      .set('Cache-Control', 'no-store')
      .json({ challenge: minted.challenge, expires_at: minted.expiresAt.toISOString(), product_id: product.id, subject });
  });
  router.use('/v1/scep', (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    if (err instanceof HttpProblem) {
      res.status(err.status).json({ error: err.message });
      return;
    }
    if (err instanceof AppError && err.kind === 'forbidden') {
      res.status(403).json({ error: err.message });
      return;
    }
    if (err instanceof AppError && err.kind === 'rate_limited') {
      res.status(429).set('Retry-After', String(err.retryAfterSeconds ?? 60)).json({ error: err.message });
      return;
    }
    if (err instanceof ZodError) {
      res.status(400).json({ error: `invalid request: ${err.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ')}` });
      return;
    }
    const e = err as { status?: number; type?: string };
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({ error: e.type === 'entity.parse.failed' ? 'request body is not valid JSON' : 'bad request' });
      return;
    }
    if (isDependencyDown(err)) {
      res.status(503).set('Retry-After', String(RETRY_AFTER_SECONDS)).json({ error: 'service temporarily unavailable, try again later' });
      return;
    }
    core.log.error({ err: (err as Error).message, path: req.path }, 'unhandled error minting a SCEP challenge');
    res.status(500).json({ error: 'internal error' });
  });
  return router;
}
