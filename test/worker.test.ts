// The CA worker's state machine and its idempotency: whatever runs a job, however often, a
// request ends in one final state and is signed into at most one stored certificate.
import { X509Certificate } from 'node:crypto';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CaRegistry } from '../src/ca/registry.js';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import { initialize } from '../src/init.js';
import { parseCsr } from '../src/pki/csr.js';
import { ParsedCsrHandoff } from '../src/pki/parsedCsrHandoff.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { createEnrollmentProcessor } from '../src/worker/processEnrollment.js';
import { testAudit } from './helpers/audit.js';
import { countingCas } from './helpers/countingCas.js';
import { makeCsr, tempDir } from './helpers/openssl.js';
import { testConfig } from './helpers/gateway.js';

const log = pino({ level: 'silent' });
const opened: Runtime[] = [];

async function setup(dataDir = tempDir()) {
  const rt = await openRuntime(testConfig({ dataDir, queueBackoffMs: 10 }), { log });
  opened.push(rt);
  await initialize(rt);
  const product = (await rt.store.products.list())[0]!;
  // Counts signatures, so "never signed again" is observable.
  const { cas: counting, calls } = countingCas(new CaRegistry(rt.store, rt.secrets));
  const handler = createEnrollmentProcessor({ store: rt.store, cas: counting, log, leaseMs: 30_000 });
  const submit = async (opts: { productId?: string; subject?: string; validityDays?: number } = {}) => {
    const { csrPem } = makeCsr(dataDir, { subject: opts.subject ?? '/CN=worker.host1.test' });
    return rt.enrollments.submit({ principal: 'test', protocol: 'rest', product: { id: opts.productId ?? product.id } }, csrPem, { validityDays: opts.validityDays ?? null });
  };
  return { rt, handler, submit, product, signed: () => calls.length, dataDir };
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((rt) => rt.close()));
});

describe('CA worker', () => {
  it('issues a queued request and never signs it again on a second run', async () => {
    const { rt, handler, submit, signed } = await setup();
    const { request } = await submit();
    await handler.process(request.id, 1);
    await handler.process(request.id, 2);
    const done = await rt.store.requests.get(request.id);
    expect(done?.status).toBe('issued');
    expect(signed()).toBe(1);
    expect(await rt.store.certificates.getByRequestId(request.id)).toMatchObject({ requestId: request.id });
  });

  it('signs and stores exactly one certificate when runs of one job overlap (a stalled job re-run)', async () => {
    const { rt, handler, submit, signed } = await setup();
    const { request } = await submit();
    await Promise.all([handler.process(request.id, 1), handler.process(request.id, 1), handler.process(request.id, 2)]);
    const certs = await rt.store.certificates.list({ limit: 100, offset: 0 });
    expect(certs.filter((c) => c.requestId === request.id)).toHaveLength(1);
    expect(signed()).toBe(1);
    expect((await rt.store.requests.get(request.id))?.certificateId).toBe(certs.find((c) => c.requestId === request.id)?.id);
  });

  it('signs the stored CSR, never a handed-over parsed form that is not of the stored text', async () => {
    const { rt, submit, dataDir } = await setup();
    const parsedCsrs = new ParsedCsrHandoff();
    const handler = createEnrollmentProcessor({ store: rt.store, cas: new CaRegistry(rt.store, rt.secrets), log, leaseMs: 30_000, parsedCsrs });
    const { request } = await submit();
    const other = parseCsr(makeCsr(dataDir, { subject: '/CN=other.host1.test' }).csrPem);
    parsedCsrs.put(request.id, `${request.csrPem}\n`, other);
    await handler.process(request.id, 1);
    const cert = await rt.store.certificates.getByRequestId(request.id);
    const certKey = new X509Certificate(cert?.certificatePem ?? '').publicKey.export({ type: 'spki', format: 'der' });
    expect(certKey.equals(parseCsr(request.csrPem).spkiDer)).toBe(true);
    expect(cert?.commonName).toBe('worker.host1.test');
  });

  it('rejects a request that breaks the product, naming the rule, and stores no certificate', async () => {
    const { rt, handler, submit } = await setup();
    const { request } = await submit({ validityDays: 1000 });
    await handler.process(request.id, 1);
    const done = await rt.store.requests.get(request.id);
    expect(done?.status).toBe('rejected');
    expect(done?.statusReason).toMatch(/maxValidityDays/);
    expect(await rt.store.certificates.getByRequestId(request.id)).toBeUndefined();
  });

  it('holds for approval, then issues once approved', async () => {
    const { rt, handler, submit, product } = await setup();
    const gated = await createProduct(rt.store, { name: 'gated', caId: product.caId, template: parseProductTemplate({ requiresApproval: true }) }, CLI_CONTEXT);
    const { request } = await submit({ productId: gated.id });
    await handler.process(request.id, 1);
    expect((await rt.store.requests.get(request.id))?.status).toBe('pending_approval');
    await handler.process(request.id, 1); // a stray re-run does not sign an unapproved request
    expect((await rt.store.requests.get(request.id))?.status).toBe('pending_approval');
    await rt.store.requests.approve(request.id, 'operator', testAudit('request.approve', request.id));
    await handler.process(request.id, 1);
    expect((await rt.store.requests.get(request.id))).toMatchObject({ status: 'issued', approvedBy: 'operator' });
  });

  it('marks a request failed, without internals in the reason, when retries run out', async () => {
    const { rt, handler, submit } = await setup();
    const { request } = await submit();
    await handler.onExhausted(request.id, new Error('connection reset by peer 10.1.2.3'));
    const done = await rt.store.requests.get(request.id);
    expect(done?.status).toBe('failed');
    expect(done?.statusReason).not.toMatch(/10\.1\.2\.3/);
  });

  it('issues what a dead embedded process left queued, once a new process starts', async () => {
    const dataDir = tempDir();
    const first = await setup(dataDir);
    const { request } = await first.submit(); // accepted, stored, but no worker ever ran it
    await first.rt.close();
    opened.splice(opened.indexOf(first.rt), 1);

    const rt = await openRuntime(testConfig({ dataDir }), { log });
    opened.push(rt);
    await rt.startWorker();
    const done = await rt.enrollments.waitForOutcome(request, 10_000);
    expect(done.state).toBe('issued');
  });
});
