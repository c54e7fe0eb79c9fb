// Every `certgate` command, walked from the registered command tree, held to the same rules, so that
// a command added later cannot quietly break them: a description; --json on every command (each
// prints data or a result a script reads); required options said to be required in the help; at
// most one default shown per option; and every list command, in text mode, a table with a header row.
import type { Command } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { commandTree } from '../src/cli.js';
import { certgate } from './helpers/certgateCli.js';
import { tempDir } from './helpers/openssl.js';

/** Every command below `c`, as `certgate a b`, with its command object. */
function walk(c: Command, path: string[] = []): { name: string; path: string[]; command: Command }[] {
  return c.commands.flatMap((sub) => {
    const here = [...path, sub.name()];
    return [{ name: here.join(' '), path: here, command: sub }, ...walk(sub, here)];
  });
}

const program = commandTree();
const all = walk(program);
const leaves = all.filter((c) => c.command.commands.length === 0);
/** A command that lists things is named `list`. */
const lists = leaves.filter((c) => c.path.at(-1) === 'list');

describe('the certgate command tree', () => {
  it('is walked whole: its groups, their commands, the list commands', () => {
    expect(leaves.length).toBeGreaterThan(25);
    expect(all.map((c) => c.name)).toEqual(expect.arrayContaining(['ca list', 'cert revoke', 'audit export', 'report inventory', 'master-key rotate']));
    expect(lists.map((c) => c.name).sort()).toEqual(expect.arrayContaining(['apikey list', 'audit list', 'ca list', 'cert list', 'credential list', 'product list']));
  });

  it('has a description on every command and group', () => {
    const bare = all.filter((c) => !c.command.description().trim()).map((c) => c.name);
    expect(bare, 'commands without .description()').toEqual([]);
  });

  it('takes --json on every command', () => {
    const without = leaves.filter((c) => !c.command.options.some((o) => o.long === '--json')).map((c) => c.name);
    expect(without, 'commands without --json').toEqual([]);
  });

  it('says in the help which options are required, and shows at most one default per option', () => {
    let mandatory = 0;
    for (const { name, command } of all) {
      const help = command.createHelp();
      for (const option of command.options) {
        const text = help.optionDescription(option);
        if (option.mandatory) {
          mandatory++;
          expect(text, `${name} ${option.long}`).toMatch(/\(required\)$/);
        }
        expect(text.match(/default:/g)?.length ?? 0, `${name} ${option.long}: "${text}"`).toBeLessThanOrEqual(1);
      }
      // What an operator reads: the rendered help names them too.
      for (const option of command.options.filter((o) => o.mandatory)) expect(command.helpInformation(), name).toMatch(new RegExp(`${option.long}[^\\n]*\\n?[^\\n]*\\(required\\)`));
    }
    // credential create --type, product create --name and --ca, audit export --since, request decline --reason, …
    expect(mandatory).toBeGreaterThanOrEqual(6);
  });

  describe('list commands in text mode', () => {
    const dir = tempDir();
    beforeAll(() => {
      const r = certgate(dir, ['init', '--json']);
      expect(r.code, r.stderr).toBe(0);
    }, 60_000);

    for (const list of lists) {
      it(`${list.name} prints a header row, then one row per item, the same items as --json`, () => {
        const text = certgate(dir, list.path);
        expect(text.code, text.stderr).toBe(0);
        const [header, ...rows] = text.stdout.trimEnd().split('\n');
        // Column names in capitals, at least two apart.
        expect(header, list.name).toMatch(/^[A-Z][A-Z ]*[A-Z](  +[A-Z][A-Z ]*[A-Z])+$/);
        const json = certgate(dir, [...list.path, '--json']);
        expect(json.code, json.stderr).toBe(0);
        const parsed = JSON.parse(json.stdout) as unknown[] | { entries: unknown[] };
        const items = Array.isArray(parsed) ? parsed : parsed.entries;
        expect(rows.filter((r) => !r.startsWith('(')), list.name).toHaveLength(items.length);
        // The first column is each item's id (or sequence number), in the same order.
        const ids = items.map((i) => String((i as { id?: unknown; seq?: unknown }).id ?? (i as { seq: unknown }).seq));
        expect(rows.filter((r) => !r.startsWith('(')).map((r) => r.split(/\s+/)[0])).toEqual(ids);
      }, 60_000);
    }
  });
});
