// Issue 21, item 7: webhooks as a subscriber sees them. A receiver on 127.0.0.1 gets signed
// Standard Webhooks deliveries (verified with the standardwebhooks library) of every event type,
// each produced by real traffic (REST issuance, revocation, approval, decline; an ACME validation
// that fails; the expiry scan after the deployment's clock moved); a receiver that is down for a
// while gets every event after retries, each under the same webhook-id; permissions, the secret
// shown once, and the audit trail. Scaled out (PostgreSQL, Redis, two worker runtimes): each
// certificate is told `certificate.expiring` once per threshold.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as acme from 'acme-client';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_CONTEXT } from '../src/cli/kit.js';
import { createProduct } from '../src/core/products.js';
import { rekeyDeployment } from '../src/core/rekey.js';
import { createSealing } from '../src/core/sealing.js';
import { startServer, type RunningServer } from '../src/httpServer.js';
import { webhookAddressPolicy, urlRefusal, resolveChecked } from '../src/notify/urlPolicy.js';
import { Notifier } from '../src/notify/notifier.js';
import { WebhookService } from '../src/notify/webhookService.js';
import { openRuntime } from '../src/runtime.js';
import { parseProductTemplate } from '../src/policy/productSchema.js';
import { PROTOCOLS } from '../protocols/index.js';
import { acmeClientOf, startAcmeEnv, type AcmeEnv } from './helpers/acmeEnv.js';
import { runningClock } from './helpers/clock.js';
import { deploymentMissing, startGateway, testConfig, TEST_MASTER_KEY, type Gateway } from './helpers/gateway.js';
import { restCall } from './helpers/http.js';
import { tempDir } from './helpers/openssl.js';
import { until } from './helpers/until.js';
import { startWebhookReceiver, type ReceivedDelivery, type WebhookReceiver } from './helpers/webhookReceiver.js';

const DAY = 86_400_000;
/** Quick passes and retries: a test waits for deliveries, it never sleeps for them. */
const FAST = { webhookAllowPrivate: true, webhookPollMs: 100, webhookBackoffMs: 100, webhookAttempts: 12, expiryScanIntervalSeconds: 1 };

const ofType = (r: WebhookReceiver, type: string): ReceivedDelivery[] => r.accepted().filter((d) => d.payload.type === type);

