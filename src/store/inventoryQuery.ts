// The inventory list at scale: one page of certificates newest first, and the total of the filter.
//
// At a million certificates, counting the matches and skipping to a deep page are what cost, not
// finding the page's rows. So (the schema is migration 0006_inventory_indexes):
// - `total` of the broad filters (CA, product, source, status, expiringInDays) is a sum over
//   certificate_counts, which triggers keep per CA, product, source, revoked or not, and day of
//   valid_to; a time bound (now, now + n days) falls inside one day, whose certificates are counted
//   exactly from the expiry index. Filters the counts do not know (owner, created dates, custom
//   fields) are counted exactly, through their indexes; a search up to EXACT_SEARCH_COUNT matches,
//   and estimated past it (from a fixed sample of rows).
// - a page after a position (keyset paging) starts from that entry of the index: any depth
//   costs what the first page does.
// - a page is found in a covering index (its order and its filters' columns), then its rows are
//   read by id; a page in the older half is found walking from the oldest end, so a deep page
//   walks at most half of the matches' index entries.
// - `search` goes through a trigram index: pg_trgm on PostgreSQL (the planner picks it for the
//   same LIKE), and the certificate_search FTS5 table on SQLite, whose candidates the LIKE on the
//   certificate's own common name then confirms.
import { sql, type ExpressionBuilder, type Kysely, type SelectQueryBuilder } from 'kysely';
import { EXACT_SEARCH_COUNT, type InventoryFilter, type InventoryListing, type InventoryOrder, type InventoryPageRequest, type InventoryPosition, type InventoryRecord, type InventorySort } from '../core/types.js';
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

/** The search's own test of a row: its common name holds the text, case aside. */
const nameHas = (text: string) => sql<boolean>`lower(common_name) like ${likePattern(text)} escape '\\'`;

/**
 * The trigram index answers a search of three ASCII characters or more; shorter or other text
 * is matched by the LIKE alone (the FTS5 tokenizer folds case beyond ASCII, SQLite's lower() does
 * not, so only ASCII keeps the index's candidates a superset of the LIKE's matches).
 */
const trigramSearchable = (text: string): boolean => text.length >= 3 && /^[\x20-\x7e]+$/.test(text);

/**
 * How a query reads the table, which decides what its conditions may use an index for:
 * - `page` walks the list's order (a covering index) and tests the time bounds and a search on its
 *   entries: a range read of the expiry index would fetch and sort every match, and planners
 *   without statistics (SQLite's, as certgate runs it) prefer it;
 * - `count` lets the planner choose (search, owner and created dates have indexes of their own;
 *   SQLite is pointed at the trigram index);
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
    if (kind === 'sqlite' && use === 'count' && trigramSearchable(f.search)) {
      const phrase = `%${f.search}%`;
      q = q.where('id', 'in', (eb) => eb.selectFrom('certificate_search').select('certificate_id').where('common_name', 'like', phrase));
    }
    q = q.where(nameHas(f.search));
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

/** Rows of the table sampled to estimate a search. */
const SAMPLE_ROWS = 2_000;

/** Fewer of the sample in the other conditions' scope than this and the share is too coarse to scale up: counted instead. */
const MIN_SAMPLED_BASE = 200;

type Total = { total: number; totalExact: boolean };

/** The total of a filter without a search (see searchListing): exact. */
async function totalOf(db: Db, f: InventoryFilter, kind: StoreKind, now: number): Promise<Total> {
  const total = countable(f) ? await countedTotal(db, f, kind, now) : await count(filtered(db.selectFrom('certificates'), f, kind, now, 'count'));
  return { total, totalExact: true };
}

/**
 * The share of the search's matches among the other conditions' matches in a sample of the
 * table, times those conditions' total (which is exact, and cheap for the broad ones); null when
 * the sample barely meets that scope. The sample is the same rows each time, so the same data
 * gives the same estimate: on SQLite runs of rowids spread over the table, on PostgreSQL its
 * repeatable block sample (TABLESAMPLE SYSTEM). Both read a few thousand rows, where confirming
 * every match of a broad search reads tens of thousands. (PostgreSQL's planner has no useful
 * estimate for a substring: it guesses a handful of rows whatever the text.)
 */
