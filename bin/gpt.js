#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm run build` / the set-up command, shipped in the package).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/launch.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error('gpt: dist/ is missing; run `npm run setup` (or `npm run build`) first');
  process.exit(1);
}
const { launch } = await import(entry.href);
process.exitCode = await launch(process.argv.slice(2), fileURLToPath(import.meta.url));
