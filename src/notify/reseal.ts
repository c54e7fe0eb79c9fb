// `certgate master-key rotate`: the webhook signing secrets, opened under the old master key and
// sealed under the new one, inside the rotation's transaction (core/rekey.ts).
import type { Kysely } from 'kysely';
import { resealSecret, type Sealing } from '../core/sealing.js';
import type { NotifyDatabase } from './schema.js';
import { WEBHOOK_SECRET_PURPOSE } from './webhookService.js';

/** How many secrets were sealed again; throws (rolling the rotation back) when one does not open. */
export async function resealWebhookSecrets(tx: Kysely<unknown>, from: Sealing, to: Sealing): Promise<number> {
  const db = tx as Kysely<NotifyDatabase>;
  // A store opened without a runtime (a bare test store) has no notification tables, hence nothing sealed there.
  const tables = await db.introspection.getTables();
  if (!tables.some((t) => t.name === 'webhook_subscriptions')) return 0;
  const [old, fresh] = [from.secrets(WEBHOOK_SECRET_PURPOSE), to.secrets(WEBHOOK_SECRET_PURPOSE)];
  const rows = await db.selectFrom('webhook_subscriptions').select(['id', 'secret']).execute();
  for (const r of rows) {
    const secret = resealSecret(old, fresh, r.secret, r.id, `the signing secret of webhook ${r.id}`);
    await db.updateTable('webhook_subscriptions').set({ secret }).where('id', '=', r.id).execute();
  }
  return rows.length;
}
