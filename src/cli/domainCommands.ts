// `certgate domain add | list | show | validate | remove`: the CLI's side of /v1/domains. The
// CLI is the operator: what it adds belongs to the whole deployment ('*') unless --holder says whose.
import { InvalidArgumentError, type Command } from 'commander';
import { CLI_ACTOR } from '../audit/actions.js';
import { domainJson } from '../core/domainChallenges.js';
import { VALIDATION_ATTEMPTS } from '../core/dcvSettings.js';
import { AppError } from '../core/errors.js';
import { DCV_METHODS, DOMAIN_STATUSES, EVERYONE, HOLDER_PATTERN, type DcvMethod, type DomainRecord, type DomainStatus } from '../core/types.js';
import type { Runtime } from '../runtime.js';
import { CLI_CONTEXT, intArg, jsonOption, print, table, type CliKit } from './kit.js';

const choice =
  <T extends string>(what: string, allowed: readonly T[]) =>
  (v: string): T => {
    if (!allowed.includes(v as T)) throw new InvalidArgumentError(`unknown ${what} "${v}" (one of ${allowed.join(', ')})`);
    return v as T;
  };

const holderArg = (v: string): string => {
  if (!HOLDER_PATTERN.test(v)) throw new InvalidArgumentError("must be user:<name>, group:<name>, credential:<id>, requester:<principal> or '*'");
  return v;
};

/** The record and, unless it is proved, what to publish: the lines an operator copies. */
function describe(d: DomainRecord): string {
  const { challenges } = domainJson(d);
  const when = d.validatedAt ? `, validated ${d.validatedAt.toISOString()} over ${d.method ?? '?'}, reusable until ${d.expiresAt?.toISOString() ?? '-'}` : '';
  return [
    `domain ${d.id} ${d.name} (holder ${d.holder}): ${d.status}${when}`,
    ...(d.lastError ? [`last error: ${d.lastError}`] : []),
    'to prove control, publish either',
    `  http-01: ${challenges['http-01'].url}`,
    `           (or ${challenges['http-01'].alternative_url})`,
    `           containing exactly: ${challenges['http-01'].content}`,
    `  dns-01:  ${challenges['dns-01'].record_name} TXT "${challenges['dns-01'].value}"`,
    `then: certgate domain validate ${d.id} [--method http-01|dns-01]`,
  ].join('\n');
}

/**
 * Embedded, the CLI's queue is its own, in memory, and no worker takes from it: the CLI
 * runs the check itself, as the last attempt (a passing failure is recorded, not retried).
 */
async function checkHere(rt: Runtime, id: string): Promise<void> {
  const job = rt.domains.handler();
  try {
    await job.process(id, VALIDATION_ATTEMPTS);
  } catch (error) {
    await job.onExhausted(id, error instanceof Error ? error : new Error(String(error)));
  }
}

async function found(rt: Runtime, id: string): Promise<DomainRecord> {
  const d = await rt.core.domains.get(id);
  if (!d) throw new AppError('not_found', `domain ${id} not found`);
  return d;
}

export function registerDomainCommands(program: Command, withRuntime: CliKit['withRuntime']): void {
  const domain = program.command('domain').description('the domain registry: names proved once (http-01 or dns-01) and issued under while the validation is reused');
  domain
    .command('add')
    .description('add a domain to validate and print what to publish (its token)')
    .argument('<name>', 'a DNS name, e.g. example.com (its wildcard is proved over dns-01)')
    .option('--holder <holder>', "whose it is: user:<name>, group:<name>, credential:<id>, or '*' for the whole deployment", holderArg, EVERYONE)
    .addOption(jsonOption())
    .action((name: string, o: { holder: string; json?: boolean }) =>
      withRuntime(async (rt) => {
        const { domain: d, created } = await rt.core.domains.add({ name, holder: o.holder, createdBy: CLI_ACTOR, source: 'registry' }, CLI_CONTEXT);
        print(!!o.json, { ...domainJson(d), created }, () => `${created ? 'added' : 'already there'}: ${describe(d)}`);
      }),
    );
  domain
    .command('list')
    .description('every domain record, oldest first')
    .option('--status <status>', `only these: ${DOMAIN_STATUSES.join(', ')}`, choice('status', DOMAIN_STATUSES))
    .option('--name <name>', "the exact name, or every name under it when it starts with '.' (.example.com)")
    .option('--limit <n>', 'at most this many', intArg(1, 100_000), 1000)
    .addOption(jsonOption())
    .action((o: { status?: DomainStatus; name?: string; limit: number; json?: boolean }) =>
      withRuntime(async (rt) => {
        const list = await rt.core.domains.list({ holders: '*', ...(o.status ? { status: o.status } : {}), ...(o.name ? { name: o.name.toLowerCase() } : {}), limit: o.limit });
        print(!!o.json, list.map((d) => domainJson(d)), () =>
          table(
            ['id', 'name', 'holder', 'status', 'method', 'validated', 'expires', 'last error'],
            list.map((d) => [d.id, d.name, d.holder, d.status, d.method, d.validatedAt?.toISOString(), d.expiresAt?.toISOString(), d.lastError]),
          ),
        );
      }),
    );
  domain
    .command('show')
    .description('one record: status, last validation, and what to publish')
    .argument('<id>', 'the domain id')
    .addOption(jsonOption())
    .action((id: string, o: { json?: boolean }) =>
      withRuntime(async (rt) => {
        const d = await found(rt, id);
        print(!!o.json, domainJson(d), () => describe(d));
      }),
    );
  domain
    .command('validate')
    .description('check the published token now and print the record (validating, or the outcome)')
    .argument('<id>', 'the domain id')
    .option('--method <method>', `${DCV_METHODS.join(' or ')} (default: the last one used, else http-01; wildcards need dns-01)`, choice('method', DCV_METHODS))
    .option('--wait <seconds>', 'with REDIS_URL: wait this long for a worker\'s outcome (embedded, the CLI checks at once and prints it)', intArg(0, 600), 0)
    .addOption(jsonOption())
    .action((id: string, o: { method?: DcvMethod; wait: number; json?: boolean }) =>
      withRuntime(async (rt) => {
        await found(rt, id);
        let d = await rt.core.domains.validate(id, o.method, CLI_CONTEXT);
        if (rt.queue.kind === 'memory') {
          await checkHere(rt, id);
          d = await found(rt, id);
        } else if (o.wait > 0) {
          d = (await rt.core.domains.waitForValidation(id, o.wait * 1000)) ?? d;
        }
        print(!!o.json, domainJson(d), () => describe(d));
        // A failed check is an answer, but not the one a script waited for.
        if (d.status === 'failed') process.exitCode = 1;
      }),
    );
  domain
    .command('remove')
    .description('remove a record (requests waiting on it go back to the worker, which links each to a new record)')
    .argument('<id>', 'the domain id')
    .addOption(jsonOption())
    .action((id: string, o: { json?: boolean }) =>
      withRuntime(async (rt) => {
        const d = await found(rt, id);
        if (!(await rt.core.domains.remove(id, CLI_CONTEXT))) throw new AppError('not_found', `domain ${id} not found`);
        print(!!o.json, { id: d.id, name: d.name, removed: true }, () => `domain ${d.id} ${d.name} removed`);
      }),
    );
}
