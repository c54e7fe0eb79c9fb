// The inventory report: the certificates a filter admits, counted by product, CA, status, key
// algorithm and expiry bucket. One GROUP BY over all five gives every combination that occurs (a
// few hundred rows at most, whatever the table's size); the per-dimension counts are folded from
// it, so they come from one read and agree with one another even while certificates are written.
import { sql, type Kysely } from 'kysely';
import { CERTIFICATE_STATUSES, EXPIRY_BUCKET_NAMES, EXPIRY_BUCKETS, type CertificateStatus, type ExpiryBucket, type InventoryCounts, type InventoryFilter } from '../core/types.js';
import { filtered, type InventoryTables } from './inventoryQuery.js';
import type { Database } from './schema.js';
import type { Store } from './types.js';

const DAY_MS = 86_400_000;

/**
 * The status and bucket as SQL, with `now` written as a literal: both databases must see the same
 * expression in the select list as in GROUP BY, which two bound parameters would not be for
 * PostgreSQL. `now` is a number, so the literal is safe.
 */
function classifiers(now: number) {
  const at = (ms: number) => sql.lit(ms);
  const status = sql<CertificateStatus>`case when revoked_at is not null then 'revoked' when valid_to <= ${at(now)} then 'expired' else 'active' end`;
  const buckets = EXPIRY_BUCKETS.map((b) => sql`when valid_to <= ${at(now + b.upToDays * DAY_MS)} then ${sql.lit(b.name)}`);
  const expiry = sql<ExpiryBucket | null>`case when revoked_at is not null then null when valid_to <= ${at(now)} then 'expired' ${sql.join(buckets, sql` `)} else 'beyond_90_days' end`;
  return { status, expiry };
}

interface Combination {
  product_id: string | null;
  ca_id: string | null;
  key_algorithm: string;
  status: CertificateStatus;
  expiry: ExpiryBucket | null;
  n: number | string;
}

export async function inventoryReport(database: Kysely<Database>, kind: Store['kind'], filter: InventoryFilter): Promise<InventoryCounts> {
  const counts = emptyCounts();
  if (filter.caIds?.length === 0 && !filter.includeImported) return counts;
  const db = database.withTables<Omit<InventoryTables, keyof Database>>();
  const now = (filter.now ?? new Date()).getTime();
  const { status, expiry } = classifiers(now);
  const admitted = filtered(db.selectFrom('certificates'), filter, kind, now, 'count').select(['product_id', 'ca_id', 'key_algorithm', status.as('status'), expiry.as('expiry')]);
  const rows = (await db
    .selectFrom(admitted.as('c'))
    .select(['c.product_id', 'c.ca_id', 'c.key_algorithm', 'c.status', 'c.expiry', (eb) => eb.fn.countAll<number | string>().as('n')])
    .groupBy(['c.product_id', 'c.ca_id', 'c.key_algorithm', 'c.status', 'c.expiry'])
    .execute()) as Combination[];
  return fold(rows, counts);
}

function emptyCounts(): InventoryCounts {
  return {
    total: 0,
    byProduct: [],
    byCa: [],
    byStatus: Object.fromEntries(CERTIFICATE_STATUSES.map((s) => [s, 0])) as InventoryCounts['byStatus'],
    byKeyAlgorithm: [],
    byExpiry: Object.fromEntries(EXPIRY_BUCKET_NAMES.map((b) => [b, 0])) as InventoryCounts['byExpiry'],
  };
}

/** Sums the combinations per dimension; lists are largest first, then by key (nulls, the imported, last). */
function fold(rows: Combination[], counts: InventoryCounts): InventoryCounts {
  const products = new Map<string | null, number>();
  const cas = new Map<string | null, number>();
  const algorithms = new Map<string, number>();
  const add = <K>(m: Map<K, number>, k: K, n: number) => m.set(k, (m.get(k) ?? 0) + n);
  for (const row of rows) {
    const n = Number(row.n);
    counts.total += n;
    add(products, row.product_id, n);
    add(cas, row.ca_id, n);
    add(algorithms, row.key_algorithm, n);
    counts.byStatus[row.status] += n;
    if (row.expiry !== null) counts.byExpiry[row.expiry] += n;
  }
  counts.byProduct = sorted(products).map(([productId, count]) => ({ productId, count }));
  counts.byCa = sorted(cas).map(([caId, count]) => ({ caId, count }));
  counts.byKeyAlgorithm = sorted(algorithms).map(([keyAlgorithm, count]) => ({ keyAlgorithm, count }));
  return counts;
}

function sorted<K extends string | null>(m: Map<K, number>): [K, number][] {
  const key = (k: K) => (k === null ? '\uffff' : k);
  return [...m].sort(([a, x], [b, y]) => y - x || key(a).localeCompare(key(b)));
}
