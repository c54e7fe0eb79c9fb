import { sql, type Insertable, type Selectable } from 'kysely';
import type { AuditEntryInput, CredentialRecord, CredentialScope, CredentialType, Permission } from '../core/types.js';
import { KyselyAggregate } from './kyselyWriter.js';
import { credentialById, insertCredential, revokeCredential, rotateCredential, type RotateArgs } from './queries.js';
import { fromMs, fromNullableMs, toMs, type CredentialsTable } from './schema.js';
import type { CredentialStatus, CredentialStore, NewCredential } from './types.js';
import { firstRecord, recordOf } from './rows.js';

export function credentialFromRow(row: Selectable<CredentialsTable>): CredentialRecord {
  return {
    id: row.id,
    type: row.type as CredentialType,
    name: row.name,
    products: JSON.parse(row.products) as '*' | string[],
    ownerUser: row.owner_user,
    ownerGroup: row.owner_group,
    expiresAt: fromNullableMs(row.expires_at),
    allowIps: JSON.parse(row.allow_ips) as string[],
    permissions: JSON.parse(row.permissions) as Permission[],
    admin: Number(row.admin) !== 0,
    scope: row.scope === 'own' ? 'own' : 'product',
    secret: row.secret,
    previousSecret: row.previous_secret,
    previousSecretUntil: fromNullableMs(row.previous_secret_until),
    secretVersion: Number(row.secret_version),
    enabled: Number(row.enabled) !== 0,
    revokedAt: fromNullableMs(row.revoked_at),
    createdAt: fromMs(row.created_at),
    lastUsedAt: fromNullableMs(row.last_used_at),
    useCount: Number(row.use_count),
  };
}

/** The row of a new credential, and the record a read of it returns. */
export function newCredentialRow(c: NewCredential, now: number): Insertable<CredentialsTable> {
  return {
    id: c.id,
    type: c.type,
    name: c.name,
    products: JSON.stringify(c.products),
    owner_user: c.ownerUser,
    owner_group: c.ownerGroup,
    expires_at: c.expiresAt === null ? null : toMs(c.expiresAt),
    allow_ips: JSON.stringify(c.allowIps),
    permissions: JSON.stringify(c.permissions),
    admin: c.admin ? 1 : 0,
    scope: c.scope ?? ('product' satisfies CredentialScope),
    secret: c.secret,
    previous_secret: null,
    previous_secret_until: null,
    secret_version: 1,
    enabled: 1,
    revoked_at: null,
    created_at: now,
    last_used_at: null,
    use_count: 0,
  };
}

export const rotateArgs = (id: string, secret: string, previousUntil: Date | null, now: number): RotateArgs => ({
  id,
  secret,
  previousUntil: previousUntil === null ? null : toMs(previousUntil),
  now,
});

export class KyselyCredentialStore extends KyselyAggregate implements CredentialStore {

  async insert(c: NewCredential, audit: AuditEntryInput): Promise<CredentialRecord> {
    const row = await this.writes.one(insertCredential(this.db, newCredentialRow(c, this.writes.now())).returningAll(), () => audit);
    if (!row) throw new Error(`credential ${c.id} was not stored`);
    return credentialFromRow(row);
  }

  async get(id: string): Promise<CredentialRecord | undefined> {
    return firstRecord(credentialById(this.db, { id }), credentialFromRow);
  }

  async findLive(type: CredentialType, name: string): Promise<CredentialRecord | undefined> {
    const row = await this.db
      .selectFrom('credentials')
      .selectAll()
      .where('type', '=', type)
      .where('name', '=', name)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return row && credentialFromRow(row);
  }

  async list(
    filter: { type?: CredentialType; status?: CredentialStatus },
    page: { limit: number; offset: number },
  ): Promise<{ credentials: CredentialRecord[]; total: number }> {
    const now = this.writes.now();
    let q = this.db.selectFrom('credentials');
    if (filter.type) q = q.where('type', '=', filter.type);
    switch (filter.status ?? 'all') {
      case 'active':
        q = q.where('revoked_at', 'is', null).where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]));
        break;
      case 'revoked':
        q = q.where('revoked_at', 'is not', null);
        break;
      case 'expired':
        q = q.where('revoked_at', 'is', null).where('expires_at', '<=', now);
        break;
    }
    const [{ n } = { n: 0 }] = await q.select((eb) => eb.fn.countAll<number | string>().as('n')).execute();
    const rows = await q.selectAll().orderBy('created_at').orderBy('id').limit(page.limit).offset(page.offset).execute();
    return { credentials: rows.map(credentialFromRow), total: Number(n) };
  }

  async rotate(id: string, secret: string, previousUntil: Date | null, audit: AuditEntryInput): Promise<CredentialRecord | undefined> {
    const args = rotateArgs(id, secret, previousUntil, this.writes.now());
    return recordOf(await this.writes.one(rotateCredential(this.db, args), (r) => (r ? audit : null)), credentialFromRow);
  }

  async revoke(id: string, audit: AuditEntryInput): Promise<CredentialRecord | undefined> {
    return recordOf(await this.writes.one(revokeCredential(this.db, { id, now: this.writes.now() }), (r) => (r ? audit : null)), credentialFromRow);
  }

  async recordUse(uses: readonly { id: string; count: number; lastUsedAt: Date }[]): Promise<void> {
    for (const use of uses) {
      const at = toMs(use.lastUsedAt);
      await this.db
        .updateTable('credentials')
        .set(() => ({
          use_count: sql<number>`use_count + ${use.count}`,
          // Several processes report: keep the latest.
          last_used_at: sql<number>`case when last_used_at is null or last_used_at < ${at} then ${at} else last_used_at end`,
        }))
        .where('id', '=', use.id)
        .execute();
    }
  }
}
