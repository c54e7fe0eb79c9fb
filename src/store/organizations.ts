// Organization records (the subject O a product may require validated): made pending, decided once
// (approved or declined) by compare-and-set from pending, removed; each change committed with its
// audit entry.
import type { Insertable, Selectable } from 'kysely';
import type { AuditEntryInput, Holder, OrganizationRecord, OrganizationStatus } from '../core/types.js';
import { KyselyAggregate } from './kyselyWriter.js';
import { firstRecord, recordOf } from './rows.js';
import { fromMs, fromNullableMs, toMs, type OrganizationsTable } from './schema.js';
import type { NewOrganization, OrganizationDecision, OrganizationFilter, OrganizationStore } from './types.js';

export function organizationFromRow(row: Selectable<OrganizationsTable>): OrganizationRecord {
  return {
    id: row.id,
    holder: row.holder,
    name: row.name,
    unit: row.unit,
    country: row.country,
    state: row.state,
    locality: row.locality,
    status: row.status as OrganizationStatus,
    createdBy: row.created_by,
    decidedBy: row.decided_by,
    decidedAt: fromNullableMs(row.decided_at),
    expiresAt: fromNullableMs(row.expires_at),
    reason: row.reason,
    createdAt: fromMs(row.created_at),
    updatedAt: fromMs(row.updated_at),
  };
}

function newOrganizationRow(o: NewOrganization, now: number): Insertable<OrganizationsTable> {
  return {
    id: o.id,
    holder: o.holder,
    name: o.name,
    unit: o.unit,
    country: o.country,
    state: o.state,
    locality: o.locality,
    status: 'pending' satisfies OrganizationStatus,
    created_by: o.createdBy,
    decided_by: null,
    decided_at: null,
    expires_at: null,
    reason: null,
    created_at: now,
    updated_at: now,
  };
}

export class KyselyOrganizationStore extends KyselyAggregate implements OrganizationStore {
  async insert(o: NewOrganization, audit: AuditEntryInput): Promise<OrganizationRecord> {
    const row = await this.writes.one(this.db.insertInto('organizations').values(newOrganizationRow(o, this.writes.now())).returningAll(), () => audit);
    if (!row) throw new Error(`organization ${o.id} was not stored`);
    return organizationFromRow(row);
  }

  async get(id: string): Promise<OrganizationRecord | undefined> {
    return firstRecord(this.db.selectFrom('organizations').selectAll().where('id', '=', id), organizationFromRow);
  }

  async list(filter: OrganizationFilter): Promise<OrganizationRecord[]> {
    let q = this.db.selectFrom('organizations').selectAll();
    if (filter.holders !== '*') {
      if (filter.holders.length === 0) return [];
      q = q.where('holder', 'in', filter.holders);
    }
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.name !== undefined) q = q.where('name', '=', filter.name);
    // Ids are UUIDv7: in creation order, and a total order for the cursor.
    if (filter.after !== undefined) q = q.where('id', '>', filter.after);
    const rows = await q.orderBy('id').limit(filter.limit).execute();
    return rows.map(organizationFromRow);
  }

  async decide(id: string, decision: OrganizationDecision, audit: AuditEntryInput): Promise<OrganizationRecord | undefined> {
    const now = this.writes.now();
    const statement = this.db
      .updateTable('organizations')
      .set({
        status: decision.status,
        decided_by: decision.decidedBy,
        decided_at: toMs(decision.decidedAt),
        expires_at: decision.status === 'approved' ? toMs(decision.expiresAt) : null,
        reason: decision.status === 'declined' ? decision.reason : null,
        updated_at: now,
      })
      .where('id', '=', id)
      .where('status', '=', 'pending' satisfies OrganizationStatus)
      .returningAll();
    return recordOf(await this.writes.one(statement, (r) => (r ? audit : null)), organizationFromRow);
  }

  async remove(id: string, audit: AuditEntryInput): Promise<OrganizationRecord | undefined> {
    const statement = this.db.deleteFrom('organizations').where('id', '=', id).returningAll();
    return recordOf(await this.writes.one(statement, (r) => (r ? audit : null)), organizationFromRow);
  }

  async findValidated(holders: readonly Holder[], name: string, at: Date): Promise<OrganizationRecord | undefined> {
    if (holders.length === 0) return undefined;
    const query = this.db
      .selectFrom('organizations')
      .selectAll()
      .where('name', '=', name)
      .where('holder', 'in', [...holders])
      .where('status', '=', 'approved' satisfies OrganizationStatus)
      .where('expires_at', '>', toMs(at))
      // Of several (a group's and the deployment's), the one approved last: the freshest vetting.
      .orderBy('decided_at', 'desc')
      .orderBy('id', 'desc');
    return firstRecord(query, organizationFromRow);
  }
}
