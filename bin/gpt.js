#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm run build` / the set-up command).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error('gpt: dist/ is missing; run `npm run setup` (or `npm run build`) first');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
