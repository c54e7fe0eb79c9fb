// Bundles the console (console/src) into console/dist: one script and one stylesheet named by
// their content's hash, and the page that loads them. esbuild does the bundling (TypeScript, JSX
// for Preact, CSS); nothing is fetched at run time from anywhere but the gateway itself.
// Run by `npm run build` and by npm ci (the prepare script), and by the test suite's global setup.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const HERE = dirname(fileURLToPath(import.meta.url));
const OUT = join(HERE, 'dist');

export async function buildConsole(): Promise<void> {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(join(OUT, 'assets'), { recursive: true });
  const result = await build({
    entryPoints: { app: join(HERE, 'src', 'main.tsx') },
    bundle: true,
    format: 'esm',
    // Code a page loads only when it needs it (pkijs, for a certificate's chain) goes in a chunk of its own.
    splitting: true,
    target: ['chrome111', 'firefox111', 'safari16.4'],
    minify: true,
    sourcemap: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: join(OUT, 'assets'),
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    assetNames: '[name]-[hash]',
    metafile: true,
    logLevel: 'warning',
    legalComments: 'linked',
  });
  const outputs = Object.keys(result.metafile.outputs).map((file) => basename(file));
  const script = outputs.find((f) => /^app-.*\.js$/.test(f));
  const style = outputs.find((f) => /^app-.*\.css$/.test(f));
  if (!script || !style) throw new Error(`console build: expected app-*.js and app-*.css, got ${outputs.join(', ')}`);
  const page = readFileSync(join(HERE, 'src', 'index.html'), 'utf8').replace('{{script}}', `assets/${script}`).replace('{{style}}', `assets/${style}`);
  writeFileSync(join(OUT, 'index.html'), page);
  writeFileSync(join(OUT, 'assets', 'favicon.svg'), readFileSync(join(HERE, 'src', 'favicon.svg')));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildConsole();
}