async function sampledEstimate(db: Db, f: InventoryFilter, kind: StoreKind, now: number): Promise<number | null> {
  const search = f.search as string;
  const unsearched: InventoryFilter = { ...f };
  delete unsearched.search;
  const row = await filtered(await sampled(db, kind), unsearched, kind, now, 'page')
    .select((eb) => [eb.fn.countAll<number | string>().as('base'), sql<number | string>`coalesce(sum(case when ${nameHas(search)} then 1 else 0 end), 0)`.as('hits')])
    .executeTakeFirstOrThrow();
  const [hits, base] = [Number(row.hits), Number(row.base)];
  if (base < MIN_SAMPLED_BASE) return null;
  return (hits / base) * (await totalOf(db, unsearched, kind, now)).total;
}

/** The certificates of the sample (see sampledEstimate), to be filtered as the table is. */
async function sampled(db: Db, kind: StoreKind): Promise<CertificateQuery<object>> {
  if (kind === 'sqlite') {
    const top = Number((await db.selectFrom('certificates').select(sql<number | null>`max(rowid)`.as('top')).executeTakeFirstOrThrow()).top ?? 0);
    return db.selectFrom('certificates').where(sql<number>`rowid`, 'in', sql<number>`(select value from json_each(${JSON.stringify(sampleRowids(top))}))`);
  }
  // The live certificates counted, for the share of the table's blocks that holds SAMPLE_ROWS of them.
  const all = await db.selectFrom('certificate_counts').select((eb) => eb.fn.coalesce(eb.fn.sum<number | string>('n'), eb.lit(0)).as('n')).executeTakeFirstOrThrow();
  const percent = Math.min(100, (100 * SAMPLE_ROWS) / Math.max(1, Number(all.n)));
  const table = sql<object>`(select * from certificates tablesample system (${sql.lit(percent)}) repeatable (${sql.lit(SAMPLE_SEED)}))`;
  return db.selectFrom(table.as('certificates')) as unknown as CertificateQuery<object>;
}

/** Any fixed seed: the same blocks for the same table. */
const SAMPLE_SEED = 20_261_206;

/** Runs of consecutive rows read together (they share pages) in one sample. */
const SAMPLE_RUNS = 40;

/**
 * SAMPLE_ROWS rowids in 1..top, the same for the same top: SAMPLE_RUNS runs of consecutive rows,
 * one in each stretch of the table (rows are written in time order, so each is a moment of it).
 */
function sampleRowids(top: number): number[] {
  if (top <= SAMPLE_ROWS) return Array.from({ length: top }, (_, i) => i + 1);
  const run = SAMPLE_ROWS / SAMPLE_RUNS;
  const stretch = Math.floor(top / SAMPLE_RUNS);
  return Array.from({ length: SAMPLE_ROWS }, (_, i) => 1 + Math.floor(i / run) * stretch + (i % run));
}

/** The rows of these ids, in the list's order. */
async function rowsById(db: Db, ids: string[], order: InventoryOrder): Promise<InventoryRecord[]> {
  if (ids.length === 0) return [];
  const dir = order === 'newest' ? 'desc' : 'asc';
  const rows = await db.selectFrom('certificates').selectAll().where('id', 'in', ids).orderBy('created_at', dir).orderBy('id', dir).execute();
  return rows.map(inventoryFromRow);
}

const reversed = (order: InventoryOrder): InventoryOrder => (order === 'newest' ? 'oldest' : 'newest');

/** The ids of a page in `order`, after `after` when given, `offset` skipped. */
function pageIds(db: Db, f: InventoryFilter, kind: StoreKind, now: number, use: Use, order: InventoryOrder, limit: number, offset: number, after?: InventoryPosition) {
  const dir = order === 'newest' ? 'desc' : 'asc';
  let q = filtered(db.selectFrom('certificates'), f, kind, now, use).select('id');
  if (after) q = q.where((eb) => eb(eb.refTuple('created_at', 'id'), order === 'newest' ? '<' : '>', eb.tuple(after.createdAt, after.id)));
  return q.orderBy('created_at', dir).orderBy('id', dir).limit(limit).offset(offset);
}

