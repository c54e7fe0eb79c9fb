import type { Kysely } from 'kysely';
import type { CrlHeader, CrlRecord } from '../core/types.js';
import { fromMs, toMs, type Database } from './schema.js';
import type { CrlStore } from './types.js';

export class KyselyCrlStore implements CrlStore {
  constructor(private readonly db: Kysely<Database>) {}

  async latest(caId: string): Promise<CrlRecord | undefined> {
    const row = await this.db.selectFrom('crls').selectAll().where('ca_id', '=', caId).executeTakeFirst();
    return (
      row && {
        caId: row.ca_id,
        crlNumber: Number(row.crl_number),
        thisUpdate: fromMs(row.this_update),
        nextUpdate: fromMs(row.next_update),
        der: Buffer.from(row.der, 'base64'),
      }
    );
  }

  async latestHeader(caId: string): Promise<CrlHeader | undefined> {
    const row = await this.db.selectFrom('crls').select(['crl_number', 'this_update', 'next_update']).where('ca_id', '=', caId).executeTakeFirst();
    return row && { caId, crlNumber: Number(row.crl_number), thisUpdate: fromMs(row.this_update), nextUpdate: fromMs(row.next_update) };
  }

  async save(crl: CrlRecord): Promise<boolean> {
    const values = {
      ca_id: crl.caId,
      crl_number: crl.crlNumber,
      this_update: toMs(crl.thisUpdate),
      next_update: toMs(crl.nextUpdate),
      der: crl.der.toString('base64'),
    };
    // Upsert that never moves the number backwards: two builders racing keep the newer CRL.
    const result = await this.db
      .insertInto('crls')
      .values(values)
      .onConflict((oc) =>
        oc
          .column('ca_id')
          .doUpdateSet({ crl_number: values.crl_number, this_update: values.this_update, next_update: values.next_update, der: values.der })
          .where('crls.crl_number', '<', values.crl_number),
      )
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }
}
