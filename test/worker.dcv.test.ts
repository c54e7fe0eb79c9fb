// The CA worker and domain control validation: a request of a dcv: required product is asked about
// (its DNS names and IP addresses), stops at pending_dcv with the registry's sentence, is not
// stranded when a validation ends between the check and the move, and waits for an approver only
// once its names are validated. The registry here is a script of answers; its own behaviour is
// domains.service.test.ts's.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import type { DomainRegistry } from '../src/core/domainRegistry.js';
import { createProduct } from '../src/core/products.js';
import type { DcvPolicy, EnrollmentRequest } from '../src/core/types.js';
import { initialize } from '../src/init.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { createEnrollmentProcessor } from '../src/worker/processEnrollment.js';
import { testConfig } from './helpers/gateway.js';
import { makeCsr, tempDir } from './helpers/openssl.js';

const log = pino({ level: 'silent' });
const opened: Runtime[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((rt) => rt.close()));
});

type Answer = Awaited<ReturnType<DomainRegistry['checkRequest']>>;

/** A registry that gives `answers` in turn (the last one from then on) and records what it was asked. */
function scripted(...answers: Answer[]) {
  const asked: { request: string; names: readonly string[]; policy: DcvPolicy }[] = [];
  const domains: Pick<DomainRegistry, 'checkRequest'> = {
    async checkRequest(request: EnrollmentRequest, names: readonly string[], policy: DcvPolicy) {
      asked.push({ request: request.id, names, policy });
      return answers[Math.min(asked.length - 1, answers.length - 1)] as Answer;
    },
  };
  return { domains, asked };
}

async function setup(template: Record<string, unknown>, domains: Pick<DomainRegistry, 'checkRequest'>) {
  const dataDir = tempDir();
  // No worker is started: the test runs the processor itself.
  const rt = await openRuntime(testConfig({ dataDir }), { log });
  opened.push(rt);
  const init = await initialize(rt);
  const product = await createProduct(rt.store, { name: 'dcv', caId: init.issuing!.id, template: parseProductTemplate({ allowedDnsSuffixes: ['test'], allowIpSans: true, ...template }) }, CLI_CONTEXT);
  const handler = createEnrollmentProcessor({ store: rt.store, cas: rt.cas, log, leaseMs: 30_000, domains });
  const { csrPem } = makeCsr(dataDir, { subject: '/CN=www.dcv.test', san: ['DNS:www.dcv.test', 'DNS:api.dcv.test', 'IP:192.0.2.7'] });
  const { request } = await rt.enrollments.submit({ principal: 'apikey:x', protocol: 'rest', product: { id: product.id } }, csrPem);
  const actions = async () => (await rt.store.audit.list({ target: request.id }, { limit: 50, offset: 0 })).entries.map((e) => e.action).reverse();
  return { rt, handler, request, actions };
}

const WAITING: Answer = { ok: 'pending', detail: 'waiting for domain control validation of api.dcv.test' };

describe('the worker and dcv: required', () => {
  it('asks about the DNS names and IP addresses and waits at pending_dcv with the sentence, audited', async () => {
    const { domains, asked } = scripted(WAITING);
    const { rt, handler, request, actions } = await setup({ dcv: { mode: 'required', reuseDays: 7 } }, domains);
    await handler.process(request.id, 1);
    expect(await rt.store.requests.get(request.id)).toMatchObject({ status: 'pending_dcv', statusReason: WAITING.ok === 'pending' ? WAITING.detail : '' });
    expect(asked[0]).toMatchObject({ request: request.id, names: ['www.dcv.test', 'api.dcv.test', '192.0.2.7'], policy: { mode: 'required', reuseDays: 7 } });
    expect(await actions()).toEqual(['request.submit', 'request.await_dcv']);
    // Waiting is not work: another run leaves it be.
    await handler.process(request.id, 2);
    expect((await rt.store.requests.get(request.id))?.status).toBe('pending_dcv');
  });

  it('is not stranded by a validation that ended between the check and the move: issued in the same run', async () => {
    const { domains, asked } = scripted(WAITING, { ok: true });
    const { rt, handler, request, actions } = await setup({ dcv: { mode: 'required' } }, domains);
    await handler.process(request.id, 1);
    expect(asked).toHaveLength(2);
    expect((await rt.store.requests.get(request.id))?.status).toBe('issued');
    expect(await actions()).toEqual(['request.submit', 'request.await_dcv', 'request.resume']);
    expect(await rt.store.certificates.getByRequestId(request.id)).toBeDefined();
  });

  it('waits for an approver only once the names are validated', async () => {
    const { domains } = scripted(WAITING, WAITING, { ok: true });
    const { rt, handler, request, actions } = await setup({ dcv: { mode: 'required' }, requiresApproval: true }, domains);
    await handler.process(request.id, 1);
    expect((await rt.store.requests.get(request.id))?.status).toBe('pending_dcv');
    await rt.enrollments.resume(request.id);
    await handler.process(request.id, 2);
    expect((await rt.store.requests.get(request.id))?.status).toBe('pending_approval');
    expect(await actions()).toEqual(['request.submit', 'request.await_dcv', 'request.resume', 'request.await_approval']);
  });

  it('does not ask for a product without dcv: required', async () => {
    const { domains, asked } = scripted(WAITING);
    const { rt, handler, request } = await setup({}, domains);
    await handler.process(request.id, 1);
    expect(asked).toHaveLength(0);
    expect((await rt.store.requests.get(request.id))?.status).toBe('issued');
  });
});
