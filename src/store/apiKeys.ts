import type { Kysely, Selectable } from 'kysely';
import type { ApiKeyRecord, Permission } from '../core/types.js';
import { apiKeyById } from './queries.js';
import { fromMs, fromNullableMs, type ApiKeysTable, type Database } from './schema.js';
import type { ApiKeyStore, NewApiKey } from './types.js';

export function apiKeyFromRow(row: Selectable<ApiKeysTable>): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    secretHash: row.secret_hash,
    permissions: JSON.parse(row.permissions) as Permission[],
    admin: Number(row.admin) !== 0,
    createdAt: fromMs(row.created_at),
    revokedAt: fromNullableMs(row.revoked_at),
  };
}

export class KyselyApiKeyStore implements ApiKeyStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(key: NewApiKey): Promise<ApiKeyRecord> {
    const createdAt = Date.now();
    const permissions = JSON.stringify(key.permissions);
    await this.db
      .insertInto('api_keys')
      .values({
        id: key.id,
        name: key.name,
        secret_hash: key.secretHash,
        permissions,
        admin: key.admin ? 1 : 0,
        created_at: createdAt,
        revoked_at: null,
      })
      .execute();
    return {
      id: key.id,
      name: key.name,
      secretHash: key.secretHash,
      permissions: JSON.parse(permissions) as Permission[],
      admin: key.admin,
      createdAt: new Date(createdAt),
      revokedAt: null,
    };
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    const row = await apiKeyById(this.db, { id }).executeTakeFirst();
    return row && apiKeyFromRow(row);
  }

  /** Oldest first. */
  async list(): Promise<ApiKeyRecord[]> {
    const rows = await this.db.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(apiKeyFromRow);
  }

  async revoke(id: string): Promise<boolean> {
    const result = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: Date.now() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }
}
