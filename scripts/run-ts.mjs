#!/usr/bin/env node
// Runs a TypeScript entry point (bench scripts): esbuild bundles it for Node into a cache folder,
// npm packages and the repository's own .mjs scripts left external (they locate files from their
// own import.meta.url), then it is imported with the remaining arguments.
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [entry, ...rest] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs FILE.ts [args...]');
  process.exit(2);
}
const outDir = resolve('node_modules/.cache/run-ts');
mkdirSync(outDir, { recursive: true });
const outfile = resolve(outDir, basename(entry).replace(/\.ts$/, '.mjs'));
const keepScriptsExternal = {
  name: 'keep-mjs-external',
  setup(b) {
    b.onResolve({ filter: /\.mjs$/ }, (args) => ({ path: pathToFileURL(resolve(dirname(args.importer), args.path)).href, external: true }));
  },
};
await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  packages: 'external',
  plugins: [keepScriptsExternal],
  sourcemap: 'inline',
  logLevel: 'warning',
});
process.argv = [process.argv[0], outfile, ...rest];
await import(pathToFileURL(outfile).href);
