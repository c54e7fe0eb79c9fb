// One-time SCEP challenges minted over REST (POST /v1/scep/challenges): who may mint them, and
// that each admits one request under its product (and subject) before it expires.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { buildCsr } from '../src/pki/csrBuilder.js';
import { fromPem } from '../src/pki/pem.js';
import type { ProductRecord } from '../src/core/types.js';
import { MESSAGE_TYPE } from '../protocols/scep/algorithms.js';
import { startScepEnv, type ScepEnv } from './helpers/scepEnv.js';
import { buildRequest, getCaCert, pkiOperation, readReply, rsaKey, selfSigned, type RaInfo } from './helpers/scepClient.js';
import { runningClock } from './helpers/clock.js';

describe('SCEP one-time challenges', () => {
  let env: ScepEnv;
  let ra: RaInfo;
  let product: ProductRecord;
  let other: ProductRecord;
  const key = rsaKey();
  const clock = runningClock();

  beforeAll(async () => {
    env = await startScepEnv({ now: clock.now });
    ra = await getCaCert(`${env.base}/scep`);
    product = (await env.server.rt.store.products.getByName('default')) as ProductRecord;
    other = await env.product('scep-other');
  });
  afterAll(async () => {
    await env?.stop();
  });

  let n = 0;
  async function enroll(challenge: string, cn = 'host1.test', label = '') {
    const requester = selfSigned(key, `CN=${cn}`);
    const csr = fromPem(buildCsr(key, `CN=${cn}`, {}, { challengePassword: challenge }), ['CERTIFICATE REQUEST']);
    const der = await buildRequest({ requester, ra, messageType: MESSAGE_TYPE.PKCSReq, content: csr, transactionId: `otc-${Date.now()}-${n++}` });
    return readReply((await pkiOperation(`${env.base}/scep${label}`, der)).body, requester);
  }

  it('are minted by an admin: 201 with the challenge (shown once, stored hashed) and its expiry', async () => {
    const before = clock.now();
    const res = await env.rest('POST', '/v1/scep/challenges', { productId: product.id, ttlSeconds: 600 });
    expect(res.status).toBe(201);
    const { challenge, expires_at, product_id, subject } = res.json as { challenge: string; expires_at: string; product_id: string; subject: string | null };
    expect(challenge).toMatch(/^[0-9a-f]{32}$/);
    expect(product_id).toBe(product.id);
    expect(subject).toBeNull();
    expect(Date.parse(expires_at)).toBeGreaterThanOrEqual(before + 600_000 - 1000);
    expect(Date.parse(expires_at)).toBeLessThanOrEqual(clock.now() + 600_000);
    const rows = await env.server.rt.store.db.selectFrom('scep_challenges' as never).selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(challenge);
    expect(JSON.stringify(rows)).toContain(createHash('sha256').update(challenge).digest('hex'));
  });

  it('refuse callers without a REST credential that may issue under the product', async () => {
    expect((await env.rest('POST', '/v1/scep/challenges', { productId: product.id }, '')).status).toBe(401);
    expect((await env.rest('POST', '/v1/scep/challenges', { productId: product.id }, `cg_0123456789abcdef_${randomBytes(32).toString('base64url')}`)).status).toBe(401);
    // A REST credential bound to the other product, and one that may only read.
    const bound = await env.server.rt.credentials.create({ type: 'rest', products: [other.id] }, CLI_CONTEXT);
    expect((await env.rest('POST', '/v1/scep/challenges', { productId: product.id }, bound.secret)).status).toBe(403);
    expect((await env.rest('POST', '/v1/scep/challenges', { productId: other.id }, bound.secret)).status).toBe(201);
    const reader = await env.server.rt.credentials.create({ type: 'rest', products: [product.id], permissions: [{ ca: product.caId, actions: ['read'] }] }, CLI_CONTEXT);
    expect((await env.rest('POST', '/v1/scep/challenges', { productId: product.id }, reader.secret)).status).toBe(403);
    // A SCEP credential is not a REST credential.
    const scep = await env.staticChallenge('*');
    expect((await env.rest('POST', '/v1/scep/challenges', { productId: product.id }, scep.challenge)).status).toBe(401);
  });

  it('answer malformed requests with 400 in the REST form', async () => {
    for (const body of [{}, { productId: 'no-such-product' }, { productId: product.id, ttlSeconds: 0 }, { productId: product.id, ttlSeconds: 1e9 }, { productId: product.id, extra: 1 }]) {
      const res = await env.rest('POST', '/v1/scep/challenges', body);
      expect(res.status).toBe(400);
      expect(typeof res.json.error).toBe('string');
    }
  });

  it('admit one request, under their product only', async () => {
    const challenge = await env.oneTimeChallenge(product.id);
    expect(await enroll(challenge, 'host1.test', '/scep-other')).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    expect((await enroll(challenge)).status).toBe('SUCCESS');
    expect(await enroll(challenge)).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    // Both refusals are in the audit trail, with the reason and never the challenge.
    const { entries } = await env.server.rt.store.audit.list({ action: 'auth.refused' }, { limit: 100, offset: 0 });
    const mine = entries.filter((e) => e.protocol === 'scep' && e.target.startsWith('scep-challenge:'));
    expect(mine.map((e) => e.detail.reason)).toEqual(expect.arrayContaining(['it was issued for another product', 'it has been used already']));
    expect(JSON.stringify(entries)).not.toContain(challenge);
  });

  it('admit nothing once expired', async () => {
    const res = await env.rest('POST', '/v1/scep/challenges', { productId: product.id, ttlSeconds: 1 });
    clock.advance(Date.parse(res.json.expires_at as string) - clock.now());
    expect(await enroll(res.json.challenge as string)).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
  });

  it('bound to a subject, admit only a request for that name, and are not used up by one for another', async () => {
    const res = await env.rest('POST', '/v1/scep/challenges', { productId: product.id, subject: 'CN=Device-7.host1.test, O=Example' });
    expect(res.json.subject).toBe('device-7.host1.test');
    const challenge = res.json.challenge as string;
    expect(await enroll(challenge, 'other.host1.test')).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    const ok = await enroll(challenge, 'device-7.host1.test');
    expect(ok.status).toBe('SUCCESS');
    const request = (await env.server.rt.store.requests.listByStatus(['issued'], 1000)).find((r) => r.constraints.some((c) => c.kind === 'namesWithin' && c.names.includes('device-7.host1.test')));
    expect(request?.requester).toMatch(/^scep:/);
  });

  it('bound to an IP address, admit a request for it however the subject spells it', async () => {
    // Names compare as src/pki/names.ts reads them, in the challenge check and in the worker alike.
    const challenge = await env.oneTimeChallenge(product.id, { subject: '2001:DB8:0:0::7' });
    expect((await enroll(challenge, '2001:db8::7')).status).toBe('SUCCESS');
  });

  it('are taken by one of two requests sent at once', async () => {
    const challenge = await env.oneTimeChallenge(product.id);
    const replies = await Promise.all([enroll(challenge), enroll(challenge), enroll(challenge)]);
    expect(replies.map((r) => r.status).sort()).toEqual(['FAILURE', 'FAILURE', 'SUCCESS']);
  });
});
