// The domain registry's rows: records on `domains`, and on `domain_requests` the names a request
// waits on. Every write is one statement (the SQLite store group-commits single statements and
// never holds a transaction), a change of a record with its audit entry.
import { sql, type Insertable, type Selectable } from 'kysely';
import type { DomainListFilter } from '../core/domainRegistry.js';
import type { AuditEntryInput, DcvMethod, DomainRecord, DomainStatus, Holder } from '../core/types.js';
import { KyselyAggregate } from './kyselyWriter.js';
import { firstRecord, recordOf } from './rows.js';
import { fromMs, fromNullableMs, toMs, type DomainsTable } from './schema.js';

export function domainFromRow(row: Selectable<DomainsTable>): DomainRecord {
  return {
    id: row.id,
    name: row.name,
    holder: row.holder,
    token: row.token,
    status: row.status as DomainStatus,
    method: row.method as DcvMethod | null,
    validatedAt: fromNullableMs(row.validated_at),
    expiresAt: fromNullableMs(row.expires_at),
    lastError: row.last_error,
    source: row.source as DomainRecord['source'],
    createdBy: row.created_by,
    createdAt: fromMs(row.created_at),
    updatedAt: fromMs(row.updated_at),
  };
}

export type NewDomain = Pick<DomainRecord, 'id' | 'name' | 'holder' | 'token' | 'source' | 'createdBy'>;

/** A new record's row, with the status (and validation) it starts with. */
function newRow(domain: NewDomain, now: number, state: { status: DomainStatus } & Pick<Insertable<DomainsTable>, 'method' | 'validated_at' | 'expires_at'>): Insertable<DomainsTable> {
  return { id: domain.id, name: domain.name, holder: domain.holder, token: domain.token, last_error: null, source: domain.source, created_by: domain.createdBy, created_at: now, updated_at: now, ...state };
}

/** What a status move sets besides the status; absent fields stay as they are. */
export interface DomainChange {
  status: DomainStatus;
  method?: DcvMethod | null;
  validatedAt?: Date | null;
  expiresAt?: Date | null;
  lastError?: string | null;
}

/** One name of a request and the record it waits on. */
export interface DomainLink {
  name: string;
  domainId: string;
}

type EntryOf = (domain: DomainRecord) => AuditEntryInput | null;
const entryOfRow = (entryOf: EntryOf) => (row: Selectable<DomainsTable> | undefined) => (row ? entryOf(domainFromRow(row)) : null);

export interface DomainStore {
  /** A new `pending` record; when (name, holder) is taken, that record with created=false (and no audit entry). */
  insert(domain: NewDomain, audit: EntryOf): Promise<{ domain: DomainRecord; created: boolean }>;
  get(id: string): Promise<DomainRecord | undefined>;
  /** The records of any of `names` held by any of `holders`. */
  findByNames(names: readonly string[], holders: readonly Holder[]): Promise<DomainRecord[]>;
  /** By id (creation order: ids are time-ordered). */
  list(filter: DomainListFilter): Promise<DomainRecord[]>;
  /** Compare-and-set: applies `change` only when the status is one of `from`; undefined otherwise. */
  move(id: string, from: readonly DomainStatus[], change: DomainChange, audit: EntryOf): Promise<DomainRecord | undefined>;
  /**
   * A validation proved elsewhere: the record of (name, holder), made if need be, becomes valid at
   * validatedAt (a later validation already recorded is kept).
   */
  recordValid(domain: NewDomain & { method: DcvMethod; validatedAt: Date; expiresAt: Date }, audit: EntryOf): Promise<DomainRecord>;
  /** Deletes the record and then the links to it; undefined when there was none. */
  remove(id: string, audit: EntryOf): Promise<DomainRecord | undefined>;
  /** Records (or re-points) the names a request waits on. */
  link(requestId: string, links: readonly DomainLink[]): Promise<void>;
  linksOfRequest(requestId: string): Promise<DomainLink[]>;
  /** The requests waiting (or that waited) on the record. */
  requestsOfDomain(domainId: string): Promise<string[]>;
}

export class KyselyDomainStore extends KyselyAggregate implements DomainStore {
  async insert(domain: NewDomain, audit: EntryOf): Promise<{ domain: DomainRecord; created: boolean }> {
    const statement = this.db
      .insertInto('domains')
      .values(newRow(domain, this.writes.now(), { status: 'pending', method: null, validated_at: null, expires_at: null }))
      .onConflict((oc) => oc.columns(['name', 'holder']).doNothing())
      .returningAll();
    const row = await this.writes.one(statement, entryOfRow(audit));
    if (row) return { domain: domainFromRow(row), created: true };
    const existing = await firstRecord(this.db.selectFrom('domains').selectAll().where('name', '=', domain.name).where('holder', '=', domain.holder), domainFromRow);
    // Removed between the insert and the read: rare enough that the caller may simply try again.
    if (!existing) throw new Error(`domain ${domain.name} of ${domain.holder} was removed while being added`);
    return { domain: existing, created: false };
  }

  get(id: string): Promise<DomainRecord | undefined> {
    return firstRecord(this.db.selectFrom('domains').selectAll().where('id', '=', id), domainFromRow);
  }

