// `certgate audit list | verify | export`.
import type { Command } from 'commander';
import { auditEntryJson, entriesInOrder, verifyTrail } from '../audit/trail.js';
import type { AuditFilter } from '../core/types.js';
import { dateArg, intArg, jsonOption, print, type CliKit } from './kit.js';

interface FilterOptions {
  from?: Date;
  to?: Date;
  actor?: string;
  action?: string;
  target?: string;
}

const filterOf = (o: FilterOptions): AuditFilter => ({
  ...(o.from ? { from: o.from } : {}),
  ...(o.to ? { to: o.to } : {}),
  ...(o.actor ? { actor: o.actor } : {}),
  ...(o.action ? { action: o.action } : {}),
  ...(o.target ? { target: o.target } : {}),
});

export function registerAuditCommands(program: Command, withRuntime: CliKit['withRuntime']): void {
  const audit = program.command('audit').description('the audit trail: every change, hash-chained');
  audit
    .command('list')
    .description('entries, newest first')
    .option('--from <time>', 'at or after this time', dateArg)
    .option('--to <time>', 'at or before this time', dateArg)
    .option('--actor <id>', 'a credential id, cli or system')
    .option('--action <action>', 'e.g. certificate.revoke, auth.refused')
    .option('--target <id>', 'a request, certificate, credential, CA or product id')
    .option('--limit <n>', 'entries per page', intArg(1, 1000), 100)
    .option('--page <n>', 'page number, from 1', intArg(1, Number.MAX_SAFE_INTEGER), 1)
    .addOption(jsonOption())
    .action((o: FilterOptions & { limit: number; page: number; json?: boolean }) =>
      withRuntime(async (rt) => {
        const { entries, total } = await rt.store.audit.list(filterOf(o), { limit: o.limit, offset: (o.page - 1) * o.limit });
        print(!!o.json, { entries: entries.map(auditEntryJson), total, page: o.page, page_size: o.limit }, () =>
          entries.length === 0
            ? 'no entries'
            : entries
                .map((e) => `${String(e.seq).padStart(6)}  ${e.at.toISOString()}  ${e.actor.padEnd(16)}  ${e.action.padEnd(22)}  ${e.target}  ${e.outcome}${e.sourceIp ? `  from ${e.sourceIp}` : ''}`)
                .join('\n'),
        );
      }),
    );
  audit
    .command('verify')
    .description('walk the hash chain; names the first entry altered, removed or reordered (exit 1)')
    .addOption(jsonOption())
    .action((o: { json?: boolean }) =>
      withRuntime(async (rt) => {
        const report = await verifyTrail(rt.store.audit);
        print(!!o.json, report, () =>
          report.ok
            ? `audit trail intact: ${report.entries} entries${report.head ? `; last is ${report.head.seq}, hash ${report.head.hash} (keep it elsewhere to catch a cut-off tail)` : ''}`
            : `audit trail BROKEN at entry ${report.broken?.seq}: ${report.broken?.detail}`,
        );
        if (!report.ok) process.exitCode = 1;
      }),
    );
  audit
    .command('export')
    .description('entries as JSON lines, oldest first, for a SIEM')
    .requiredOption('--since <time>', 'entries at or after this time', dateArg)
    .action((o: { since: Date }) =>
      withRuntime(async (rt) => {
        for await (const e of entriesInOrder(rt.store.audit, { from: o.since })) process.stdout.write(JSON.stringify(auditEntryJson(e)) + '\n');
      }),
    );
}
