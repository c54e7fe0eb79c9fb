// `certgate organization add | list | approve | decline | remove`: the CLI's side of
// /v1/organizations. The CLI is the operator: what it makes belongs to the whole deployment
// unless --holder says otherwise, and it may decide what it made itself (it is `cli` either way).
import { Option, type Command } from 'commander';
import { CLI_ACTOR } from '../audit/actions.js';
import { organizationJson } from '../core/organizationService.js';
import { ORGANIZATION_STATUSES, type OrganizationRecord, type OrganizationStatus } from '../core/types.js';
import type { Runtime } from '../runtime.js';
import { CLI_CONTEXT, intArg, jsonOption, print, table, type CliKit } from './kit.js';

const jsonOf = (rt: Runtime, o: OrganizationRecord) => organizationJson(o, rt.core.now());
const line = (o: OrganizationRecord, what: string): string => `organization ${o.id} (O=${o.name}) ${what}`;

export function registerOrganizationCommands(program: Command, withRuntime: CliKit['withRuntime']): void {
  const organization = program
    .command('organization')
    .description('organization records: the O (with OU, C, ST, L) a product with subject.organization "validated" puts in certificates, once approved');
  organization
    .command('add')
    .description('record an organization, pending until someone approves it')
    .requiredOption('--name <O>', 'the organization name (O)')
    .option('--unit <OU>', 'organizational unit (OU)')
    .option('--country <C>', 'two-letter country code, upper case (C)')
    .option('--state <ST>', 'state or province (ST)')
    .option('--locality <L>', 'locality (L)')
    .option('--holder <holder>', 'whose it is: user:<name>, group:<name>, credential:<id>, or * for every requester', '*')
    .addOption(jsonOption())
    .action((o: { name: string; unit?: string; country?: string; state?: string; locality?: string; holder: string; json?: boolean }) =>
      withRuntime(async (rt) => {
        const made = await rt.organizations.create(
          { name: o.name, unit: o.unit, country: o.country, state: o.state, locality: o.locality, holder: o.holder },
          CLI_ACTOR,
          CLI_CONTEXT,
        );
        print(!!o.json, jsonOf(rt, made), () => line(made, `added for ${made.holder}, pending approval`));
      }),
    );
  organization
    .command('list')
    .description('organization records, oldest first')
    .addOption(new Option('--status <status>', 'only records in this status').choices(ORGANIZATION_STATUSES))
    .option('--holder <holder>', 'only the records of this holder')
    .option('--limit <n>', 'at most this many', intArg(1, 10_000), 1000)
    .addOption(jsonOption())
    .action((o: { status?: OrganizationStatus; holder?: string; limit: number; json?: boolean }) =>
      withRuntime(async (rt) => {
        const list = await rt.organizations.list({ holders: o.holder ? [o.holder] : '*', ...(o.status ? { status: o.status } : {}), limit: o.limit });
        const rows = list.map((r) => jsonOf(rt, r));
        print(!!o.json, rows, () =>
          table(
            ['id', 'name', 'status', 'holder', 'country', 'expires at'],
            rows.map((r) => [r.id, r.name, r.expired ? 'expired' : r.status, r.holder, r.country, r.expires_at]),
          ),
        );
      }),
    );
  organization
    .command('approve')
    .description('approve a pending record: certificates may carry it for the deployment\'s organization validity (CERTGATE_ORGANIZATION_VALIDITY_DAYS)')
    .argument('<id>', 'the organization id')
    .addOption(jsonOption())
    .action((id: string, o: { json?: boolean }) =>
      withRuntime(async (rt) => {
        const approved = await rt.organizations.approve(id, CLI_CONTEXT, CLI_ACTOR);
        print(!!o.json, jsonOf(rt, approved), () => line(approved, `approved until ${approved.expiresAt?.toISOString() ?? '?'}`));
      }),
    );
  organization
    .command('decline')
    .description('decline a pending record, saying why')
    .argument('<id>', 'the organization id')
    .requiredOption('--reason <text>', 'why, for whoever made it')
    .addOption(jsonOption())
    .action((id: string, o: { reason: string; json?: boolean }) =>
      withRuntime(async (rt) => {
        const declined = await rt.organizations.decline(id, o.reason, CLI_CONTEXT, CLI_ACTOR);
        print(!!o.json, jsonOf(rt, declined), () => line(declined, `declined: ${o.reason}`));
      }),
    );
  organization
    .command('remove')
    .description('remove a record: certificates already issued keep their subject; no new one carries it')
    .argument('<id>', 'the organization id')
    .addOption(jsonOption())
    .action((id: string, o: { json?: boolean }) =>
      withRuntime(async (rt) => {
        const removed = await rt.organizations.remove(id, CLI_CONTEXT);
        print(!!o.json, jsonOf(rt, removed), () => line(removed, 'removed'));
      }),
    );
}
