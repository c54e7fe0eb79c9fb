// The inventory report as REST answers it and `certgate report inventory` prints it: one shape
// (JSON, and CSV for a spreadsheet) for both, so that the two never disagree on a column.
import { EXPIRY_BUCKETS, type InventoryCounts } from './types.js';

/** What the buckets mean, said in the report itself so that a reader of a CSV file has it too. */
export const EXPIRY_BUCKETS_TEXT =
  'disjoint, by days until valid_to: expired (passed), ' +
  EXPIRY_BUCKETS.map((b, i) => `${b.name} (${i === 0 ? 0 : EXPIRY_BUCKETS[i - 1]?.upToDays} < days <= ${b.upToDays})`).join(', ') +
  ', beyond_90_days; revoked certificates are in no bucket';

export interface InventoryReportJson {
  generated_at: string;
  total: number;
  expiry_buckets: string;
  by_product: { product_id: string | null; product_name: string | null; count: number }[];
  by_ca: { ca_id: string | null; ca_name: string | null; count: number }[];
  by_status: InventoryCounts['byStatus'];
  by_key_algorithm: { key_algorithm: string; count: number }[];
  by_expiry: InventoryCounts['byExpiry'];
}

/** Names by id, for products and CAs; a null id is an imported certificate's (no product or CA). */
export interface ReportNames {
  product(id: string): string | undefined;
  ca(id: string): string | undefined;
}

export function inventoryReportJson(counts: InventoryCounts, names: ReportNames, generatedAt: Date): InventoryReportJson {
  return {
    generated_at: generatedAt.toISOString(),
    total: counts.total,
    expiry_buckets: EXPIRY_BUCKETS_TEXT,
    by_product: counts.byProduct.map((p) => ({ product_id: p.productId, product_name: p.productId === null ? null : (names.product(p.productId) ?? null), count: p.count })),
    by_ca: counts.byCa.map((c) => ({ ca_id: c.caId, ca_name: c.caId === null ? null : (names.ca(c.caId) ?? null), count: c.count })),
    by_status: counts.byStatus,
    by_key_algorithm: counts.byKeyAlgorithm.map((k) => ({ key_algorithm: k.keyAlgorithm, count: k.count })),
    by_expiry: counts.byExpiry,
  };
}

/** One row per counted value: dimension (total, product, ca, status, key_algorithm, expiry), its id or name, a readable name, the count. */
export type ReportLine = [dimension: string, value: string, name: string, count: number];

/** Imported certificates have no product or CA: they are counted, and labelled, as such. */
const IMPORTED = 'imported (no product or CA)';

export function inventoryReportLines(r: InventoryReportJson): ReportLine[] {
  return [
    ['total', '', '', r.total],
    ...r.by_product.map((p): ReportLine => ['product', p.product_id ?? '', p.product_id === null ? IMPORTED : (p.product_name ?? ''), p.count]),
    ...r.by_ca.map((c): ReportLine => ['ca', c.ca_id ?? '', c.ca_id === null ? IMPORTED : (c.ca_name ?? ''), c.count]),
    ...Object.entries(r.by_status).map(([status, n]): ReportLine => ['status', status, '', n]),
    ...r.by_key_algorithm.map((k): ReportLine => ['key_algorithm', k.key_algorithm, '', k.count]),
    ...Object.entries(r.by_expiry).map(([bucket, n]): ReportLine => ['expiry', bucket, '', n]),
  ];
}

export const REPORT_CSV_HEADER = ['dimension', 'value', 'name', 'count'] as const;

/**
 * RFC 4180, CRLF line ends. A cell a spreadsheet would run as a formula (=, +, -, @ first: a
 * product name is an operator's free text) is written with a leading apostrophe (OWASP's advice).
 */
export function inventoryReportCsv(r: InventoryReportJson): string {
  return csvText([REPORT_CSV_HEADER, ...inventoryReportLines(r)]);
}

/** Rows as CSV, written as the report is (RFC 4180, CRLF, formula cells defused); also the inventory list's export. */
export function csvText(rows: readonly (readonly (string | number)[])[]): string {
  const cell = (v: string | number): string => {
    let text = String(v);
    if (typeof v === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return rows.map((row) => row.map(cell).join(',')).join('\r\n') + '\r\n';
}
