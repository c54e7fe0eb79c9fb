// The version `certgate --version` prints: package.json's, the one place it is written. Found by
// walking up from this module, as it sits at a different depth in the checkout (src/) and in a
// build (dist/src/), and a JSON import would be copied into dist/ as a second source.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'certgate';

/** The directory of certgate's package.json above `from`, and what it says. */
function packageAbove(from: string): { root: string; version: string } {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === PACKAGE_NAME && typeof pkg.version === 'string') return { root: dir, version: pkg.version };
    }
    if (dirname(dir) === dir) throw new Error(`no package.json of ${PACKAGE_NAME} above ${from}`);
  }
}

const HERE = dirname(fileURLToPath(import.meta.url));

export const packageVersion = (from: string = HERE): string => packageAbove(from).version;

/** The package's root directory (the checkout, or the image's /app): where built assets are found. */
export const packageRoot = (): string => packageAbove(HERE).root;
