// Master-key rotation: everything sealed under the old master key sealed again under the new one,
// and the audit chain re-keyed, in ONE database transaction, so that a crash leaves the
// deployment wholly under the old key or wholly under the new one, never a mix no key opens.
// Each sealed column is listed here once (the core's), or by the protocol that owns the table
// (ProtocolModule.resealUnder), which reaches only its own tables through a guarded handle.
import { sql, type Kysely } from 'kysely';
import { AUDIT, CLI_ACTOR } from '../audit/actions.js';
import { chainKeyOf, type ChainHead } from '../audit/chain.js';
import { checkpointKeyOf } from '../audit/checkpoint.js';
import { SecretBox } from '../auth/envelope.js';
import { appendAudit, AUDIT_LOCK_KEY, KyselyAuditStore, resealTrail } from '../store/audit.js';
import { KyselyWriter } from '../store/kyselyWriter.js';
import type { Database } from '../store/schema.js';
import type { Store } from '../store/types.js';
import { credentialKindsOf, type ProtocolModule, type ResealContext } from './protocol.js';
import { createSealing, keyEnvelopeKind, RekeyRefused, resealKey, resealSecret } from './sealing.js';
import { guardOf, guardTables, type TableGuard } from './tableGuard.js';
import type { AuditEntry } from './types.js';
import { resealWebhookSecrets } from '../notify/reseal.js';

/** What a rotation re-sealed, by kind (a protocol's kinds are prefixed with its name). */
export type RekeyCounts = Record<string, number>;

export interface RekeyResult {
  counts: RekeyCounts;
  /** The audit entry that records the rotation, sealed under the new key. */
  entry: AuditEntry;
  /** The trail's last entry before the rotation, with its link under the OLD key (what an old checkpoint names). */
  headBefore: ChainHead | null;
}

export interface RekeyOptions {
  store: Pick<Store, 'db' | 'kind'>;
  oldKey: string;
  newKey: string;
  protocols: readonly ProtocolModule[];
  /** Where the new key is to be kept, for the audit entry (never the key). */
  newKeySource: string;
  now?: () => number;
}

/** Rows read per step of a walk over a table that may be large (escrowed keys, the trail). */
const PAGE = 500;

/**
 * Rotates in one transaction: checks the audit chain under the old key (a broken one is refused:
 * re-keying it would bless the break), re-seals every sealed column, re-keys every audit link,
 * and appends `master_key.rotate`. Throws RekeyRefused (nothing changed) on anything that does not
 * open under the old key.
 */
