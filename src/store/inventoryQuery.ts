// The inventory list at scale: one page of certificates newest first, and the total of the filter.
//
// At a million certificates, counting the matches and skipping to a deep page are what cost, not
// finding the page's rows. So (the schema is migration 0006_inventory_indexes):
// - `total` of the broad filters (CA, product, source, status, expiringInDays) is a sum over
//   certificate_counts, which triggers keep per CA, product, source, revoked or not, and day of
//   valid_to; a time bound (now, now + n days) falls inside one day, whose certificates are counted
//   exactly from the expiry index. Filters the counts do not know (search, owner, created dates,
//   custom fields) are counted exactly, through their indexes.
// - a page is found in a covering index (its order and its filters' columns), then its rows are
//   read by id; a page in the older half is found walking from the oldest end, so a deep page
//   walks at most half of the matches' index entries.
// - `search` goes through a trigram index: pg_trgm on PostgreSQL (the planner picks it for the
//   same LIKE), and the certificate_search FTS5 table on SQLite, whose candidates the LIKE on the
//   certificate's own common name then confirms.
import { sql, type ExpressionBuilder, type Kysely, type SelectQueryBuilder } from 'kysely';
import type { InventoryFilter, InventoryRecord } from '../core/types.js';
import { inventoryFromRow } from './certificates.js';
import { COUNT_BUCKET_MS } from './migrations.js';
import type { Database } from './schema.js';
import type { Store } from './types.js';

type StoreKind = Store['kind'];

export interface InventoryTables extends Database {
  certificate_counts: { ca_id: string; product_id: string; source: string; revoked: number; valid_to_day: number | string; n: number | string };
  certificate_search: { common_name: string; certificate_id: string };
}

type Db = Kysely<InventoryTables>;
type CertificateQuery<O> = SelectQueryBuilder<InventoryTables, 'certificates', O>;

const DAY_MS = 86_400_000;

/** Below this offset a page is read at once, alongside the count; deeper ones need the total first. */
const SHALLOW_OFFSET = 1_000;

