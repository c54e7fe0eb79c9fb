// The SCEP front-end (RFC 8894) as a protocol module: the SCEP paths, the one-time challenge route
// (/v1/scep/challenges, served by REST), the RA certificates, and SCEP's own tables.
import type { ProtocolModule } from '../../src/core/protocol.js';
import { resealKey } from '../../src/core/sealing.js';
import type { TokenKeyStore } from '../../src/core/tokenKeys.js';
import { Challenges, declareChallengeRoute } from './challenges.js';
import { CmsPool } from './cmsPool.js';
import { scepCredential } from './credential.js';
import { raTokenOf, scepConfig } from './config.js';
import { resealRaKeys, ScepDb } from './db.js';
import { SCEP_MIGRATIONS } from './migrations.js';
import { PkiOperations } from './operations.js';
import { RaCertificates } from './ra.js';
import { RaIssuers } from './raIssuer.js';
import { ScepServer } from './server.js';

const CLEANUP_INTERVAL_MS = 10 * 60_000;
/** Expired challenges and RA certificates are kept this long (for an operator to look at). */
const EXPIRED_KEPT_MS = 7 * 86_400_000;

export const scepProtocol: ProtocolModule = {
  name: 'scep',
  migrations: SCEP_MIGRATIONS,
  credentialKind: scepCredential,
  config: scepConfig,
  mount(core) {
    const { config, log } = core;
    const db = new ScepDb(core.tables());
    const raToken = raTokenOf(scepConfig.of(config));
    // Logged in to on first use (the first RA key to make or use), and again after a failed login.
    let tokenStore: Promise<TokenKeyStore> | undefined;
    const token = raToken
      ? () =>
          (tokenStore ??= core.tokenKeys.open(raToken).catch((e: unknown) => {
            tokenStore = undefined;
            throw e;
          }))
      : null;
    const ras = new RaCertificates(db, core.signer, (id) => core.queries.caById(id), core.sealing, scepConfig.of(config).scepRaDays * 86_400_000, log, core.now, token);
    const raIssuers = new RaIssuers(core.queries, scepConfig.of(config).scepRaCa);
    const challenges = new Challenges(db, core);
    // As many threads as the deployment gives to checking CSR signatures (one per core but one).
    const cms = new CmsPool(Math.max(1, config.cryptoThreads), log);
    const operations = new PkiOperations(core, ras, raIssuers, challenges, cms);
    const router = new ScepServer(core, ras, raIssuers, operations).router();

    let sweeper: NodeJS.Timeout | undefined;
    return {
      router,
      adminRoutes: (routes) => declareChallengeRoute(routes, core, challenges),
      async startServing() {
        // Every CA a product issues under gets its RA before anything listens (and, with
        // --processes, before the children fork, so that they share one).
        const caIds = new Set((await core.queries.productList()).map((p) => p.caId));
        for (const caId of caIds) await raIssuers.of(caId).then((raCa) => ras.current(raCa)).catch((e: Error) => log.warn({ err: e.message, ca: caId }, 'could not prepare the SCEP RA certificate'));
        await cms.warm().catch((e: Error) => log.warn({ err: e.message }, 'the SCEP CMS threads did not start'));
        sweeper = setInterval(() => {
          const now = core.now();
          Promise.all([challenges.removeExpired(now, EXPIRED_KEPT_MS), db.removeExpiredRas(now, EXPIRED_KEPT_MS)]).catch((e: Error) => log.warn({ err: e.message }, 'SCEP cleanup failed'));
        }, CLEANUP_INTERVAL_MS);
        sweeper.unref();
      },
      async close() {
        if (sweeper) clearInterval(sweeper);
        await cms.close();
      },
    };
  },
  async resealUnder({ tables, from, to }) {
    const ra_keys = await resealRaKeys(tables(), (envelope, id) => resealKey(from, to, envelope, `the SCEP RA key ${id}`));
    return { ra_keys };
  },
};
