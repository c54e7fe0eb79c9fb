// Claim before sign: however many runners take one request's job, the CA is asked once, with the
// serial the claim allocated and the request id; a dead runner's claim is taken over after its lease.
import { randomUUID, X509Certificate } from 'node:crypto';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CaRegistry } from '../src/ca/registry.js';
import type { ProductTemplate } from '../src/core/types.js';
import { initialize } from '../src/init.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { createEnrollmentProcessor } from '../src/worker/processEnrollment.js';
import { testAudit } from './helpers/audit.js';
import { countingCas } from './helpers/countingCas.js';
import { makeCsr, tempDir } from './helpers/openssl.js';
import { testConfig } from './helpers/gateway.js';

const log = pino({ level: 'silent' });
const opened: Runtime[] = [];

async function setup(opts: { failFirst?: number } = {}) {
  const dataDir = tempDir();
  const rt = await openRuntime(testConfig({ dataDir }), { log });
  opened.push(rt);
  await initialize(rt);
  const product = (await rt.store.products.list())[0]!;
  const { cas: counting, calls } = countingCas(new CaRegistry(rt.store, rt.secrets), opts);
  const handler = (leaseMs = 30_000) => createEnrollmentProcessor({ store: rt.store, cas: counting, log, leaseMs });
  const submit = async (subject = '/CN=claim.host1.test') => {
    const { csrPem } = makeCsr(dataDir, { subject });
    return (await rt.enrollments.submit({ principal: 'test', protocol: 'rest', product: { id: product.id } }, csrPem)).request;
  };
  return { rt, handler, submit, calls, product };
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((rt) => rt.close()));
});

describe('claim before sign', () => {
  it('asks the CA exactly once when two runners take the same request at once', async () => {
    const { rt, handler, submit, calls } = await setup();
    const request = await submit();
    const a = handler();
    const b = handler();
    await Promise.all([a.process(request.id, 1), b.process(request.id, 1), a.process(request.id, 2)]);
    expect(calls).toHaveLength(1);
    const done = await rt.store.requests.get(request.id);
    expect(done).toMatchObject({ status: 'issued', attempts: 1 });
    const cert = await rt.store.certificates.getByRequestId(request.id);
    expect(cert?.serialNumber).toBe(done?.serialNumber);
    expect(calls[0]).toMatchObject({ requestId: request.id });
    expect(calls[0]?.serial?.toString('hex')).toBe(done?.serialNumber);
    expect(new X509Certificate(cert!.certificatePem).serialNumber.toLowerCase()).toBe(done?.serialNumber);
  });

  it('leaves a request alone while another runner\'s lease is live, and takes it over with the same serial once it has run out', async () => {
    const { rt, handler, submit, calls } = await setup();
    const request = await submit();
    // A runner claimed it and died before signing.
    const claimed = await rt.store.requests.claim(request.id, { serialNumber: '7a'.repeat(16), leaseMs: 30_000 });
    expect(claimed?.status).toBe('signing');
    await handler().process(request.id, 1);
    expect(calls).toHaveLength(0);
    expect(await rt.enrollments.requeueStranded()).toBe(0);
    // Past the lease (only the clock moves; timers stay real).
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(claimed!.leaseExpiresAt!.getTime() + 1);
      expect(await rt.enrollments.requeueStranded()).toBe(1);
      await handler().process(request.id, 2);
    } finally {
      vi.useRealTimers();
    }
    expect(calls).toHaveLength(1);
    const done = await rt.store.requests.get(request.id);
    expect(done).toMatchObject({ status: 'issued', serialNumber: '7a'.repeat(16), attempts: 2 });
  });

  it('hands a request back after a CA error, and the retry signs it with the serial it already had', async () => {
    const { rt, handler, submit, calls } = await setup({ failFirst: 1 });
    const request = await submit();
    const h = handler();
    await expect(h.process(request.id, 1)).rejects.toThrow(/timed out/);
    const released = await rt.store.requests.get(request.id);
    expect(released?.status).toBe('queued');
    await h.process(request.id, 2);
    expect(calls).toHaveLength(2);
    expect(calls[1]?.serial?.toString('hex')).toBe(calls[0]?.serial?.toString('hex'));
    expect((await rt.store.requests.get(request.id))?.status).toBe('issued');
  });

  it('rejects, without signing, a request whose stored product template this version refuses', async () => {
    const { rt, handler, calls, product } = await setup();
    // Stored directly: the product service would refuse the template now.
    const bad = await rt.store.products.insert(
      {
        id: randomUUID(),
        name: 'stored-before-the-rule',
        caId: product.caId,
        template: { ...product.template, extendedKeyUsages: ['serverAuth', 'ocspSigning'] } as ProductTemplate,
      },
      testAudit('product.create'),
    );
    const { csrPem } = makeCsr(tempDir(), { subject: '/CN=leaf.host1.test' });
    const { request } = await rt.enrollments.submit({ principal: 'test', protocol: 'rest', product: { id: bad.id } }, csrPem);
    await handler().process(request.id, 1);
    expect(await rt.store.requests.get(request.id)).toMatchObject({ status: 'rejected', rejection: { rule: 'product' } });
    expect(calls).toHaveLength(0);
  });

  it('consults the protocol\'s name authorizer, and holds the request in pending_dcv when it says so', async () => {
    const { rt, submit, calls } = await setup();
    let verdict: 'ok' | 'pending' = 'pending';
    const handler = createEnrollmentProcessor({
      store: rt.store,
      cas: rt.cas,
      log,
      leaseMs: 30_000,
      nameAuthorizers: new Map([['rest', async () => (verdict === 'ok' ? { ok: true as const } : { ok: 'pending' as const, detail: 'waiting for http-01' })]]),
    });
    const request = await submit();
    await handler.process(request.id, 1);
    expect(await rt.store.requests.get(request.id)).toMatchObject({ status: 'pending_dcv', statusReason: 'waiting for http-01' });
    verdict = 'ok';
    await rt.enrollments.resume(request.id);
    await handler.process(request.id, 1);
    expect((await rt.store.requests.get(request.id))?.status).toBe('issued');
    expect(calls).toHaveLength(0); // signed by the real registry, not the counting one
  });
});
