// The inventory: certificates of ours and imported ones, as operators list, filter and edit them.
import { sql, type Compilable, type Kysely, type RawBuilder, type Selectable } from 'kysely';
import type { AuditEntryInput, DeploymentLocation, InventoryCounts, InventoryFilter, InventoryTimeline, InventoryListing, InventoryPageRequest, InventoryRecord, LocationFields } from '../core/types.js';
import { inventoryFromRow } from './certificates.js';
import { isUniqueViolation } from './errors.js';
import { listInventory } from './inventoryQuery.js';
import { inventoryReport } from './inventoryReport.js';
import { inventoryTimeline, type TimelineSpans } from './inventoryTimeline.js';
import type { AuditedWrites } from './kyselyWriter.js';
import { fromMs, toMs, type CertificateLocationsTable, type CertificatesTable, type Database } from './schema.js';
import type {
  InventoryEdit,
  InventoryRemoval,
  InventoryStore,
  NewImportedCertificate,
  NewLocation,
  Revocation,
  Store,
} from './types.js';
import { firstRecord, recordOf } from './rows.js';

type StoreKind = Store['kind'];

export class KyselyInventoryStore implements InventoryStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly kind: StoreKind,
    private readonly writes: AuditedWrites,
  ) {}

  list(filter: InventoryFilter, page: InventoryPageRequest): Promise<InventoryListing> {
    return listInventory(this.db, this.kind, filter, page);
  }

  report(filter: InventoryFilter): Promise<InventoryCounts> {
    return inventoryReport(this.db, this.kind, filter);
  }

  timeline(filter: InventoryFilter, spans: TimelineSpans): Promise<InventoryTimeline> {
    return inventoryTimeline(this.db, this.kind, filter, spans);
  }

  async get(id: string): Promise<InventoryRecord | undefined> {
    return firstRecord(this.db.selectFrom('certificates').selectAll().where('id', '=', id).where('deleted_at', 'is', null), inventoryFromRow);
  }

  async insertImported(c: NewImportedCertificate, audit: AuditEntryInput): Promise<{ record: InventoryRecord; created: boolean }> {
    const values: Partial<Record<keyof CertificatesTable, RawBuilder<unknown>>> = {
      id: text(c.id),
      serial_number: text(c.serialNumber),
      common_name: text(c.commonName),
      san_dns: text(JSON.stringify(c.sanDns)),
      san_ip: text(JSON.stringify(c.sanIp)),
      san_email: text(JSON.stringify(c.sanEmail)),
      san_uri: text(JSON.stringify(c.sanUri)),
      key_algorithm: text(c.keyAlgorithm),
      valid_from: bigint(toMs(c.validFrom)),
      valid_to: bigint(toMs(c.validTo)),
      certificate_pem: text(c.certificatePem),
      created_at: bigint(this.writes.now()),
      source: text('imported'),
      issuer: text(c.issuer),
      owner: text(c.owner),
      notes: text(c.notes),
      custom_fields: text(JSON.stringify(c.customFields)),
    };
    // One statement, and a unique index (migration 0007) behind it for PostgreSQL, where two
    // imports of one certificate can run side by side: the loser finds the winner's record.
    const statement = this.insertWhere('certificates', values, false, this.importedQuery(c.issuer, c.serialNumber));
    let row: Selectable<CertificatesTable> | undefined;
    try {
      row = await this.writes.one(statement, (inserted) => (inserted ? audit : null));
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
    }
    if (row) return { record: inventoryFromRow(row), created: true };
    const existing = await this.findImported(c.issuer, c.serialNumber);
    if (!existing) throw new Error(`imported certificate ${c.serialNumber} was neither stored nor found`);
    return { record: existing, created: false };
  }

  async findImported(issuer: string, serialNumber: string): Promise<InventoryRecord | undefined> {
    return firstRecord(this.importedQuery(issuer, serialNumber).selectAll(), inventoryFromRow);
  }

  async update(id: string, edit: InventoryEdit, audit: AuditEntryInput): Promise<InventoryRecord | undefined> {
    const set: { owner?: string | null; notes?: string | null; custom_fields?: RawBuilder<string> } = {};
    if (edit.owner !== undefined) set.owner = edit.owner;
    if (edit.notes !== undefined) set.notes = edit.notes;
    // Merged in the statement, so that two edits of different fields do not undo each other.
    if (edit.customFields !== undefined) set.custom_fields = this.mergedCustomFields(JSON.stringify(edit.customFields));
    if (Object.keys(set).length === 0) return this.get(id);
    const statement = this.db.updateTable('certificates').set(set).where('id', '=', id).where('deleted_at', 'is', null).returningAll();
    return recordOf(await this.writes.one(statement, (changed) => (changed ? audit : null)), inventoryFromRow);
  }

  async markRenewed(id: string, renewedBy: string, audit: AuditEntryInput): Promise<InventoryRecord | undefined> {
    const statement = this.db.updateTable('certificates').set({ renewed_by: renewedBy }).where('id', '=', id).where('deleted_at', 'is', null).returningAll();
    return recordOf(await this.writes.one(statement, (changed) => (changed ? audit : null)), inventoryFromRow);
  }

  async markRevoked(
    issuer: string,
    serialNumber: string,
    revocation: Pick<Revocation, 'reason' | 'revokedAt'>,
    audit: AuditEntryInput,
  ): Promise<InventoryRecord | undefined> {
    const statement = this.db
      .updateTable('certificates')
      .set({ revoked_at: toMs(revocation.revokedAt), revocation_reason: revocation.reason })
      .where('source', '=', 'imported')
      .where('issuer', '=', issuer)
      .where('serial_number', '=', serialNumber)
      .where('revoked_at', 'is', null)
      .returningAll();
    return recordOf(await this.writes.one(statement, (changed) => (changed ? audit : null)), inventoryFromRow);
  }

  async remove(id: string, now: Date, audit: AuditEntryInput): Promise<{ removal: InventoryRemoval; record: InventoryRecord } | 'stillValid' | undefined> {
    const existing = await this.get(id);
    if (!existing) return undefined;
    const nowMs = toMs(now);
    const removal: InventoryRemoval = existing.source === 'imported' ? 'deleted' : 'hidden';
    // An imported row is nobody's revocation record: it goes, and its locations with it (ON DELETE
    // CASCADE). One of ours stays for the CRL and OCSP, which never look at deleted_at.
    const statement =
      removal === 'deleted'
        ? this.db.deleteFrom('certificates').where('id', '=', id).where('source', '=', 'imported').returningAll()
        : this.db
            .updateTable('certificates')
            .set({ deleted_at: nowMs })
            .where('id', '=', id)
            .where('source', '=', 'issued')
            .where('deleted_at', 'is', null)
            .where('valid_to', '<=', nowMs)
            .returningAll();
    const row = await this.writes.one(statement, (changed) => (changed ? { ...audit, detail: { ...audit.detail, removal } } : null));
    if (row) return { removal, record: inventoryFromRow(row) };
    const still = await this.get(id);
    return still && still.source === 'issued' && still.validTo.getTime() > nowMs ? 'stillValid' : undefined;
  }

  async listLocations(certificateId: string): Promise<DeploymentLocation[]> {
    const rows = await this.db
      .selectFrom('certificate_locations')
      .selectAll()
      .where('certificate_id', '=', certificateId)
      .where((eb) => eb.exists(this.listedQuery(certificateId).select(sql<number>`1`.as('one'))))
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(locationFromRow);
  }

  async insertLocation(location: NewLocation, audit: AuditEntryInput): Promise<DeploymentLocation | undefined> {
    const now = this.writes.now();
    const values: Record<keyof CertificateLocationsTable, RawBuilder<unknown>> = {
      id: text(location.id),
      certificate_id: text(location.certificateId),
      host: text(location.host),
      port: sql`cast(${location.port} as integer)`,
      path: text(location.path),
      kind: text(location.kind),
      notes: text(location.notes),
      created_at: bigint(now),
      updated_at: bigint(now),
    };
    // Only on a certificate still in the inventory (a hidden one keeps no new locations).
    const statement = this.insertWhere('certificate_locations', values, true, this.listedQuery(location.certificateId));
    try {
      return recordOf(await this.writes.one(statement, (inserted) => (inserted ? audit : null)), locationFromRow);
    } catch (error) {
      // The certificate was deleted between the check and the insert.
      if (isForeignKeyViolation(error)) return undefined;
      throw error;
    }
  }

  async updateLocation(certificateId: string, id: string, fields: LocationFields, audit: AuditEntryInput): Promise<DeploymentLocation | undefined> {
    const statement = this.db
      .updateTable('certificate_locations')
      .set({ host: fields.host, port: fields.port, path: fields.path, kind: fields.kind, notes: fields.notes, updated_at: this.writes.now() })
      .where('id', '=', id)
      .where('certificate_id', '=', certificateId)
      .returningAll();
    return recordOf(await this.writes.one(statement, (changed) => (changed ? audit : null)), locationFromRow);
  }

  async removeLocation(certificateId: string, id: string, audit: AuditEntryInput): Promise<DeploymentLocation | undefined> {
    const statement = this.db.deleteFrom('certificate_locations').where('id', '=', id).where('certificate_id', '=', certificateId).returningAll();
    return recordOf(await this.writes.one(statement, (removed) => (removed ? audit : null)), locationFromRow);
  }

  /**
   * INSERT INTO `table` SELECT `values` WHERE `query` finds a row (or, `present` false, finds
   * none), returning the row inserted: the check and the insert are one statement.
   */
  private insertWhere<T extends 'certificates' | 'certificate_locations'>(
    table: T,
    values: Partial<Record<keyof Database[T] & string, RawBuilder<unknown>>>,
    present: boolean,
    query: ReturnType<KyselyInventoryStore['listedQuery']>,
  ) {
    const columns = Object.keys(values) as (keyof Database[T] & string)[];
    const found = query.select(sql<number>`1`.as('one'));
    return this.db
      .insertInto(table)
      .columns(columns as never)
      .expression(
        this.db
          .selectNoFrom(columns.map((name) => (values[name] as RawBuilder<unknown>).as(name)))
          .where((eb) => (present ? eb.exists(found) : eb.not(eb.exists(found)))),
      )
      .returningAll() as unknown as Compilable<Selectable<Database[T]>>;
  }

  private importedQuery(issuer: string, serialNumber: string) {
    return this.db.selectFrom('certificates').where('source', '=', 'imported').where('issuer', '=', issuer).where('serial_number', '=', serialNumber);
  }

  /** The certificate, if it is in the inventory (not deleted or hidden). */
  private listedQuery(certificateId: string) {
    return this.db.selectFrom('certificates').where('id', '=', certificateId).where('deleted_at', 'is', null);
  }

  /** RFC 7396 merge of a flat JSON object into custom_fields: a null removes that name. */
  private mergedCustomFields(patch: string): RawBuilder<string> {
    return this.kind === 'postgres'
      ? sql<string>`jsonb_strip_nulls(custom_fields::jsonb || cast(${patch} as jsonb))::text`
      : sql<string>`json_patch(custom_fields, ${patch})`;
  }
}

// Parameters of INSERT … SELECT have no column to take their type from: PostgreSQL must be told.
const text = (value: string | null): RawBuilder<string | null> => sql<string | null>`cast(${value} as text)`;
const bigint = (value: number): RawBuilder<number> => sql<number>`cast(${value} as bigint)`;

function isForeignKeyViolation(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  // PostgreSQL: 23503 foreign_key_violation. better-sqlite3: the extended result code.
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

function locationFromRow(row: Selectable<CertificateLocationsTable>): DeploymentLocation {
  return {
    id: row.id,
    certificateId: row.certificate_id,
    host: row.host,
    port: row.port === null ? null : Number(row.port),
    path: row.path,
    kind: row.kind,
    notes: row.notes,
    createdAt: fromMs(row.created_at),
    updatedAt: fromMs(row.updated_at),
  };
}