export async function rekeyDeployment(o: RekeyOptions): Promise<RekeyResult> {
  if (o.newKey === o.oldKey) throw new RekeyRefused('the new master key is the current one');
  const from = createSealing(o.oldKey);
  const to = createSealing(o.newKey);
  const oldBox = new SecretBox(o.oldKey);
  const newBox = new SecretBox(o.newKey);
  const oldChain = chainKeyOf(o.oldKey);
  const newChain = chainKeyOf(o.newKey);
  const now = o.now ?? Date.now;
  // The guards are built before the transaction: building one runs the migrations on a dummy database.
  const guards = new Map<string, TableGuard>();
  for (const m of o.protocols) if (m.resealUnder) guards.set(m.name, await guardOf(m));

  // The writer's chain key is not used by transaction(): entries are appended below with the new one.
  return new KyselyWriter(o.store.db, o.store.kind, newChain).transaction(async (tx) => {
    // Every kind the core seals, zero or not, so that the report always has the same shape.
    const counts: RekeyCounts = { ca_keys: 0, ocsp_signer_keys: 0, escrowed_keys: 0, credential_secrets: 0 };
    const add = (kind: string, n: number) => void (counts[kind] = (counts[kind] ?? 0) + n);

    // Appenders in other processes wait for this transaction (PostgreSQL; SQLite's BEGIN IMMEDIATE does the same).
    const trail = await checkedTrail(tx, o.store.kind, oldChain);

    for (const ca of await tx.selectFrom('cas').select(['id', 'name', 'encrypted_key']).execute()) {
      // A passphrase-protected CA key is the operator's to keep; the master key never opened it.
      if (keyEnvelopeKind(ca.encrypted_key) !== 'master') continue;
      await tx.updateTable('cas').set({ encrypted_key: resealKey(from, to, ca.encrypted_key, `the key of CA "${ca.name}"`) }).where('id', '=', ca.id).execute();
      add('ca_keys', 1);
    }
    for (const s of await tx.selectFrom('ocsp_signers').select(['id', 'encrypted_key']).execute()) {
      if (keyEnvelopeKind(s.encrypted_key) !== 'master') continue;
      await tx.updateTable('ocsp_signers').set({ encrypted_key: resealKey(from, to, s.encrypted_key, `the OCSP signer key ${s.id}`) }).where('id', '=', s.id).execute();
      add('ocsp_signer_keys', 1);
    }
    for (let after = ''; ; ) {
      const page = await tx
        .selectFrom('enrollment_requests')
        .select(['id', 'escrowed_key'])
        .where('escrowed_key', 'is not', null)
        .where('id', '>', after)
        .orderBy('id')
        .limit(PAGE)
        .execute();
      for (const r of page) {
        await tx.updateTable('enrollment_requests').set({ escrowed_key: resealKey(from, to, r.escrowed_key as string, `the escrowed key of request ${r.id}`) }).where('id', '=', r.id).execute();
      }
      add('escrowed_keys', page.length);
      if (page.length < PAGE) break;
      after = (page.at(-1) as { id: string }).id;
    }
    // Only the kinds that seal their secrets (an EAB HMAC key, a static SCEP challenge); the others keep a hash.
    const kinds = credentialKindsOf(o.protocols);
    const known = kinds.map((k) => k.type);
    const strays = await tx
      .selectFrom('credentials')
      .select('type')
      .distinct()
      .$if(known.length > 0, (q) => q.where('type', 'not in', known))
      .execute();
    if (strays.length) throw new RekeyRefused(`credentials of type ${strays.map((r) => r.type).join(', ')} belong to no registered protocol, so whether their secrets are sealed is not known; nothing was rotated`);
    const sealedTypes = kinds.flatMap((k) => (k.storage === 'sealed' ? [k.type] : []));
    const sealedCredentials = sealedTypes.length
      ? await tx.selectFrom('credentials').select(['id', 'type', 'secret', 'previous_secret']).where('type', 'in', sealedTypes).execute()
      : [];
    for (const c of sealedCredentials) {
      const reseal = (stored: string, which: string): string => resealSecret(oldBox, newBox, stored, c.id, `the ${which} secret of ${c.type} credential ${c.id}`);
      const secret = reseal(c.secret, 'current');
      const previous = c.previous_secret === null ? null : reseal(c.previous_secret, 'previous');
      await tx.updateTable('credentials').set({ secret, previous_secret: previous }).where('id', '=', c.id).execute();
      add('credential_secrets', 1 + (previous === null ? 0 : 1));
    }

    add('webhook_secrets', await resealWebhookSecrets(tx as unknown as Kysely<unknown>, from, to));

    for (const m of o.protocols) {
      if (!m.resealUnder) continue;
      const guarded = guardTables<unknown>(tx as unknown as Kysely<unknown>, guards.get(m.name) as TableGuard);
      const context: ResealContext = { kind: o.store.kind, tables: <S>() => guarded.db as unknown as Kysely<S>, from, to };
      for (const [kind, n] of Object.entries(await m.resealUnder(context))) add(`${m.name}.${kind}`, n);
    }

    const resealed = await resealTrail(tx, newChain);
    add('audit_entries', resealed);
    const entry = await appendAudit(
      tx,
      o.store.kind,
      newChain,
      {
        actor: CLI_ACTOR,
        protocol: 'cli',
        sourceIp: null,
        action: AUDIT.masterKeyRotate,
        target: 'master_key',
        outcome: 'success',
        detail: {
          resealed: counts,
          // An operator holding a checkpoint from before can tie it to this point of the trail.
          head_before: trail,
          old_checkpoint_key: checkpointKeyOf(o.oldKey).publicKeyB64,
          new_checkpoint_key: checkpointKeyOf(o.newKey).publicKeyB64,
          new_key_kept_in: o.newKeySource,
        },
      },
      now(),
    );
    return { counts, entry, headBefore: trail };
  });
}

/** The whole trail must verify under the old key; a broken one is refused, never re-keyed. */
async function checkedTrail(tx: Kysely<Database>, kind: 'sqlite' | 'postgres', oldChain: Buffer): Promise<ChainHead | null> {
  if (kind === 'postgres') await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_KEY})`.execute(tx);
  const report = await new KyselyAuditStore(tx, oldChain).verify();
  if (!report.ok) {
    throw new RekeyRefused(
      `the audit trail does not verify under the current master key (${report.broken?.detail ?? 'broken'}); re-keying it would hide that. ` +
        'Nothing was rotated: see `certgate audit verify` (and `audit reseal` for a trail from before the keyed chain)',
    );
  }
  return report.head;
}
