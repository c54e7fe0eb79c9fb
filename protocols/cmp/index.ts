// The CMP front-end (RFC 9483 lightweight profile, RFC 9811 HTTP transfer) as a protocol module:
// its credential (a MAC secret named by senderKID), its settings, its tables and the CMP signer
// certificates that sign its answers.
import { capabilitiesOf } from '../../src/core/caCapabilities.js';
import { ClientCertificates } from '../../src/auth/certificateLogin.js';
import type { ProtocolModule } from '../../src/core/protocol.js';
import { resealKey } from '../../src/core/sealing.js';
import { cmpConfig } from './config.js';
import { cmpCredential } from './credential.js';
import { CmpDb, resealSignerKeys } from './db.js';
import { CMP_MIGRATIONS } from './migrations.js';
import { cmpSettingsSchema } from './settings.js';
import { CmpSigners } from './signers.js';
import { CmpServer } from './server.js';
import { CMP_LOGIN_WORDING } from './sender.js';
import { Transactions } from './transactions.js';

const DAY_MS = 86_400_000;
const CLEANUP_INTERVAL_MS = 10 * 60_000;
/** Expired signer certificates are kept this long (for an operator to look at). */
const EXPIRED_KEPT_MS = 7 * DAY_MS;

export const cmpProtocol: ProtocolModule = {
  name: 'cmp',
  migrations: CMP_MIGRATIONS,
  credentialKind: cmpCredential,
  config: cmpConfig,
  productSettings: cmpSettingsSchema,
  mount(core) {
    const db = new CmpDb(core.tables());
    const settings = cmpConfig.of(core.config);
    const signers = new CmpSigners(db, core, settings.cmpSignerDays * DAY_MS);
    const transactions = new Transactions(core.tables());
    const windowMs = settings.cmpMessageTimeWindowSeconds * 1000;
    const server = new CmpServer(core, signers, transactions, new ClientCertificates(core.queries, CMP_LOGIN_WORDING), {
      messageTimeWindowMs: windowMs,
      // A nonce outlives every message that could still carry it: past the window on both sides, and a transaction's life.
      nonceMemoryMs: Math.max(2 * windowMs, settings.cmpTransactionSeconds * 1000),
      transactionLifetimeMs: settings.cmpTransactionSeconds * 1000,
      checkAfterSeconds: settings.cmpCheckAfterSeconds,
      productPerMinute: settings.cmpIssuePerProductPerMinute,
    });
    let sweeper: NodeJS.Timeout | undefined;
    return {
      router: server.router(),
      async startServing() {
        // Every local CA a product issues under gets its signer before anything listens (and, with
        // --processes, before the children fork, so that they share one).
        const caIds = new Set((await core.queries.productList()).map((p) => p.caId));
        for (const caId of caIds) {
          const ca = await core.queries.caById(caId);
          if (!ca || !capabilitiesOf(ca).signsLocally) continue;
          await signers.current(caId).catch((e: Error) => core.log.warn({ err: e.message, ca: caId }, 'could not prepare the CMP signer certificate'));
        }
        sweeper = setInterval(() => {
          db.removeExpiredSigners(core.now(), EXPIRED_KEPT_MS).catch((e: Error) => core.log.warn({ err: e.message }, 'CMP cleanup failed'));
          transactions.removeExpired(core.now()).catch((e: Error) => core.log.warn({ err: e.message }, 'CMP transaction cleanup failed'));
        }, CLEANUP_INTERVAL_MS);
        sweeper.unref();
      },
      close() {
        if (sweeper) clearInterval(sweeper);
        return Promise.resolve();
      },
    };
  },
  async resealUnder({ tables, from, to }) {
    const signer_keys = await resealSignerKeys(tables(), (envelope, id) => resealKey(from, to, envelope, `the CMP signer key ${id}`));
    return { signer_keys };
  },
};
