// The ACME front-end as a protocol module.
import { dcvSettingsOf, VALIDATION_ATTEMPTS, VALIDATION_BACKOFF_MS } from '../../src/core/dcvSettings.js';
import type { NameAuthorizer } from '../../src/core/enrollmentService.js';
import type { ProtocolModule } from '../../src/core/protocol.js';
import { acmeBaseUrl } from './baseUrl.js';
import { acmeCredential } from './credential.js';
import { acmeConfig } from './config.js';
import { AcmeDb } from './db.js';
import { ACME_MIGRATIONS } from './migrations.js';
import { Nonces } from './nonces.js';
import { OrderStatusService, requesterOf } from './orderStatus.js';
import { recordInRegistry } from './reuse.js';
import { AcmeServer } from './server.js';
import { acmeSettingsSchema } from './settings.js';
import { validationJob, type ValidationFailed } from './validation.js';

const CLEANUP_INTERVAL_MS = 10 * 60_000;
/** Expired, unused orders and authorizations are kept this long (clients may still look at them). */
const EXPIRED_KEPT_MS = 86_400_000;

export const acmeProtocol: ProtocolModule = {
  name: 'acme',
  migrations: ACME_MIGRATIONS,
  credentialKind: acmeCredential,
  config: acmeConfig,
  productSettings: acmeSettingsSchema,
  mount(core) {
    const { config, log } = core;
    const db = new AcmeDb(core.tables());
    const own = acmeConfig.of(config);
    const caaIdentities = own.caaIdentities.length ? own.caaIdentities : [new URL(config.publicUrl ?? 'http://localhost').hostname];
    const dcv = { ...dcvSettingsOf(config, core.metrics), caaIdentities };
    const dcvFailed: ValidationFailed = async ({ challenge, problem }) => {
      const authz = await db.authz(challenge.authzId);
      const order = authz && (await db.order(authz.orderId));
      if (!authz || !order) return;
      await core.webhooks.emit({
        id: `msg_dcv${challenge.id}`,
        type: 'dcv.failed',
        productId: order.productId,
        data: { protocol: 'acme', identifier: authz.identifier, wildcard: authz.wildcard, method: challenge.type, problem, orderId: order.id, accountId: authz.accountId, challengeId: challenge.id },
      });
    };
    const validations = core.jobs('acme-validation', validationJob(db, dcv, log, { failed: dcvFailed, validated: recordInRegistry(core.domains, db, log), now: () => new Date(core.now()) }), { attempts: VALIDATION_ATTEMPTS, backoffMs: VALIDATION_BACKOFF_MS, concurrency: 16 });
    const nonces = new Nonces(core.oneTimeTokens);
    const orders = new OrderStatusService(db, core);
    const baseUrl = acmeBaseUrl(config);
    if (config.httpsPort === 0) {
      // Requests reach ACME only on a TLS socket of this process: a proxy must pass TLS through.
      log.warn({ baseUrl }, 'ACME is served over HTTPS only, and the HTTPS listener is off (CERTGATE_HTTPS_PORT=0): ACME clients cannot reach it');
    }
    const server = new AcmeServer(core, db, nonces, orders, validations, { caaIdentities, baseUrl });

    // The worker signs an ACME request only for names the order's authorizations proved.
    const authorizeNames: NameAuthorizer = async (request) => {
      const order = request.transactionId ? await db.order(request.transactionId) : undefined;
      const refuse = (detail: string) => ({ ok: false as const, rejection: { code: 'unauthorized' as const, rule: 'acmeAuthorization', detail } });
      if (!order || request.requester !== requesterOf(order)) return refuse('the request belongs to no ACME order of its requester');
      const authzs = await db.authzsOfOrder(order.id);
      const now = core.now();
      const unproven = authzs.filter((a) => a.status !== 'valid' || a.expires.getTime() <= now);
      if (authzs.length === 0 || unproven.length) return refuse(`not authorized for ${unproven.map((a) => a.identifier.value).join(', ')}`);
      return { ok: true };
    };

    let sweeper: NodeJS.Timeout | undefined;
    return {
      path: '/acme',
      router: server.router(),
      authorizeNames,
      startServing() {
        sweeper = setInterval(() => {
          // An order stays `pending` in its row while finalize waits: one whose finalize stopped
          // there (a crash) is settled from its request first, so a certificate's order is kept.
          const sweep = async () => {
            const now = core.now();
            for (const order of await db.expiredUnsubmitted(now - EXPIRED_KEPT_MS)) await orders.refresh(order);
            await db.removeExpired(now, EXPIRED_KEPT_MS);
          };
          sweep().catch((e: Error) => log.warn({ err: e.message }, 'ACME cleanup failed'));
        }, CLEANUP_INTERVAL_MS);
        sweeper.unref();
      },
      async close() {
        if (sweeper) clearInterval(sweeper);
      },
    };
  },
};