describe('webhooks, embedded (SQLite, in-process queue)', () => {
  let env: AcmeEnv;
  const clock = runningClock();
  const api = (method: string, path: string, body?: unknown, token?: string) => restCall(env.base, token ?? env.adminToken, method, path, body);

  beforeAll(async () => {
    env = await startAcmeEnv({ overrides: FAST, now: clock.now });
  });
  afterAll(async () => {
    await env?.stop();
  });

  const subscribe = async (receiver: WebhookReceiver, events: string[], products: '*' | string[] = '*', token?: string) => {
    const res = await api('POST', '/v1/webhooks', { url: receiver.url, events, products }, token);
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    receiver.setSecret(res.json.secret as string);
    return res.json as { id: string; secret: string };
  };

  const issue = async (productId: string, token?: string) => {
    const res = await api('POST', '/v1/certificates', { productId, commonName: `h-${randomBytes(4).toString('hex')}.hooks.test` }, token);
    return res;
  };

  it('sends every event type, signed, from real traffic', async () => {
    const receiver = await startWebhookReceiver();
    try {
      const held = await createProduct(env.server.rt.store, { name: 'hooks-held', caId: env.issuingId, template: parseProductTemplate({ requiresApproval: true }) }, CLI_CONTEXT);
      const plain = await createProduct(env.server.rt.store, { name: 'hooks-plain', caId: env.issuingId, template: parseProductTemplate({ defaultValidityDays: 40 }) }, CLI_CONTEXT);
      await subscribe(receiver, ['certificate.issued', 'certificate.revoked', 'certificate.expiring', 'request.pending_approval', 'request.approved', 'request.declined', 'dcv.failed']);

      // Issued and revoked, over REST.
      const issued = await issue(plain.id);
      expect(issued.status, JSON.stringify(issued.json)).toBe(201);
      const certId = (issued.json.certificate as { id: string }).id;
      expect((await api('POST', `/v1/certificates/${certId}/revoke`, { reason: 'superseded' })).status).toBe(200);

      // Held for approval, then approved; another declined. The approver is another credential (four eyes).
      const approver = await env.server.rt.credentials.create({ type: 'rest', name: `approver-${randomBytes(3).toString('hex')}`, products: '*', permissions: [{ ca: '*', actions: ['read', 'approve'] }], admin: false }, CLI_CONTEXT);
      const waiting = await issue(held.id);
      expect(waiting.status).toBe(202);
      const toApprove = waiting.json.request_id as string;
      await until(async () => (await api('GET', `/v1/requests/${toApprove}`)).json.status === 'pending_approval', 20_000, 'the request waits for approval');
      expect((await api('POST', `/v1/requests/${toApprove}/approve`, {}, approver.secret)).status).toBe(200);
      const declined = (await issue(held.id)).json.request_id as string;
      await until(async () => (await api('GET', `/v1/requests/${declined}`)).json.status === 'pending_approval', 20_000, 'the second request waits for approval');
      const decline = await api('POST', `/v1/requests/${declined}/decline`, { comment: 'not this one' }, approver.secret);
      expect(decline.status, JSON.stringify(decline.json)).toBe(200);

      // An ACME http-01 validation that gets the wrong answer.
      const c = acmeClientOf(env.directoryUrl, await acme.crypto.createPrivateEcdsaKey('P-256'));
      await c.createAccount({ termsOfServiceAgreed: true });
      const order = await c.createOrder({ identifiers: [{ type: 'dns', value: 'wrong-answer.hooks.test' }] });
      const [authz] = await c.getAuthorizations(order);
      const challenge = (authz as acme.Authorization).challenges.find((ch) => ch.type === 'http-01') as acme.Authorization['challenges'][number];
      env.http01.set(challenge.token, 'not-the-key-authorization');
      await c.completeChallenge(challenge);

      // A certificate 40 days from expiry, the clock moved 15 days: within 30 days, not yet 14.
      const expiring = await issue(plain.id);
      const expiringId = (expiring.json.certificate as { id: string }).id;
      clock.advance(15 * DAY);

      const wanted = ['certificate.issued', 'certificate.revoked', 'certificate.expiring', 'request.pending_approval', 'request.approved', 'request.declined', 'dcv.failed'];
      await until(() => wanted.every((t) => ofType(receiver, t).length > 0), 30_000, `a delivery of each of ${wanted.join(', ')}`);

      for (const d of receiver.received) {
        expect(d.verified, `signature of ${d.id}`).toBe(true);
        expect(d.payload.type).toMatch(/^(certificate|request|dcv)\./);
      }
      expect(ofType(receiver, 'certificate.revoked').map((d) => (d.payload.data.certificate as { id: string }).id)).toEqual([certId]);
      expect(ofType(receiver, 'certificate.revoked')[0]?.payload.data.revocation).toMatchObject({ reason: 'superseded' });
      expect(ofType(receiver, 'request.approved').map((d) => (d.payload.data.request as { id: string }).id)).toEqual([toApprove]);
      expect(ofType(receiver, 'request.declined')[0]?.payload.data).toMatchObject({ request: { id: declined, status: 'rejected' }, reason: 'not this one' });
      expect(ofType(receiver, 'dcv.failed')[0]?.payload.data).toMatchObject({ protocol: 'acme', identifier: { type: 'dns', value: 'wrong-answer.hooks.test' }, method: 'http-01' });
      const expiry = ofType(receiver, 'certificate.expiring').find((d) => (d.payload.data.certificate as { id: string }).id === expiringId);
      expect(expiry?.payload.data).toMatchObject({ thresholdDays: 30 });
      // The approved request was signed: its certificate.issued came too.
      await until(() => ofType(receiver, 'certificate.issued').some((d) => (d.payload.data.certificate as { requestId: string }).requestId === toApprove), 20_000, 'the approved request\'s certificate.issued');
    } finally {
      await receiver.stop();
    }
  });

  it('delivers every event after the receiver was down, each under one webhook-id, and logs each attempt', async () => {
    const receiver = await startWebhookReceiver();
    try {
      const hook = await subscribe(receiver, ['certificate.issued']);
      receiver.answer(503);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await issue((await env.server.rt.store.products.list()).find((p) => p.name === 'hooks-plain')?.id as string);
        ids.push((res.json.certificate as { id: string }).id);
      }
      // Down: every event was tried and refused at least twice.
      await until(() => ids.every((id) => receiver.received.filter((d) => (d.payload.data.certificate as { id: string }).id === id).length >= 2), 30_000, 'two refused attempts of each event');
      receiver.answer(200);
      await until(() => ids.every((id) => receiver.accepted().some((d) => (d.payload.data.certificate as { id: string }).id === id)), 60_000, 'every event accepted once the receiver is up');

      for (const id of ids) {
        const tries = receiver.received.filter((d) => (d.payload.data.certificate as { id: string }).id === id);
        // At least once, under the event's one id.
        expect(new Set(tries.map((d) => d.id)).size).toBe(1);
        expect(tries.every((d) => d.verified)).toBe(true);
      }
      // The receiver has answered; the worker logs each attempt once that answer reaches it.
      type Row = { event_id: string; attempt: number; status_code: number | null; error: string | null };
      const logged = async (): Promise<Row[]> => {
        const log = await api('GET', `/v1/webhooks/${hook.id}/deliveries?pageSize=100`);
        expect(log.status).toBe(200);
        return log.json.deliveries as Row[];
      };
      await until(async () => (await logged()).filter((r) => r.status_code === 200).length >= 5, 10_000, 'every accepted attempt in the log');
      const rows = await logged();
      expect(rows.filter((r) => r.status_code === 503).length).toBeGreaterThanOrEqual(10);
      expect(rows.filter((r) => r.status_code === 200).length).toBe(5);
      expect(rows.find((r) => r.status_code === 503)?.error).toMatch(/HTTP 503/);
      expect(Math.max(...rows.map((r) => r.attempt))).toBeGreaterThanOrEqual(2);
    } finally {
      await receiver.stop();
    }
  });

  it('shows the secret once, never stores it in clear, and audits create and delete', async () => {
    const receiver = await startWebhookReceiver();
    try {
      const hook = await subscribe(receiver, ['certificate.issued']);
      expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
      const one = await api('GET', `/v1/webhooks/${hook.id}`);
      expect(one.status).toBe(200);
      expect(JSON.stringify(one.json)).not.toContain(hook.secret.slice(6));
      expect(JSON.stringify((await api('GET', '/v1/webhooks')).json)).not.toContain(hook.secret.slice(6));
      const row = await (env.server.rt.store.db as unknown as Kysely<{ webhook_subscriptions: { id: string; secret: string } }>)
        .selectFrom('webhook_subscriptions').select('secret').where('id', '=', hook.id).executeTakeFirstOrThrow();
      expect(row.secret).not.toContain(hook.secret.slice(6));

      expect((await api('DELETE', `/v1/webhooks/${hook.id}`)).status).toBe(200);
      expect((await api('GET', `/v1/webhooks/${hook.id}`)).status).toBe(404);
      const trail = (await env.server.rt.store.audit.list({ target: hook.id }, { limit: 10, offset: 0 })).entries;
      expect(trail.map((e) => e.action).sort()).toEqual(['webhook.create', 'webhook.delete']);
      expect(JSON.stringify(trail)).not.toContain(hook.secret.slice(6));
    } finally {
      await receiver.stop();
    }
  });

  it('lets a credential manage its own subscriptions for products it may read, and nobody else\'s', async () => {
    const rt = env.server.rt;
    const productA = await createProduct(rt.store, { name: 'hooks-a', caId: env.issuingId, template: parseProductTemplate({}) }, CLI_CONTEXT);
    const productB = await createProduct(rt.store, { name: 'hooks-b', caId: env.issuingId, template: parseProductTemplate({}) }, CLI_CONTEXT);
    const key = async (products: string[], actions: ('read' | 'issue')[]) =>
      (await rt.credentials.create({ type: 'rest', name: `hk-${randomBytes(3).toString('hex')}`, products, permissions: [{ ca: env.issuingId, actions }], admin: false }, CLI_CONTEXT)).secret;
    const a = await key([productA.id], ['read']);
    const b = await key([productB.id], ['read']);
    const issueOnly = await key([productA.id], ['issue']);
    const url = 'http://127.0.0.1:9/hook';

    const mine = await api('POST', '/v1/webhooks', { url, events: ['certificate.issued'], products: [productA.id] }, a);
    expect(mine.status, JSON.stringify(mine.json)).toBe(201);
    const id = mine.json.id as string;
    expect(mine.json.owner).toMatch(/^apikey:/);
    // Another product, every product, no read permission: refused.
    expect((await api('POST', '/v1/webhooks', { url, events: ['certificate.issued'], products: [productB.id] }, a)).status).toBe(403);
    expect((await api('POST', '/v1/webhooks', { url, events: ['certificate.issued'] }, a)).status).toBe(403);
    expect((await api('POST', '/v1/webhooks', { url, events: ['certificate.issued'], products: [productA.id] }, issueOnly)).status).toBe(403);

    // B neither sees nor removes A's.
    expect(((await api('GET', '/v1/webhooks', undefined, b)).json.webhooks as { id: string }[]).map((w) => w.id)).not.toContain(id);
    expect((await api('GET', `/v1/webhooks/${id}`, undefined, b)).status).toBe(403);
    expect((await api('GET', `/v1/webhooks/${id}/deliveries`, undefined, b)).status).toBe(403);
    expect((await api('DELETE', `/v1/webhooks/${id}`, undefined, b)).status).toBe(403);
    const refused = (await rt.store.audit.list({ target: id }, { limit: 20, offset: 0 })).entries.filter((e) => e.outcome === 'refused');
    expect(refused.map((e) => e.action).sort()).toEqual(['webhook.delete', 'webhook.read', 'webhook.read']);

    // A sees its own; the admin sees it too; A removes it.
    expect(((await api('GET', '/v1/webhooks', undefined, a)).json.webhooks as { id: string }[]).map((w) => w.id)).toEqual([id]);
    expect(((await api('GET', '/v1/webhooks')).json.webhooks as { id: string }[]).map((w) => w.id)).toContain(id);
    expect((await api('DELETE', `/v1/webhooks/${id}`, undefined, a)).status).toBe(200);
  });

  it('refuses URLs that are not http(s), and events it does not know, with a 400', async () => {
    for (const body of [
      { url: 'ftp://127.0.0.1/hook', events: ['certificate.issued'] },
      { url: 'not a url', events: ['certificate.issued'] },
      { url: 'http://user:pw@127.0.0.1/hook', events: ['certificate.issued'] },
      { url: 'http://127.0.0.1/hook', events: ['certificate.exploded'] },
      { url: 'http://127.0.0.1/hook', events: [] },
      { url: 'http://127.0.0.1/hook', events: ['certificate.issued'], products: ['no-such-product'] },
    ]) {
      const res = await api('POST', '/v1/webhooks', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(typeof res.json.error).toBe('string');
    }
  });
});

