import type { Selectable } from 'kysely';
import { SYSTEM_PRODUCT_ID_PATTERN } from '../core/systemProducts.js';
import type { AuditEntryInput, ProductRecord, ProductTemplate } from '../core/types.js';
import { KyselyAggregate } from './kyselyWriter.js';
import { insertProduct, productById } from './queries.js';
import { fromMs, type ProductsTable } from './schema.js';
import type { NewProduct, ProductStore } from './types.js';
import { firstRecord } from './rows.js';

export function productFromRow(row: Selectable<ProductsTable>): ProductRecord {
  return {
    id: row.id,
    name: row.name,
    caId: row.ca_id,
    template: JSON.parse(row.template) as ProductTemplate,
    createdAt: fromMs(row.created_at),
  };
}

export class KyselyProductStore extends KyselyAggregate implements ProductStore {

  async insert(product: NewProduct, audit: AuditEntryInput): Promise<ProductRecord> {
    const createdAt = this.writes.now();
    const template = JSON.stringify(product.template);
    const row = { id: product.id, name: product.name, ca_id: product.caId, template, created_at: createdAt };
    await this.writes.one(insertProduct(this.db, row), () => audit);
    // Return what a read would return, not the caller's (mutable) objects.
    return {
      id: product.id,
      name: product.name,
      caId: product.caId,
      template: JSON.parse(template) as ProductTemplate,
      createdAt: new Date(createdAt),
    };
  }

  async update(id: string, change: { name: string; template: ProductTemplate }, audit: AuditEntryInput): Promise<ProductRecord | undefined> {
    const template = JSON.stringify(change.template);
    const row = await this.writes.one(
      this.db.updateTable('products').set({ name: change.name, template }).where('id', '=', id).returningAll(),
      (changed) => (changed ? audit : null),
    );
    return row ? productFromRow(row) : undefined;
  }

  async get(id: string): Promise<ProductRecord | undefined> {
    return firstRecord(productById(this.db, { id }), productFromRow);
  }

  async getByName(name: string): Promise<ProductRecord | undefined> {
    return firstRecord(this.db.selectFrom('products').selectAll().where('name', '=', name), productFromRow);
  }

  /** Oldest first. Operators' products only: a CA's system product (core/systemProducts) is not one to issue under or list. */
  async list(): Promise<ProductRecord[]> {
    const rows = await this.db.selectFrom('products').selectAll().where('id', 'not like', SYSTEM_PRODUCT_ID_PATTERN).orderBy('created_at').orderBy('id').execute();
    return rows.map(productFromRow);
  }
}
