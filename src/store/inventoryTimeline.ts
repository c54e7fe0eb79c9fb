// The dashboard's series: certificates issued per day and unrevoked ones expiring per week, each
// one GROUP BY over an index range (created_at; valid_to within the CA's rows), so the database
// hands back at most `days` or `weeks` rows whatever the table's size. For 100k certificates that
// is one range scan of the last `days` days' rows and one of the next `weeks` weeks' rows; the
// count of expired ones not replaced scans those that expired within the same `days`.
import { sql, type Kysely } from 'kysely';
import type { InventoryFilter, InventoryTimeline } from '../core/types.js';
import { filtered, type InventoryTables } from './inventoryQuery.js';
import type { Database } from './schema.js';
import type { Store } from './types.js';

const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;

export interface TimelineSpans {
  days: number;
  weeks: number;
  now: Date;
}

export async function inventoryTimeline(database: Kysely<Database>, kind: Store['kind'], filter: InventoryFilter, spans: TimelineSpans): Promise<InventoryTimeline> {
  const now = spans.now.getTime();
  const firstDay = Math.floor(now / DAY_MS) * DAY_MS - (spans.days - 1) * DAY_MS;
  const issuedPerDay = Array.from({ length: spans.days }, (_, i) => ({ day: new Date(firstDay + i * DAY_MS).toISOString().slice(0, 10), count: 0 }));
  const expiringPerWeek = Array.from({ length: spans.weeks }, (_, i) => ({ from: new Date(now + i * WEEK_MS).toISOString(), to: new Date(now + (i + 1) * WEEK_MS).toISOString(), count: 0 }));
  if (filter.caIds?.length === 0 && !filter.includeImported) return { issuedPerDay, expiringPerWeek, expiredUnreplaced: 0 };
  const db = database.withTables<Omit<InventoryTables, keyof Database>>();
  // Integer division of whole milliseconds on both databases; literals, so that the select list
  // and GROUP BY are the same expression for PostgreSQL (as in inventoryReport.ts).
  const dayOf = sql<number>`(created_at - ${sql.lit(firstDay)}) / ${sql.lit(DAY_MS)}`;
  const weekOf = sql<number>`(valid_to - ${sql.lit(now + 1)}) / ${sql.lit(WEEK_MS)}`;
  const base = () => filtered(db.selectFrom('certificates'), filter, kind, now, 'count');
  const [issued, expiring, unreplaced] = await Promise.all([
    db
      .selectFrom(base().where('source', '=', 'issued').where('created_at', '>=', firstDay).where('created_at', '<=', now).select(dayOf.as('bucket')).as('c'))
      .select(['c.bucket', (eb) => eb.fn.countAll<number | string>().as('n')])
      .groupBy('c.bucket')
      .execute(),
    db
      .selectFrom(base().where('revoked_at', 'is', null).where('valid_to', '>', now).where('valid_to', '<=', now + spans.weeks * WEEK_MS).select(weekOf.as('bucket')).as('c'))
      .select(['c.bucket', (eb) => eb.fn.countAll<number | string>().as('n')])
      .groupBy('c.bucket')
      .execute(),
    // Expired (unrevoked) within the same days, neither marked renewed nor superseded by a renewal.
    base()
      .where('revoked_at', 'is', null)
      .where('valid_to', '>', firstDay)
      .where('valid_to', '<=', now)
      .where('renewed_by', 'is', null)
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('certificates as n').select('n.id').whereRef('n.supersedes', '=', 'certificates.id'))))
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .executeTakeFirst(),
  ]);
  for (const row of issued) {
    const entry = issuedPerDay[Number(row.bucket)];
    if (entry) entry.count += Number(row.n);
  }
  for (const row of expiring) {
    const entry = expiringPerWeek[Number(row.bucket)];
    if (entry) entry.count += Number(row.n);
  }
  return { issuedPerDay, expiringPerWeek, expiredUnreplaced: Number(unreplaced?.n ?? 0) };
}