describe('the delivery address policy', () => {
  it('refuses private, loopback and metadata addresses by default; allows loopback when the operator says so, never metadata', async () => {
    const strict = webhookAddressPolicy(false);
    const open = webhookAddressPolicy(true);
    for (const url of ['http://127.0.0.1/x', 'http://10.1.2.3/x', 'http://192.168.0.1/x', 'http://[::1]/x', 'http://169.254.169.254/latest']) expect(urlRefusal(url, strict), url).not.toBeNull();
    expect(urlRefusal('https://hooks.example.com/x', strict)).toBeNull();
    expect(urlRefusal('http://127.0.0.1/x', open)).toBeNull();
    expect(urlRefusal('http://169.254.169.254/x', open)).not.toBeNull();
    await expect(resolveChecked('localhost', strict)).rejects.toThrow(/CERTGATE_WEBHOOK_ALLOW_PRIVATE/);
    await expect(resolveChecked('127.0.0.1', open)).resolves.toBe('127.0.0.1');
  });
});

const scaled = { backend: 'postgres', queue: 'bullmq' } as const;

describe.skipIf(deploymentMissing(scaled))('certificate.expiring across two worker processes (PostgreSQL, BullMQ)', () => {
  let gw: Gateway;
  let second: RunningServer;
  const clock = runningClock();

  beforeAll(async () => {
    gw = await startGateway({ ...scaled, worker: 'separate', overrides: FAST, now: clock.now });
    second = await startServer(gw.config, { worker: true, json: true, http: false, protocols: PROTOCOLS, now: clock.now });
  });
  afterAll(async () => {
    await second?.close();
    await gw?.close();
  });

  it('emits one event per certificate per threshold, whichever worker scans, and delivers each once', async () => {
    const receiver = await startWebhookReceiver();
    try {
      const product = await createProduct(gw.rt.store, { name: 'expiring', caId: gw.issuing.id, template: parseProductTemplate({ defaultValidityDays: 40, expiryNoticeDays: [30, 10] }) }, CLI_CONTEXT);
      const created = await restCall(gw.baseUrl, gw.adminToken, 'POST', '/v1/webhooks', { url: receiver.url, events: ['certificate.expiring'], products: [product.id] });
      expect(created.status).toBe(201);
      receiver.setSecret(created.json.secret as string);
      const certs: string[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await restCall(gw.baseUrl, gw.adminToken, 'POST', '/v1/certificates', { productId: product.id, commonName: `exp-${i}.hooks.test` });
        expect(res.status, JSON.stringify(res.json)).toBe(201);
        certs.push((res.json.certificate as { id: string }).id);
      }
      const workers = [gw.worker, second.rt].map((rt) => rt?.notifier);
      const scanBoth = async () => {
        // Both at once, twice, besides their own schedule: the race the unique event id settles.
        await Promise.all([...workers, ...workers].map((n) => n?.scanExpiry()));
      };
      const expiringFor = (threshold: number) => receiver.accepted().filter((d) => d.payload.data.thresholdDays === threshold);

      clock.advance(11 * DAY); // 29 days left: the 30-day notice
      await scanBoth();
      await until(() => expiringFor(30).length >= certs.length, 30_000, 'a 30-day notice per certificate');
      clock.advance(20 * DAY); // 9 days left: the 10-day notice
      await scanBoth();
      await until(() => expiringFor(10).length >= certs.length, 30_000, 'a 10-day notice per certificate');
      await scanBoth();

      // The outbox holds one event per certificate and threshold, and each one delivery, done.
      const db = gw.rt.store.db as unknown as Kysely<{ webhook_events: { id: string; type: string }; webhook_deliveries: { subscription_id: string; status: string } }>;
      const events = await db.selectFrom('webhook_events').select('id').where('type', '=', 'certificate.expiring').execute();
      expect(events.map((e) => e.id).sort()).toEqual(certs.flatMap((c) => [`msg_x${c}_30d`, `msg_x${c}_10d`]).sort());
      await until(async () => (await db.selectFrom('webhook_deliveries').select('status').where('subscription_id', '=', created.json.id as string).execute()).every((d) => d.status === 'delivered'), 20_000, 'every delivery done');
      expect(await db.selectFrom('webhook_deliveries').select('status').where('subscription_id', '=', created.json.id as string).execute()).toHaveLength(2 * certs.length);
      for (const threshold of [30, 10]) {
        const told = expiringFor(threshold).map((d) => (d.payload.data.certificate as { id: string }).id);
        expect(told.sort()).toEqual([...certs].sort());
      }
      const ids = receiver.accepted().map((d) => d.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(receiver.received.every((d) => d.verified)).toBe(true);
    } finally {
      await receiver.stop();
    }
  });
});

describe('certgate webhook create | list | deliveries | delete', () => {
  const root = join(import.meta.dirname, '..');
  const dir = tempDir('certgate-webhook-cli-');
  const certgate = (args: string[]) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'main.ts'), ...args], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, CERTGATE_DATA_DIR: dir, CERTGATE_LOG_LEVEL: 'silent', DATABASE_URL: '', REDIS_URL: '' },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) as Record<string, unknown> };
  };

  it('manages a subscription from the console, its secret printed once, and audits it', () => {
    expect(certgate(['init', '--json']).code).toBe(0);
    const made = certgate(['webhook', 'create', '--url', 'https://hooks.example.com/cg', '--event', 'certificate.issued,certificate.expiring', '--product', 'default', '--json']);
    expect(made.code, made.stderr).toBe(0);
    const hook = made.json();
    expect(hook).toMatchObject({ url: 'https://hooks.example.com/cg', events: ['certificate.issued', 'certificate.expiring'], owner: 'cli', secret: expect.stringMatching(/^whsec_/) });
    expect(hook.products).toHaveLength(1);

    const list = certgate(['webhook', 'list']);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+URL\s+PRODUCTS\s+OWNER\s+EVENTS$/);
    expect(list.stdout).toContain(hook.id as string);
    expect(list.stdout).not.toContain((hook.secret as string).slice(6));
    expect(certgate(['webhook', 'deliveries', hook.id as string]).stdout.trim()).toMatch(/^AT\s+EVENT\s+TYPE\s+ATTEMPT\s+STATUS\s+ERROR$/);

    const wrong = certgate(['webhook', 'create', '--url', 'https://hooks.example.com/cg', '--event', 'certificate.exploded']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/unknown event "certificate.exploded"/);

    expect(certgate(['webhook', 'delete', hook.id as string]).code).toBe(0);
    expect(certgate(['webhook', 'list', '--json']).json()).toEqual([]);
    const trail = certgate(['audit', 'list', '--target', hook.id as string, '--json']).json().entries as { action: string }[];
    expect(trail.map((e) => e.action).sort()).toEqual(['webhook.create', 'webhook.delete']);
  }, 240_000);
});

