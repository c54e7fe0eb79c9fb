// `certgate report inventory`: the counts GET /v1/reports/inventory answers, over every
// certificate (the CLI is the operator), as tables, JSON or CSV.
import { Option, type Command } from 'commander';
import { EXPIRY_BUCKETS_TEXT, inventoryReportCsv, type InventoryReportJson } from '../core/inventoryReport.js';
import { jsonOption, print, table, type CliKit } from './kit.js';

/** Imported certificates have no product or CA. */
const NONE = '(imported)';

function reportText(r: InventoryReportJson): string {
  const rows = (o: Record<string, number>) => Object.entries(o).map(([k, n]) => [k, n]);
  return [
    `inventory at ${r.generated_at}: ${r.total} certificates`,
    '',
    table(['product id', 'product', 'count'], r.by_product.map((p) => [p.product_id ?? NONE, p.product_name ?? NONE, p.count])),
    '',
    table(['ca id', 'ca', 'count'], r.by_ca.map((c) => [c.ca_id ?? NONE, c.ca_name ?? NONE, c.count])),
    '',
    table(['status', 'count'], rows(r.by_status)),
    '',
    table(['key algorithm', 'count'], r.by_key_algorithm.map((k) => [k.key_algorithm, k.count])),
    '',
    table(['expiry', 'count'], rows(r.by_expiry)),
    `(${EXPIRY_BUCKETS_TEXT})`,
  ].join('\n');
}

export function registerReportCommands(program: Command, withRuntime: CliKit['withRuntime']): void {
  const report = program.command('report').description('reports for reviews');
  report
    .command('inventory')
    .description('every certificate counted by product, CA, status, key algorithm and expiry bucket (GET /v1/reports/inventory)')
    .addOption(jsonOption())
    .addOption(new Option('--csv', 'CSV: a header row (dimension,value,name,count), then one row per count').conflicts('json'))
    .action((o: { json?: boolean; csv?: boolean }) =>
      withRuntime(async (rt) => {
        const r = await rt.core.inventory.report({ includeImported: true }, new Date(rt.core.now()));
        if (o.csv) process.stdout.write(inventoryReportCsv(r));
        else print(!!o.json, r, () => reportText(r));
      }),
    );
}
