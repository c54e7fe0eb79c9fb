// The EST front-end (RFC 7030) as a protocol module: on every listener, answering only over TLS.
import type { ProtocolModule } from '../../src/core/protocol.js';
import { estCredential } from './credential.js';
import { EST_MIGRATIONS } from './migrations.js';
import { EstServer } from './server.js';
import { resealKeptKeys, ServerKeys } from './serverKeygen.js';
import { estSettingsSchema } from './settings.js';

/** How long a key serverkeygen made is kept for the same request sent again. */
export const SERVER_KEY_KEPT_MS = 30 * 86_400_000;
const SWEEP_INTERVAL_MS = 3_600_000;

export const estProtocol: ProtocolModule = {
  name: 'est',
  migrations: EST_MIGRATIONS,
  credentialKind: estCredential,
  productSettings: estSettingsSchema,
  mount(core) {
    const keys = new ServerKeys(core.tables(), core.sealing);
    const server = new EstServer(core, keys);
    let sweeper: NodeJS.Timeout | undefined;
    return {
      router: server.router(),
      startServing() {
        sweeper = setInterval(() => {
          keys.removeMadeBefore(Date.now() - SERVER_KEY_KEPT_MS).catch((e: Error) => core.log.warn({ err: e.message }, 'EST key cleanup failed'));
        }, SWEEP_INTERVAL_MS);
        sweeper.unref();
      },
      close() {
        if (sweeper) clearInterval(sweeper);
        return Promise.resolve();
      },
    };
  },
  async resealUnder({ tables, from, to }) {
    return { server_keys: await resealKeptKeys(tables(), from, to) };
  },
};
