// The inventory list as CSV (GET /v1/certificates?format=csv, or Accept: text/csv): every
// certificate the filters match, in the list's order, not one page. Read a page at a time from
// the store and bounded at EXPORT_LIMIT rows: a larger export is refused with the count, so the
// person narrows the filters rather than getting a file cut short without knowing.
import type { Response } from 'express';
import { csvText } from '../../src/core/inventoryReport.js';
import { unprocessable } from '../../src/core/errors.js';
import type { CoreServices } from '../../src/core/protocol.js';
import type { InventoryFilter, InventoryOrder, InventoryPosition, InventoryRecord, InventorySort } from '../../src/core/types.js';
import { certificateJson } from './serialize.js';

export const CSV = 'text/csv';
export const EXPORT_LIMIT = 50_000;
const READ_PAGE = 1_000;

export const INVENTORY_CSV_HEADER = [
  'id', 'common_name', 'san_dns', 'san_ip', 'status', 'source', 'ca_id', 'ca_name', 'product_id', 'product_name', 'owner',
  'key_algorithm', 'serial_number', 'valid_from', 'valid_to', 'revoked_at', 'revocation_reason', 'issuer', 'created_at', 'custom_fields',
] as const;

export async function sendInventoryCsv(core: CoreServices, res: Response, filter: InventoryFilter, order: { order: InventoryOrder } | { sort: InventorySort }): Promise<void> {
  const now = new Date(core.now());
  // Status as of one moment, and no certificate made during the export shifting the pages it reads.
  const pinned: InventoryFilter = { ...filter, now, createdTo: filter.createdTo && filter.createdTo < now ? filter.createdTo : now };
  const [cas, products] = await Promise.all([core.queries.caList(), core.queries.productList()]);
  const caName = new Map(cas.map((c) => [c.id, c.name]));
  const productName = new Map(products.map((p) => [p.id, p.name]));
  const rows: string[][] = [];
  let after: InventoryPosition | undefined;
  for (let offset = 0; ; offset += READ_PAGE) {
    // Creation order walks by position (each page as cheap as the first); a column sort by offset.
    const where = 'sort' in order ? { sort: order.sort, offset } : after ? { order: order.order, after } : { order: order.order, offset: 0 };
    const listing = await core.queries.inventoryList(pinned, { limit: READ_PAGE, ...where });
    if (offset === 0 && listing.totalExact && listing.total > EXPORT_LIMIT) {
      throw unprocessable(`an export holds at most ${EXPORT_LIMIT} certificates and these filters match ${listing.totalExact ? '' : 'about '}${listing.total}: narrow them (status, CA, product, expiry, owner or search)`);
    }
    for (const cert of listing.certificates) rows.push(csvRow(cert, now.getTime(), caName, productName));
    // A search's total is an estimate past a few thousand: the rows read are what decides.
    if (rows.length > EXPORT_LIMIT) throw unprocessable(`an export holds at most ${EXPORT_LIMIT} certificates and these filters match more: narrow them (status, CA, product, expiry, owner or search)`);
    if (listing.certificates.length < READ_PAGE) break;
    if (!('sort' in order)) {
      if (!listing.next) break;
      after = listing.next;
    }
  }
  const day = now.toISOString().slice(0, 10);
  res.type(CSV).set('Content-Disposition', `attachment; filename="certgate-certificates-${day}.csv"`).send(csvText([INVENTORY_CSV_HEADER, ...rows]));
}

function csvRow(cert: InventoryRecord, now: number, caName: Map<string, string>, productName: Map<string, string>): string[] {
  const c = certificateJson(cert, now);
  const iso = (v: string | null) => v ?? '';
  return [
    c.id, c.common_name ?? '', c.san_dns.join(' '), c.san_ip.join(' '), c.status, c.source, c.ca_id ?? '', (c.ca_id && caName.get(c.ca_id)) ?? '',
    c.product_id ?? '', (c.product_id && productName.get(c.product_id)) ?? '', c.owner ?? '', c.key_algorithm, c.serial_number, c.valid_from, c.valid_to,
    iso(c.revoked_at), c.revocation_reason ?? '', c.issuer ?? '', c.created_at, Object.keys(c.custom_fields).length ? JSON.stringify(c.custom_fields) : '',
  ];
}