describe('webhook secrets and master-key rotation', () => {
  it('reseals every signing secret under the new key, in the rotation', async () => {
    const rt = await openRuntime(testConfig({ webhookAllowPrivate: true }), { protocols: PROTOCOLS });
    try {
      const made = await rt.core.webhooks.create({ url: 'https://hooks.example.com/rotate', events: ['certificate.issued'], productIds: null }, 'cli', CLI_CONTEXT);
      const newKey = 'test-master-key-webhooks-rotated-1';
      const { counts } = await rekeyDeployment({ store: rt.store, oldKey: TEST_MASTER_KEY, newKey, protocols: PROTOCOLS, newKeySource: 'the test' });
      expect(counts.webhook_secrets).toBe(1);
      const row = await (rt.store.db as unknown as Kysely<{ webhook_subscriptions: { id: string; secret: string } }>).selectFrom('webhook_subscriptions').select(['id', 'secret']).where('id', '=', made.subscription.id).executeTakeFirstOrThrow();
      const under = (key: string) => new WebhookService(rt.store, createSealing(key), webhookAddressPolicy(true), Date.now).signingSecret(row);
      expect(under(newKey)).toBe(made.secret);
      expect(under(TEST_MASTER_KEY)).toBeNull();
    } finally {
      await rt.close();
    }
  });
});