async function pageRows(db: Db, f: InventoryFilter, kind: StoreKind, now: number, use: Use, order: InventoryOrder, limit: number, offset: number): Promise<InventoryRecord[]> {
  if (limit <= 0) return [];
  const ids = await pageIds(db, f, kind, now, use, order, limit, offset).execute();
  return rowsById(db, ids.map((r) => r.id), order);
}

const positionOf = (c: InventoryRecord): InventoryPosition => ({ createdAt: c.createdAt.getTime(), id: c.id });

/**
 * Keyset paging: the page after `after`, one row more read to tell whether another follows. Each
 * page costs the same however deep, and a certificate written meanwhile shifts nothing: each
 * match is listed once (one written behind the position of a walk in progress is not seen).
 */
async function pageAfter(db: Db, f: InventoryFilter, kind: StoreKind, now: number, use: Use, order: InventoryOrder, limit: number, after: InventoryPosition) {
  const ids = (await pageIds(db, f, kind, now, use, order, limit + 1, 0, after).execute()).map((r) => r.id);
  const certificates = await rowsById(db, ids.slice(0, limit), order);
  const last = certificates[certificates.length - 1];
  return { certificates, next: ids.length > limit && last ? positionOf(last) : null };
}

/**
 * A search: its matches are found through the trigram index, but each must still be read to be
 * confirmed, so a broad search (a team's or a domain's name: tens of thousands of matches) costs
 * in proportion to its matches there, for its page and for its count. So the matches are
 * estimated first (see sampledEstimate). Up to EXACT_SEARCH_COUNT, the search goes through the
 * trigram index, and its offset page carries its exact total (`count(*) over ()` counts every
 * match before LIMIT: the index is walked once; only a page past the end needs a count of its
 * own). Past it, its total is the estimate, and says so, and on SQLite its page is found walking
 * the list's order (a broad search meets a page's worth of matches soon); PostgreSQL's planner
 * keeps its own choice (forcing the walk there cost more: see the commit that reverted it).
 */
async function searchListing(db: Db, f: InventoryFilter, kind: StoreKind, now: number, page: InventoryPageRequest, order: InventoryOrder): Promise<InventoryListing> {
  const estimate = await sampledEstimate(db, f, kind, now);
  const offset = page.offset ?? 0;
  if (estimate !== null && estimate > EXACT_SEARCH_COUNT) {
    const total = { total: Math.round(estimate), totalExact: false };
    if (page.after) return { ...(await pageAfter(db, f, kind, now, 'page', order, page.limit, page.after)), ...total };
    return pagedListing(await pageRows(db, f, kind, now, 'page', order, page.limit, offset), total, page.limit, offset);
  }
  const exactCount = () => count(filtered(db.selectFrom('certificates'), f, kind, now, 'count'));
  if (page.after) {
    const [found, total] = await Promise.all([pageAfter(db, f, kind, now, 'count', order, page.limit, page.after), exactCount()]);
    return { ...found, total, totalExact: true };
  }
  const matches = await pageIds(db, f, kind, now, 'count', order, page.limit, offset)
    .select((eb) => eb.fn.countAll<number | string>().over().as('total'))
    .execute();
  const total = matches[0] ? Number(matches[0].total) : offset === 0 ? 0 : await exactCount();
  const certificates = await rowsById(db, matches.map((m) => m.id), order);
  return pagedListing(certificates, { total, totalExact: true }, page.limit, offset);
}

/** An offset page: the next one starts after its last certificate, unless the total says it is the last. */
function pagedListing(certificates: InventoryRecord[], total: Total, limit: number, offset: number): InventoryListing {
  const last = certificates[certificates.length - 1];
  const more = certificates.length === limit && (!total.totalExact || offset + limit < total.total);
  return { certificates, ...total, next: more && last ? positionOf(last) : null };
}

