// SCEP challenge passwords. A static challenge is a `scep` credential (the credential service checks
// it and audits its refusals). A one-time challenge is minted over REST for one product (and,
// optionally, one subject) by a caller who may issue under it, as MDM systems do with NDES: kept
// here hashed, single-use, expiring. The challenge itself is shown once and never logged.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { productResource } from '../../src/auth/authorize.js';
import { AUDIT } from '../../src/audit/actions.js';
import { badRequest } from '../../src/core/errors.js';
import { newId } from '../../src/core/ids.js';
import type { AdminRouteKit, CoreServices } from '../../src/core/protocol.js';
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
    const now = this.core.now();
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
    const now = this.core.now();
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

const mintedSchema = z.object({
  challenge: z.string().describe('the challenge password to put in the CSR; shown once'),
  expires_at: z.string(),
  product_id: z.string(),
  subject: z.string().nullable().describe('the one name the certificate may carry, or null for any the product allows'),
});

/** POST /v1/scep/challenges: served by REST, with its bearer authentication, limits and error form. */
export function declareChallengeRoute(routes: AdminRouteKit, core: CoreServices, challenges: Challenges): void {
  routes.add(
    {
      method: 'post',
      path: '/scep/challenges',
      summary: 'Mint a one-time SCEP challenge for a product',
      description: 'As MDM systems do with NDES: the challenge is single-use, expires, and may bind the one name the certificate may carry.',
      tag: 'SCEP',
      permission: 'issue under the product',
      // Minting leads to issuance: it counts as one, and a credential past its 429 there gets no challenge here.
      issuing: true,
      body: mintBody,
      responses: { 201: { description: 'Minted', schema: mintedSchema, headers: { 'Cache-Control': 'no-store' } } },
    },
    async ({ body, principal, audit, credential }) => {
      const ref = body.productId as string;
      const product = (await core.queries.productList()).find((p) => p.id === ref || p.name === ref);
      if (!product) throw badRequest(`productId: unknown product ${JSON.stringify(ref)}`);
      // The one decision REST's routes ask: a challenge is an issuance under the product, and a refusal is audited.
      await core.authz.require(principal, 'issue', productResource(product), audit, AUDIT.scepChallengeMint);
      const subject = body.subject === undefined ? null : subjectName(body.subject);
      if (subject === '') throw badRequest('subject: name the one name the certificate may carry (CN=host.example or host.example)');
      const minted = await challenges.mint({ product, subject, ttlSeconds: body.ttlSeconds, createdBy: credential.id, sourceIp: audit.sourceIp });
      return {
        status: 201,
        headers: { 'Cache-Control': 'no-store' },
        body: { challenge: minted.challenge, expires_at: minted.expiresAt.toISOString(), product_id: product.id, subject },
      };
    },
  );
}