describe('a subscription made while a pass of the tail is under way', () => {
  let gw: Gateway;
  /** Runs once, inside the tail's next read of the trail's head or of its entries: what another process does at that moment. */
  let meanwhile: { at: 'head' | 'after'; run: () => Promise<void> } | undefined;
  let notifier: Notifier;
  const api = (method: string, path: string, body?: unknown) => restCall(gw.baseUrl, gw.adminToken, method, path, body);
  const subscribe = async (events: string[]) => {
    const res = await api('POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/hook', events });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    return res.json.id as string;
  };
  const issue = async () => {
    const res = await api('POST', '/v1/certificates', { caId: gw.issuing.id, commonName: `race-${randomBytes(4).toString('hex')}.hooks.test`, keyAlgorithm: 'ECDSA-P256', validityDays: 60 });
    expect(res.status, JSON.stringify(res.json)).toBe(201);
    return (res.json.certificate as { id: string }).id;
  };
  const deliveriesOf = (subscription: string) =>
    (gw.rt.store.db as unknown as Kysely<{ webhook_deliveries: { subscription_id: string; event_type: string } }>).selectFrom('webhook_deliveries').select('event_type').where('subscription_id', '=', subscription).execute();

  beforeAll(async () => {
    // The runtime's own tail waits ten minutes: only the test's notifier reads the trail.
    gw = await startGateway({ overrides: { ...FAST, webhookPollMs: 600_000 } });
    const store = gw.rt.store;
    const before = async <T>(at: 'head' | 'after', read: () => Promise<T>): Promise<T> => {
      const now = meanwhile?.at === at ? meanwhile : undefined;
      if (now) meanwhile = undefined;
      await now?.run();
      return read();
    };
    const audit = Object.assign(Object.create(store.audit) as typeof store.audit, {
      head: () => before('head', () => store.audit.head()),
      after: (seq: number, limit: number) => before('after', () => store.audit.after(seq, limit)),
    });
    notifier = new Notifier({
      store: Object.assign(Object.create(store) as typeof store, { audit }),
      webhooks: gw.rt.core.webhooks,
      policy: webhookAddressPolicy(true),
      log: gw.rt.log,
      now: Date.now,
      expiryThresholdsDays: [30],
      deliveryTimeoutMs: 1000,
      sweepAfterMs: 60_000,
    });
    await notifier.tick(async () => undefined);
  });
  afterAll(() => gw?.close());

  it('the first subscription hears of what happens once it exists, though nobody listened when the pass began', async () => {
    let made = '';
    meanwhile = {
      at: 'head',
      run: async () => {
        made = await subscribe(['certificate.issued']);
        await issue();
      },
    };
    await notifier.tick(async () => undefined);
    expect(meanwhile).toBeUndefined();
    expect(await deliveriesOf(made)).toEqual([{ event_type: 'certificate.issued' }]);
  });

  it('a subscription to another event type hears of it, though the pass began without it', async () => {
    const cert = await issue();
    let made = '';
    meanwhile = {
      at: 'after',
      run: async () => {
        made = await subscribe(['certificate.revoked']);
        expect((await api('POST', `/v1/certificates/${cert}/revoke`, { reason: 'superseded' })).status).toBe(200);
      },
    };
    await notifier.tick(async () => undefined);
    expect(meanwhile).toBeUndefined();
    expect(await deliveriesOf(made)).toEqual([{ event_type: 'certificate.revoked' }]);
  });
});
