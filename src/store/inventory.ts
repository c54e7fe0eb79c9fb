// The inventory: certificates of ours and imported ones, as operators list, filter and edit them.
import { sql, type Kysely, type SelectQueryBuilder } from 'kysely';
import type { InventoryRecord } from '../core/types.js';
import { inventoryFromRow } from './certificates.js';
import type { Database } from './schema.js';
import type { InventoryFilter } from '../core/types.js';
import type { InventoryStore, Store } from './types.js';

type StoreKind = Store['kind'];

type CertificateQuery = SelectQueryBuilder<Database, 'certificates', object>;

const DAY_MS = 86_400_000;

/** LIKE's wildcards in a user's search text match themselves. */
const likePattern = (text: string): string => `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

function filtered(query: CertificateQuery, f: InventoryFilter, kind: StoreKind): CertificateQuery {
  const now = (f.now ?? new Date()).getTime();
  let q = query.where('deleted_at', 'is', null);
  if (f.caIds !== undefined || !f.includeImported) {
    const caIds = f.caIds;
    q = q.where((eb) => {
      const ours = caIds === undefined ? eb('source', '=', 'issued') : caIds.length === 0 ? eb.val(false) : eb('ca_id', 'in', caIds);
      return f.includeImported ? eb.or([ours, eb('source', '=', 'imported')]) : ours;
    });
  }
  if (f.source) q = q.where('source', '=', f.source);
  if (f.productId) q = q.where('product_id', '=', f.productId);
  if (f.owner) q = q.where('owner', '=', f.owner);
  if (f.search) q = q.where(sql<string>`lower(common_name)`, 'like', sql<string>`${likePattern(f.search)} escape '\\'`);
  if (f.createdFrom) q = q.where('created_at', '>=', f.createdFrom.getTime());
  if (f.createdTo) q = q.where('created_at', '<=', f.createdTo.getTime());
  if (f.expiringInDays !== undefined) {
    q = q.where('revoked_at', 'is', null).where('valid_to', '>', now).where('valid_to', '<=', now + f.expiringInDays * DAY_MS);
  }
  switch (f.status ?? 'all') {
    case 'active':
      q = q.where('revoked_at', 'is', null).where('valid_to', '>', now);
      break;
    case 'revoked':
      q = q.where('revoked_at', 'is not', null);
      break;
    case 'expired':
      q = q.where('revoked_at', 'is', null).where('valid_to', '<=', now);
      break;
  }
  for (const [name, value] of Object.entries(f.customFields ?? {})) {
    const field = kind === 'postgres' ? sql<string>`(custom_fields::jsonb ->> ${name})` : sql<string>`(custom_fields ->> ${'$."' + name + '"'})`;
    q = q.where(field, '=', value);
  }
  return q;
}

export class KyselyInventoryStore implements InventoryStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly kind: StoreKind,
  ) {}

  async list(filter: InventoryFilter, page: { limit: number; offset: number }): Promise<{ certificates: InventoryRecord[]; total: number }> {
    if (filter.caIds?.length === 0 && !filter.includeImported) return { certificates: [], total: 0 };
    const base = filtered(this.db.selectFrom('certificates'), filter, this.kind);
    const [rows, count] = await Promise.all([
      base.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).offset(page.offset).execute(),
      base.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { certificates: rows.map(inventoryFromRow), total: Number(count.n) };
  }

  async get(id: string): Promise<InventoryRecord | undefined> {
    const row = await this.db.selectFrom('certificates').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
    return row && inventoryFromRow(row);
  }
}