/** LIKE's wildcards in a user's search text match themselves. */
const likePattern = (text: string): string => `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * The trigram index answers a search of three ASCII characters or more; shorter or other text
 * is matched by the LIKE alone (the FTS5 tokenizer folds case beyond ASCII, SQLite's lower() does
 * not, so only ASCII keeps the index's candidates a superset of the LIKE's matches).
 */
const trigramSearchable = (text: string): boolean => text.length >= 3 && /^[\x20-\x7e]+$/.test(text);

/**
 * How a query reads the table, which decides what its conditions may use an index for:
 * - `page` walks the list's order (a covering index) and tests the time bounds on its entries: a
 *   range read of the expiry index would fetch and sort every match, and planners without
 *   statistics (SQLite's, as certgate runs it) prefer it;
 * - `count` lets the planner choose (search, owner and created dates have indexes of their own);
 * - `edge` counts the certificates of one day of valid_to: the expiry index must be used, not a
 *   CA's index (which SQLite would prefer for an equality, and walk a whole CA).
 * Each disables an index by writing the column as an expression, which both databases accept.
 */
type Use = 'page' | 'count' | 'edge';

/** A condition nothing meets (a bound `false` is not a value SQLite can bind). */
const NOTHING = sql<boolean>`1 = 0`;

/** Which certificates the filter's CA scope admits; also valid on certificate_counts (same column names, '' for none). */
function inScope<DB, TB extends keyof DB>(eb: ExpressionBuilder<DB, TB>, f: InventoryFilter, caColumn = sql.ref<string>('ca_id')) {
  const source = sql.ref<string>('source');
  const caIds = f.caIds;
  const ours = caIds === undefined ? eb(source, '=', 'issued') : caIds.length === 0 ? NOTHING : eb(caColumn, 'in', caIds);
  return f.includeImported ? eb.or([ours, eb(source, '=', 'imported')]) : ours;
}

/** The filter's bounds on valid_to, (after, upTo], and whether matches must be revoked; null: nothing can match. */
function timeBounds(f: InventoryFilter, now: number): { revoked?: boolean; after?: number; upTo?: number } | null {
  const status = f.status ?? 'all';
  const live = status === 'active' || status === 'expired' || f.expiringInDays !== undefined;
  if (live && status === 'revoked') return null;
  let after = status === 'active' ? now : -Infinity;
  let upTo = status === 'expired' ? now : Infinity;
  if (f.expiringInDays !== undefined) {
    after = Math.max(after, now);
    upTo = Math.min(upTo, now + f.expiringInDays * DAY_MS);
  }
  if (after >= upTo) return null;
  return {
    ...(live ? { revoked: false } : status === 'revoked' ? { revoked: true } : {}),
    ...(after > -Infinity ? { after } : {}),
    ...(upTo < Infinity ? { upTo } : {}),
  };
}

/** Every condition of the filter, on certificates. */
export function filtered<O>(query: CertificateQuery<O>, f: InventoryFilter, kind: StoreKind, now: number, use: Use): CertificateQuery<O> {
  let q = query.where('deleted_at', 'is', null);
  const caColumn = use === 'edge' ? sql<string>`coalesce(ca_id, '')` : sql.ref<string>('ca_id');
  if (f.caIds !== undefined || !f.includeImported) q = q.where((eb) => inScope(eb, f, caColumn));
  if (f.source) q = q.where('source', '=', f.source);
  if (f.productId) q = q.where('product_id', '=', f.productId);
  if (f.productIds) q = q.where((eb) => (f.productIds?.length ? eb.or([eb('product_id', 'in', f.productIds), eb('source', '=', 'imported')]) : eb('source', '=', 'imported')));
  if (f.requester !== undefined) {
    const requester = f.requester;
    q = q.where('request_id', 'in', (eb) => eb.selectFrom('enrollment_requests').select('id').where('requester', '=', requester));
  }
  if (f.owner) q = q.where('owner', '=', f.owner);
  if (f.search) {
    if (kind === 'sqlite' && trigramSearchable(f.search)) {
      const phrase = `%${f.search}%`;
      q = q.where('id', 'in', (eb) => eb.selectFrom('certificate_search').select('certificate_id').where('common_name', 'like', phrase));
    }
    q = q.where(sql<string>`lower(common_name)`, 'like', sql<string>`${likePattern(f.search)} escape '\\'`);
  }
  if (f.createdFrom) q = q.where('created_at', '>=', f.createdFrom.getTime());
  if (f.createdTo) q = q.where('created_at', '<=', f.createdTo.getTime());
  const bounds = timeBounds(f, now);
  if (bounds === null) return q.where(NOTHING);
  const validTo = use === 'page' ? sql<number>`(valid_to + 0)` : sql.ref<number>('valid_to');
  if (bounds.revoked !== undefined) q = q.where('revoked_at', bounds.revoked ? 'is not' : 'is', null);
  if (bounds.after !== undefined) q = q.where(validTo, '>', bounds.after);
  if (bounds.upTo !== undefined) q = q.where(validTo, '<=', bounds.upTo);
  for (const [name, value] of Object.entries(f.customFields ?? {})) {
    // Compared as PostgreSQL's ->> writes any JSON value: as text (42, 4.5, true). SQLite's ->>
    // gives numbers and booleans as SQL numbers, so they are made text the same way.
    const path = `$."${name}"`;
    const field =
      kind === 'postgres'
        ? sql<string>`(custom_fields::jsonb ->> ${name})`
        : sql<string>`(case json_type(custom_fields, ${path}) when 'true' then 'true' when 'false' then 'false' else cast(custom_fields ->> ${path} as text) end)`;
    q = q.where(field, '=', value);
  }
  return q;
}

/** Whether certificate_counts can give this filter's total: only CA, product, source, status and expiry. */
function countable(f: InventoryFilter): boolean {
  return !f.search && !f.owner && f.productIds === undefined && f.requester === undefined && !f.createdFrom && !f.createdTo && Object.keys(f.customFields ?? {}).length === 0 && !(f.caIds ?? []).includes('');
}

async function count<O>(query: CertificateQuery<O>): Promise<number> {
  const row = await query.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * The total from certificate_counts: whole days strictly inside the time bounds from the sums,
 * the (at most two) days a bound falls in counted exactly.
 */
async function countedTotal(db: Db, f: InventoryFilter, kind: StoreKind, now: number): Promise<number> {
  const bounds = timeBounds(f, now);
  if (bounds === null) return 0;
  const dayOf = (ms: number): number => Math.floor(ms / COUNT_BUCKET_MS);
  let sums = db.selectFrom('certificate_counts').select((eb) => eb.fn.coalesce(eb.fn.sum<number | string>('n'), eb.lit(0)).as('n'));
  if (f.caIds !== undefined || !f.includeImported) sums = sums.where((eb) => inScope(eb, f));
  if (f.source) sums = sums.where('source', '=', f.source);
  if (f.productId) sums = sums.where('product_id', '=', f.productId);
  if (bounds.revoked !== undefined) sums = sums.where('revoked', '=', bounds.revoked ? 1 : 0);
  if (bounds.after !== undefined) sums = sums.where('valid_to_day', '>', dayOf(bounds.after));
  if (bounds.upTo !== undefined) sums = sums.where('valid_to_day', '<', dayOf(bounds.upTo));

  // The days a bound falls in, counted exactly (the filter's own bounds cut them).
  const edgeDays = new Set([bounds.after, bounds.upTo].filter((b) => b !== undefined).map(dayOf));
  const [summed, ...edges] = await Promise.all([
    sums.executeTakeFirstOrThrow().then((row) => Number(row.n)),
    ...[...edgeDays].map((day) =>
      count(filtered(db.selectFrom('certificates'), f, kind, now, 'edge').where('valid_to', '>=', day * COUNT_BUCKET_MS).where('valid_to', '<', (day + 1) * COUNT_BUCKET_MS)),
    ),
  ]);
  return edges.reduce((total, n) => total + n, summed);
}

function totalOf(db: Db, f: InventoryFilter, kind: StoreKind, now: number): Promise<number> {
  return countable(f) ? countedTotal(db, f, kind, now) : count(filtered(db.selectFrom('certificates'), f, kind, now, 'count'));
}

/** The rows of these ids (a list, or a query selecting them), newest first. */
async function rowsById(db: Db, ids: string[] | SelectQueryBuilder<InventoryTables, 'certificates', { id: string }>): Promise<InventoryRecord[]> {
  if (Array.isArray(ids) && ids.length === 0) return [];
  const rows = await db.selectFrom('certificates').selectAll().where('id', 'in', ids).orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
  return rows.map(inventoryFromRow);
}

/** The page's rows: its ids from the list's index, newest first (or oldest first when `fromOldest`), then the rows. */
function pageRows(db: Db, f: InventoryFilter, kind: StoreKind, now: number, limit: number, offset: number, fromOldest: boolean): Promise<InventoryRecord[]> {
  if (limit <= 0) return Promise.resolve([]);
  const order = fromOldest ? 'asc' : 'desc';
  return rowsById(db, filtered(db.selectFrom('certificates'), f, kind, now, 'page').select('id').orderBy('created_at', order).orderBy('id', order).limit(limit).offset(offset));
}

/**
 * A search costs finding its matches (in the trigram index), which a separate count would pay
 * again: the total rides along with the page, `count(*) over ()` counting every match before
 * LIMIT. Only a page past the end, which carries no row, needs a count of its own.
 */
async function searchPage(db: Db, f: InventoryFilter, kind: StoreKind, now: number, page: { limit: number; offset: number }): Promise<{ certificates: InventoryRecord[]; total: number }> {
  const matches = await filtered(db.selectFrom('certificates'), f, kind, now, 'count')
    .select((eb) => ['id', eb.fn.countAll<number | string>().over().as('total')])
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(page.limit)
    .offset(page.offset)
    .execute();
  const total = matches[0] ? Number(matches[0].total) : page.offset === 0 ? 0 : await count(filtered(db.selectFrom('certificates'), f, kind, now, 'count'));
  return { certificates: await rowsById(db, matches.map((m) => m.id)), total };
}

/** Newest first; deleted records are left out. `total` counts every match, not just this page. */
export async function listInventory(
  database: Kysely<Database>,
  kind: StoreKind,
  filter: InventoryFilter,
  page: { limit: number; offset: number },
): Promise<{ certificates: InventoryRecord[]; total: number }> {
  if (filter.caIds?.length === 0 && !filter.includeImported) return { certificates: [], total: 0 };
  const db = database.withTables<Omit<InventoryTables, keyof Database>>();
  const now = (filter.now ?? new Date()).getTime();
  if (filter.search) return searchPage(db, filter, kind, now, page);
  if (page.offset < SHALLOW_OFFSET) {
    const [certificates, total] = await Promise.all([pageRows(db, filter, kind, now, page.limit, page.offset, false), totalOf(db, filter, kind, now)]);
    return { certificates, total };
  }
  const total = await totalOf(db, filter, kind, now);
  if (page.offset >= total) return { certificates: [], total };
  // Nearer the oldest end: the same page counted from there (a row written between the count
  // and this read can shift it by one, as it would shift any page between two requests). Not
  // for time bounds: active and expiring certificates are the newest, expired ones the oldest,
  // so the walk from the other end would cross all the others first.
  const end = Math.min(total, page.offset + page.limit);
  const bounds = timeBounds(filter, now);
  const spreadOverTime = bounds?.after === undefined && bounds?.upTo === undefined;
  const certificates =
    spreadOverTime && page.offset > total - end
      ? await pageRows(db, filter, kind, now, end - page.offset, total - end, true)
      : await pageRows(db, filter, kind, now, page.limit, page.offset, false);
  return { certificates, total };
}