  async findByNames(names: readonly string[], holders: readonly Holder[]): Promise<DomainRecord[]> {
    if (names.length === 0 || holders.length === 0) return [];
    const rows = await this.db.selectFrom('domains').selectAll().where('name', 'in', [...names]).where('holder', 'in', [...holders]).orderBy('id').execute();
    return rows.map(domainFromRow);
  }

  async list(filter: DomainListFilter): Promise<DomainRecord[]> {
    let q = this.db.selectFrom('domains').selectAll();
    if (filter.holders !== '*') {
      if (filter.holders.length === 0) return [];
      q = q.where('holder', 'in', [...filter.holders]);
    }
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.name !== undefined) {
      const name = filter.name.toLowerCase();
      // '.example.com': the names under it, and example.com itself.
      q = name.startsWith('.')
        ? q.where((eb) => eb.or([eb('name', '=', name.slice(1)), sql<boolean>`name like ${`%${name.replace(/[!%_]/g, '!$&')}`} escape '!'`]))
        : q.where('name', '=', name);
    }
    if (filter.after !== undefined) q = q.where('id', '>', filter.after);
    const rows = await q.orderBy('id').limit(filter.limit).execute();
    return rows.map(domainFromRow);
  }

  async move(id: string, from: readonly DomainStatus[], change: DomainChange, audit: EntryOf): Promise<DomainRecord | undefined> {
    if (from.length === 0) return undefined;
    const set = {
      status: change.status,
      updated_at: this.writes.now(),
      ...(change.method !== undefined ? { method: change.method } : {}),
      ...(change.validatedAt !== undefined ? { validated_at: change.validatedAt === null ? null : toMs(change.validatedAt) } : {}),
      ...(change.expiresAt !== undefined ? { expires_at: change.expiresAt === null ? null : toMs(change.expiresAt) } : {}),
      ...(change.lastError !== undefined ? { last_error: change.lastError } : {}),
    };
    const statement = this.db.updateTable('domains').set(set).where('id', '=', id).where('status', 'in', [...from]).returningAll();
    return recordOf(await this.writes.one(statement, entryOfRow(audit)), domainFromRow);
  }

  async recordValid(domain: NewDomain & { method: DcvMethod; validatedAt: Date; expiresAt: Date }, audit: EntryOf): Promise<DomainRecord> {
    const now = this.writes.now();
    const statement = this.db
      .insertInto('domains')
      .values(newRow(domain, now, { status: 'valid', method: domain.method, validated_at: toMs(domain.validatedAt), expires_at: toMs(domain.expiresAt) }))
      .onConflict((oc) =>
        oc.columns(['name', 'holder']).doUpdateSet({
          status: 'valid',
          // A later validation already recorded (its method and dates) is not replaced by an older one.
          method: sql<string>`case when domains.validated_at is not null and domains.validated_at > excluded.validated_at then domains.method else excluded.method end`,
          expires_at: sql<number>`case when domains.validated_at is not null and domains.validated_at > excluded.validated_at then domains.expires_at else excluded.expires_at end`,
          validated_at: sql<number>`case when domains.validated_at is not null and domains.validated_at > excluded.validated_at then domains.validated_at else excluded.validated_at end`,
          last_error: null,
          updated_at: now,
        }),
      )
      .returningAll();
    const row = await this.writes.one(statement, entryOfRow(audit));
    if (!row) throw new Error(`domain ${domain.name} of ${domain.holder} was not stored`);
    return domainFromRow(row);
  }

  async remove(id: string, audit: EntryOf): Promise<DomainRecord | undefined> {
    const removed = recordOf(await this.writes.one(this.db.deleteFrom('domains').where('id', '=', id).returningAll(), entryOfRow(audit)), domainFromRow);
    // After the record: a link left by a crash in between points at nothing, and readers skip it.
    if (removed) await this.writes.one(this.db.deleteFrom('domain_requests').where('domain_id', '=', id), () => null);
    return removed;
  }

  async link(requestId: string, links: readonly DomainLink[]): Promise<void> {
    if (links.length === 0) return;
    const now = this.writes.now();
    const statement = this.db
      .insertInto('domain_requests')
      .values(links.map((l) => ({ request_id: requestId, name: l.name, domain_id: l.domainId, created_at: now })))
      .onConflict((oc) => oc.columns(['request_id', 'name']).doUpdateSet({ domain_id: (eb) => eb.ref('excluded.domain_id') }));
    await this.writes.one(statement, () => null);
  }

  async linksOfRequest(requestId: string): Promise<DomainLink[]> {
    const rows = await this.db.selectFrom('domain_requests').select(['name', 'domain_id']).where('request_id', '=', requestId).orderBy('name').execute();
    return rows.map((r) => ({ name: r.name, domainId: r.domain_id }));
  }

  async requestsOfDomain(domainId: string): Promise<string[]> {
    const rows = await this.db.selectFrom('domain_requests').select('request_id').where('domain_id', '=', domainId).orderBy('request_id').execute();
    return rows.map((r) => r.request_id);
  }
}
