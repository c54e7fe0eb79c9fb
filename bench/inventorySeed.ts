// A large inventory for the list benchmark, written with bulk INSERTs straight into the
// certificates table (issuing a million certificates would take hours): rows shaped like
// certgate's own, oldest first as they would have been written. Over three years, two CAs:
// validity 90 days (most), 397 or 30; about 2% revoked (a few on hold), 1% imported from
// another CA, a few deleted from the inventory; host names like api-17.payments.prod.example.com,
// each renewed a few times; some with an owner or a custom field. The insert triggers of the
// schema (counts, search index) run as they do for issued certificates.
import { randomBytes } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import type pg from 'pg';
import { newId } from '../src/core/ids.js';

export interface SeedCa {
  caId: string;
  productId: string;
}

const DAY_MS = 86_400_000;
const SPAN_MS = 3 * 365 * DAY_MS;
const SERVICES = ['api', 'web', 'auth', 'db', 'cache', 'queue', 'search', 'mail', 'vpn', 'ldap', 'grafana', 'kafka', 'redis', 'gateway', 'cdn', 'admin', 'billing', 'checkout', 'ledger', 'reports', 'sso', 'files', 'backup', 'ci', 'registry', 'wiki', 'chat', 'metrics', 'edge', 'portal'];
const TEAMS = ['payments', 'identity', 'platform', 'data', 'mobile', 'retail', 'logistics', 'finance', 'hr', 'security', 'ads', 'growth', 'support', 'infra', 'network', 'storage', 'ml', 'analytics', 'core', 'risk'];
const ENVS = ['prod', 'prod', 'prod', 'staging', 'dev', 'qa'];
const DOMAINS = ['example.com', 'example.net', 'corp.example.org', 'example.io'];
const REASONS = ['keyCompromise', 'superseded', 'superseded', 'cessationOfOperation', 'affiliationChanged', 'certificateHold'];

const COLUMNS = [
  'id', 'ca_id', 'product_id', 'request_id', 'serial_number', 'common_name', 'san_dns', 'san_ip', 'san_email', 'san_uri', 'key_algorithm',
  'valid_from', 'valid_to', 'certificate_pem', 'revoked_at', 'revocation_reason', 'invalidity_date', 'created_at',
  'source', 'issuer', 'owner', 'notes', 'custom_fields', 'supersedes', 'renewed_by', 'deleted_at',
] as const;

type Row = (string | number | null)[];

/** A small, fast PRNG (mulberry32): the same seed gives the same inventory. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(r: () => number, list: readonly T[]): T => list[Math.floor(r() * list.length)] as T;

function pem(): string {
  const body = randomBytes(560).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

/** Row `i` of `count`, all created before `now`. */
function* rows(cas: readonly SeedCa[], count: number, now: number): Generator<Row> {
  const r = prng(0x5eed);
  const start = now - SPAN_MS;
  for (let i = 0; i < count; i++) {
    const createdAt = Math.floor(start + (i / count) * SPAN_MS + r() * 1000);
    const cn = `${pick(r, SERVICES)}-${1 + Math.floor(r() * 40)}.${pick(r, TEAMS)}.${pick(r, ENVS)}.${pick(r, DOMAINS)}`;
    const validityDays = r() < 0.6 ? 90 : r() < 0.75 ? 397 : 30;
    const validTo = createdAt + validityDays * DAY_MS;
    const imported = r() < 0.01;
    const ca = pick(r, cas);
    const revoked = r() < 0.02;
    const revokedAt = revoked ? Math.min(now - 1000, Math.floor(createdAt + r() * (validTo - createdAt))) : null;
    const team = pick(r, TEAMS);
    const deleted = (imported && r() < 0.2) || r() < 0.001;
    yield [
      newId(createdAt),
      imported ? null : ca.caId,
      imported ? null : ca.productId,
      null,
      randomBytes(16).toString('hex'),
      cn,
      JSON.stringify([cn]),
      '[]',
      '[]',
      '[]',
      r() < 0.7 ? 'ec-p256' : 'rsa-2048',
      createdAt - 60_000,
      validTo,
      pem(),
      revokedAt,
      revoked ? pick(r, REASONS) : null,
      null,
      createdAt,
      imported ? 'imported' : 'issued',
      imported ? 'CN=Legacy Issuing CA G2, O=Example Corp' : null,
      r() < 0.3 ? `team-${team}` : null,
      null,
      r() < 0.2 ? JSON.stringify({ costCenter: `CC-${1000 + Math.floor(r() * 200)}` }) : '{}',
      null,
      null,
      deleted ? Math.min(now - 1000, validTo) : null,
    ];
  }
}

function* chunks<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let chunk: T[] = [];
  for (const item of items) {
    chunk.push(item);
    if (chunk.length === size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length) yield chunk;
}

const insertSql = (rowCount: number, placeholder: (n: number) => string): string => {
  const tuples = Array.from({ length: rowCount }, (_, r) => `(${COLUMNS.map((_, c) => placeholder(r * COLUMNS.length + c + 1)).join(', ')})`);
  return `insert into certificates (${COLUMNS.join(', ')}) values ${tuples.join(', ')}`;
};

/** Into the SQLite file (the server not running), 200 rows a statement, 50,000 a transaction. */
export function seedSqlite(db: BetterSqlite3.Database, cas: readonly SeedCa[], count: number, now: number, progress?: (done: number) => void): void {
  db.pragma('synchronous = OFF');
  const statements = new Map<number, BetterSqlite3.Statement>();
  const statement = (n: number) => statements.get(n) ?? statements.set(n, db.prepare(insertSql(n, () => '?'))).get(n)!;
  let done = 0;
  for (const batch of chunks(chunks(rows(cas, count, now), 200), 250)) {
    db.transaction(() => {
      for (const chunk of batch) statement(chunk.length).run(chunk.flat());
    })();
    done += batch.reduce((n, c) => n + c.length, 0);
    progress?.(done);
  }
  db.pragma('synchronous = FULL');
}

/** Into PostgreSQL, 1,000 rows a statement, over a few connections. */
export async function seedPostgres(pool: pg.Pool, cas: readonly SeedCa[], count: number, now: number, progress?: (done: number) => void): Promise<void> {
  const source = chunks(rows(cas, count, now), 1000);
  let done = 0;
  const writer = async (): Promise<void> => {
    for (let next = source.next(); !next.done; next = source.next()) {
      const chunk = next.value;
      await pool.query(insertSql(chunk.length, (n) => `$${n}`), chunk.flat());
      done += chunk.length;
      progress?.(done);
    }
  };
  await Promise.all([writer(), writer(), writer()]);
  await pool.query('vacuum analyze certificates');
  // A thousand rows a transaction update the same few count rows a thousand times each, which
  // leaves the table thousands of pages of dead versions; one issuance a transaction does not (its
  // update stays in its page and is pruned there). Compact it to that steady state.
  await pool.query('vacuum full analyze certificate_counts');
}
