// The CMP front-end (RFC 9483 lightweight profile, RFC 9811 HTTP transfer) as a protocol module:
// its credential (a MAC secret named by senderKID), its settings, its tables and the CMP signer
// certificates that sign its answers.
import type { ProtocolModule } from '../../src/core/protocol.js';
import { resealKey } from '../../src/core/sealing.js';
import { cmpConfig } from './config.js';
import { cmpCredential } from './credential.js';
import { resealSignerKeys } from './db.js';
import { CMP_MIGRATIONS } from './migrations.js';
import { cmpSettingsSchema } from './settings.js';

export const cmpProtocol: ProtocolModule = {
  name: 'cmp',
  migrations: CMP_MIGRATIONS,
  credentialKind: cmpCredential,
  config: cmpConfig,
  productSettings: cmpSettingsSchema,
  mount() {
    return {};
  },
  async resealUnder({ tables, from, to }) {
    const signer_keys = await resealSignerKeys(tables(), (envelope, id) => resealKey(from, to, envelope, `the CMP signer key ${id}`));
    return { signer_keys };
  },
};
