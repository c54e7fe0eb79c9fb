// `certgate audit list | verify | checkpoint | export`.
import { readFileSync, writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { AUDIT, CLI_ACTOR } from '../audit/actions.js';
import { CheckpointError, makeCheckpoint, readCheckpoint, type Checkpoint } from '../audit/checkpoint.js';
import { auditEntryJson, entriesInOrder } from '../audit/trail.js';
import { AppError } from '../core/errors.js';
import type { AuditFilter } from '../core/types.js';
import { dateArg, intArg, jsonOption, print, table, type CliKit } from './kit.js';

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
  const audit = program.command('audit').description('the audit trail: every change, chained under a key derived from the master key');
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
          table(
            ['seq', 'at', 'actor', 'action', 'target', 'outcome', 'from'],
            entries.map((e) => [e.seq, e.at.toISOString(), e.actor, e.action, e.target, e.outcome, e.sourceIp]),
          ) + (total > entries.length ? `\n(${entries.length} of ${total}; --page ${o.page + 1} for more)` : ''),
        );
      }),
    );
  audit
    .command('verify')
    .description('walk the keyed chain; names the first entry altered, unkeyed, removed or reordered, and with --checkpoint a cut-off tail or a rewrite before it (exit 1)')
    .option('--checkpoint <file>', 'a checkpoint `audit checkpoint` wrote: the trail must still reach it, unchanged')
    .addOption(jsonOption())
    .action((o: { json?: boolean; checkpoint?: string }) =>
      withRuntime(async (rt) => {
        let checkpoint: Checkpoint | undefined;
        if (o.checkpoint) {
          let text: string;
          try {
            text = readFileSync(o.checkpoint, 'utf8');
          } catch (e) {
            throw new AppError('bad_request', `cannot read the checkpoint ${o.checkpoint}: ${(e as Error).message}`);
          }
          try {
            checkpoint = readCheckpoint(rt.secrets.masterKey, text);
          } catch (e) {
            if (!(e instanceof CheckpointError)) throw e;
            throw new AppError('bad_request', `checkpoint ${o.checkpoint}: ${e.message}`);
          }
        }
        const report = await rt.store.audit.verify(checkpoint);
        print(!!o.json, report, () => {
          if (!report.ok && report.broken) return `audit trail BROKEN at entry ${report.broken.seq}: ${report.broken.detail}`;
          if (!report.ok && report.checkpoint?.broken) return `audit trail does not hold the checkpoint: ${report.checkpoint.broken.detail}`;
          const anchored = report.checkpoint ? `; it still holds entry ${report.checkpoint.seq} as the checkpoint of ${report.checkpoint.at} saw it` : '';
          return `audit trail intact: ${report.entries} entries${report.head ? `; last is ${report.head.seq}` : ''}${anchored}${checkpoint ? '' : ' (`audit checkpoint` anchors it against a cut-off tail)'}`;
        });
        if (!report.ok) process.exitCode = 1;
      }),
    );
  audit
    .command('checkpoint')
    .description('write a signed checkpoint of the trail (last entry, its link, the time) to keep elsewhere; refuses a broken trail (exit 1)')
    .option('--out <file>', 'write it here (default: standard output)')
    .addOption(jsonOption())
    .action((o: { out?: string; json?: boolean }) =>
      withRuntime(async (rt) => {
        const report = await rt.store.audit.verify();
        if (!report.ok) {
          // A checkpoint of a broken trail would vouch for the break.
          throw new AppError('bad_request', `the audit trail is broken at entry ${report.broken?.seq}: ${report.broken?.detail}; no checkpoint written`);
        }
        const checkpoint = makeCheckpoint(rt.secrets.masterKey, report.head ?? { seq: 0, hash: '0'.repeat(64) }, new Date());
        const text = JSON.stringify(checkpoint, null, 2) + '\n';
        if (o.out) writeFileSync(o.out, text, { mode: 0o644 });
        else process.stdout.write(text);
        await rt.store.audit.append({ actor: CLI_ACTOR, protocol: 'cli', sourceIp: null, action: AUDIT.auditCheckpoint, target: 'audit_log', outcome: 'success', detail: { seq: checkpoint.seq, head_hash: checkpoint.head_hash, ...(o.out ? { file: o.out } : {}) } });
        if (o.out) print(!!o.json, { out: o.out, seq: checkpoint.seq, head_hash: checkpoint.head_hash, at: checkpoint.at }, () => `checkpoint of entry ${checkpoint.seq} written to ${o.out}: keep it outside this deployment`);
      }),
    );
  audit
    .command('reseal')
    .description('once, after upgrading from a version whose audit chain was a plain hash: re-seal that trail under the key (only if it is intact)')
    .addOption(jsonOption())
    .action((o: { json?: boolean }) =>
      withRuntime(async (rt) => {
        const result = await rt.store.audit.upgradeChain();
        print(!!o.json, result, () =>
          result.state === 'legacy'
            ? `re-sealed ${result.resealed} entries under the audit key (recorded as ${AUDIT.auditChainKeyed}); take a checkpoint now: audit checkpoint --out FILE`
            : result.state === 'broken'
              ? 'the trail does not verify, under a plain hash or the key: nothing re-sealed; `audit verify` names the first bad entry'
              : `nothing to re-seal: the trail is ${result.state === 'empty' ? 'empty' : 'sealed under the key already'}`,
        );
        if (result.state === 'broken') process.exitCode = 1;
      }),
    );
  audit
    .command('export')
    .description('entries as JSON lines, oldest first, for a SIEM')
    .requiredOption('--since <time>', 'entries at or after this time', dateArg)
    // The export is machine-readable already: --json is accepted, as on every command that prints data, and changes nothing.
    .addOption(new Option('--json', 'the same JSON lines, one entry (as GET /v1/audit lists it) per line: the export has no other form'))
    .action((o: { since: Date; json?: boolean }) =>
      withRuntime(async (rt) => {
        for await (const e of entriesInOrder(rt.store.audit, { from: o.since })) process.stdout.write(JSON.stringify(auditEntryJson(e)) + '\n');
      }),
    );
}
