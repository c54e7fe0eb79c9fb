// What every `certgate` command shares: the config, the runtime, --json output, argument parsers.
import { Help, InvalidArgumentError, Option, type Command, type HelpConfiguration } from 'commander';
import { CLI_ACTOR } from '../audit/actions.js';
import { loadConfig, type Config, type ConfigOverrides } from '../config.js';
import { AppError } from '../core/errors.js';
import type { AuditContext } from '../core/types.js';
import { credentialKindsOf, type ProtocolModule } from '../core/protocol.js';
import { openRuntime, type Runtime } from '../runtime.js';

/** What the CLI does is done by `cli`, from no address, in the audit trail. */
export const CLI_CONTEXT: AuditContext = { actor: CLI_ACTOR, protocol: 'cli', sourceIp: null };

export interface CliKit {
  config(overrides?: ConfigOverrides): Config;
  withRuntime<T>(fn: (rt: Runtime) => Promise<T>): Promise<T>;
}

/**
 * `protocols`: the registered front-ends, whose settings join the config (read when a command runs)
 * and whose credentials the commands manage without mounting them.
 */
export function cliKit(program: Command, protocols: () => readonly ProtocolModule[] = () => []): CliKit {
  const config = (overrides: ConfigOverrides = {}): Config => loadConfig({ file: program.opts<{ config?: string }>().config, overrides, protocols: protocols() });
  return {
    config,
    async withRuntime(fn) {
      const rt = await openRuntime(config(), { credentialKinds: credentialKindsOf(protocols()) });
      try {
        return await fn(rt);
      } finally {
        await rt.close();
      }
    },
  };
}

export function print(json: boolean, data: unknown, human: () => string): void {
  // One line per JSON document, so `start --json` output can be read line by line.
  console.log(json ? JSON.stringify(data) : human());
}

/**
 * A list as a table: a header row of column names, then one row per item, each column as wide as
 * its widest cell (the last is not padded). With no rows, the header alone says what is empty.
 */
export function table(columns: readonly string[], rows: readonly (readonly (string | number | null | undefined)[])[]): string {
  const cells = [columns.map((c) => c.toUpperCase()), ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === columns.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
}

/** How every command's help shows its options (set on the program; subcommands inherit it). */
export const HELP: HelpConfiguration = {
  optionDescription(option) {
    // A repeatable option starts from []: no default worth showing; its text says what none means.
    const shown = Array.isArray(option.defaultValue) && option.defaultValue.length === 0 ? Object.assign(Object.create(option) as typeof option, { defaultValue: undefined }) : option;
    const text = Help.prototype.optionDescription.call(this, shown);
    return option.mandatory ? `${text} (required)` : text;
  },
};

export async function findCa(rt: Runtime, idOrName: string) {
  const ca = (await rt.store.cas.get(idOrName)) ?? (await rt.store.cas.getByName(idOrName));
  if (!ca) throw new AppError('not_found', `no CA with id or name "${idOrName}"`);
  return ca;
}

export async function findProduct(rt: Runtime, idOrName: string) {
  const product = (await rt.store.products.get(idOrName)) ?? (await rt.store.products.getByName(idOrName));
  if (!product) throw new AppError('not_found', `no product with id or name "${idOrName}"`);
  return product;
}

export const jsonOption = (): Option => new Option('--json', 'machine-readable output');
export const collect = (v: string, prev: string[]): string[] => [...prev, v];
export const intArg =
  (min: number, max: number) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return n;
  };
export const dateArg = (v: string): Date => {
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError('must be a date and time, e.g. 2026-12-01T00:00:00Z');
  return d;
};
