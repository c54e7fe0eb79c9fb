// The README's shell blocks as tests run them: a block fenced as ```sh <tag> is found by its tag, so
// that a test executes the very commands a reader copies and the two cannot drift apart.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const README = join(import.meta.dirname, '..', '..', 'README.md');

/** The body of every fenced block whose info string is `<language> <tag>`, by tag. */
export function readmeBlocks(language = 'sh'): Map<string, string> {
  const blocks = new Map<string, string>();
  const fence = /^```(\S+)[ \t]+(\S+)[ \t]*\n([\s\S]*?)^```[ \t]*$/gm;
  for (const [, lang, tag, body] of readFileSync(README, 'utf8').matchAll(fence)) {
    if (lang !== language) continue;
    if (blocks.has(tag as string)) throw new Error(`README.md has two blocks tagged ${tag}`);
    blocks.set(tag as string, body as string);
  }
  return blocks;
}

/** The variables a block sets with `export NAME=…` (several may share one line). */
export function exportedNames(block: string): string[] {
  return [...block.matchAll(/^\s*export\s+(.+)$/gm)].flatMap(([, rest]) => [...(rest as string).matchAll(/(?:^|\s)([A-Z_][A-Z0-9_]*)=/g)].map((m) => m[1] as string));
}