/** A column's sort key, as SQL on certificates (status: active, expired, revoked at `now`). */
function sortKey(by: InventorySort['by'], now: number) {
  switch (by) {
    case 'commonName':
      return sql<string>`lower(coalesce(common_name, ''))`;
    case 'expires':
      return sql<number>`valid_to`;
    case 'status':
      return sql<number>`(case when revoked_at is not null then 2 when valid_to <= ${now} then 1 else 0 end)`;
  }
}

/**
 * A page ordered by a column, by offset. The planner finds the matches through the filter's own
 * indexes and keeps the page's rows in a top-N sort (LIMIT): no index orders by a column, and
 * none could for status, which depends on the moment. A deep page costs the matches' count.
 * A search's total is estimated past EXACT_SEARCH_COUNT, as in searchListing.
 */
async function sortedListing(db: Db, f: InventoryFilter, kind: StoreKind, now: number, page: InventoryPageRequest, sort: InventorySort): Promise<InventoryListing> {
  const offset = page.offset ?? 0;
  const dir = sort.descending ? 'desc' : 'asc';
  const estimate = f.search ? await sampledEstimate(db, f, kind, now) : null;
  const [ids, total] = await Promise.all([
    filtered(db.selectFrom('certificates'), f, kind, now, 'count').select('id').orderBy(sortKey(sort.by, now), dir).orderBy('id', dir).limit(page.limit).offset(offset).execute(),
    estimate !== null && estimate > EXACT_SEARCH_COUNT
      ? { total: Math.round(estimate), totalExact: false }
      : f.search
        ? count(filtered(db.selectFrom('certificates'), f, kind, now, 'count')).then((n) => ({ total: n, totalExact: true }))
        : totalOf(db, f, kind, now),
  ]);
  const rows = ids.length ? await db.selectFrom('certificates').selectAll().where('id', 'in', ids.map((r) => r.id)).execute() : [];
  const byId = new Map(rows.map((r) => [r.id, inventoryFromRow(r)]));
  const certificates = ids.flatMap((r) => byId.get(r.id) ?? []);
  // A cursor is a position in creation order: a sorted list pages by number only.
  return { certificates, ...total, next: null };
}

/** `order` defaults to newest first; deleted records are left out. `total` counts every match, not just this page. */
export async function listInventory(database: Kysely<Database>, kind: StoreKind, filter: InventoryFilter, page: InventoryPageRequest): Promise<InventoryListing> {
  if (filter.caIds?.length === 0 && !filter.includeImported) return { certificates: [], total: 0, totalExact: true, next: null };
  const db = database.withTables<Omit<InventoryTables, keyof Database>>();
  const now = (filter.now ?? new Date()).getTime();
  const order = page.order ?? 'newest';
  if (page.sort) return sortedListing(db, filter, kind, now, page, page.sort);
  if (filter.search) return searchListing(db, filter, kind, now, page, order);
  if (page.after) {
    const [found, total] = await Promise.all([pageAfter(db, filter, kind, now, 'page', order, page.limit, page.after), totalOf(db, filter, kind, now)]);
    return { ...found, ...total };
  }
  const offset = page.offset ?? 0;
  if (offset < SHALLOW_OFFSET) {
    const [certificates, total] = await Promise.all([pageRows(db, filter, kind, now, 'page', order, page.limit, offset), totalOf(db, filter, kind, now)]);
    return pagedListing(certificates, total, page.limit, offset);
  }
  const total = await totalOf(db, filter, kind, now);
  if (offset >= total.total) return pagedListing([], total, page.limit, offset);
  // Nearer the other end: the same page counted from there (a row written between the count
  // and this read can shift it by one, as it would shift any page between two requests). Not
  // for time bounds: active and expiring certificates are the newest, expired ones the oldest,
  // so the walk from the other end would cross all the others first.
  const end = Math.min(total.total, offset + page.limit);
  const bounds = timeBounds(filter, now);
  const spreadOverTime = bounds?.after === undefined && bounds?.upTo === undefined;
  const certificates =
    spreadOverTime && offset > total.total - end
      ? (await pageRows(db, filter, kind, now, 'page', reversed(order), end - offset, total.total - end)).reverse()
      : await pageRows(db, filter, kind, now, 'page', order, page.limit, offset);
  return pagedListing(certificates, total, page.limit, offset);
}
