// An export ended by a signal (Ctrl-C, SIGTERM) at any moment leaves the earlier export whole or the
// new one: never weights without config.json, nor one export's weights beside another's config or
// tokenizer. A child process exports over and over (each export's files naming its number), as
// `gpt export` does (replaceFileSet under answeringSignals, whose handler deletes the writes under
// way and raises the signal again), and is sent SIGTERM at random moments.
import { build } from 'esbuild';
import fc from 'fast-check';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, it } from 'vitest';
import { tempDir } from './cli-helpers.js';
import { signalAfterFirstLine } from './signalled-child.js';

const root = tempDir('export-signals');
const KILLS = 12;
let runner: string;

beforeAll(async () => {
  // the child runs our real modules, bundled by esbuild: plain Node cannot import .ts
  const src = (file: string) => fileURLToPath(new URL(`../src/${file}`, import.meta.url));
  const outdir = join(root, 'bundle');
  await build({ entryPoints: [src('node/atomic-file.ts'), src('cli/ending-signals.ts')], bundle: true, platform: 'node', format: 'esm', outdir, entryNames: '[name]', outExtension: { '.js': '.mjs' }, logLevel: 'silent' });
  runner = join(root, 'exporter.mjs');
  // export n's weights are 64 KiB naming n; every other export has a tokenizer.json (as a BPE model's), the others none (a char model's)
  writeFileSync(
    runner,
    `import { replaceFileSet } from ${JSON.stringify(join(outdir, 'atomic-file.mjs'))};
import { answeringSignals } from ${JSON.stringify(join(outdir, 'ending-signals.mjs'))};
const dir = process.argv[2];
async function* weights(n) {
  for (let i = 0; i < 4; i++) yield new TextEncoder().encode(('weights ' + n + ' ').padEnd(16384, '.'));
}
for (let n = Number(process.argv[3]); ; n++) {
  await answeringSignals(() => replaceFileSet(dir, { name: 'model.safetensors', data: weights(n) }, [
    { name: 'tokenizer.json', data: n % 2 ? null : 'tokenizer ' + n },
    { name: 'config.json', data: 'config ' + n },
  ]));
  process.stdout.write(n + '\\n');
}
`,
  );
});

/** The export number each file of `dir` names ('none' where it has no such file). */
function exportOf(dir: string): Record<string, string> {
  const number = (name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8').split(' ')[1]!.replace(/\.+$/, '') : 'none');
  return Object.fromEntries(['model.safetensors', 'tokenizer.json', 'config.json'].map((name) => [name, number(name)]));
}

/** Starts an exporter numbering from `first`, sends it SIGTERM `delayMs` after its first export is done; the last export it reported, and its pid. */
async function runAndTerminate(dir: string, first: number, delayMs: number): Promise<{ reported: number; pid: number }> {
  const { printed, pid } = await signalAfterFirstLine(runner, [dir, String(first)], 'SIGTERM', delayMs);
  return { reported: printed.at(-1) ?? first - 1, pid };
}

it(`an export ended by SIGTERM leaves one export's files, whole, across ${KILLS} signals`, async () => {
  const dir = join(root, 'out');
  mkdirSync(dir);
  let last = 0;
  const delays = fc.sample(fc.noBias(fc.integer({ min: 0, max: 60 })), { numRuns: KILLS, seed: 7 });
  for (const delay of delays) {
    const { reported, pid } = await runAndTerminate(dir, last + 1, delay);
    const files = exportOf(dir);
    const n = Number(files['config.json']);
    // the last export reported done, or the next if the signal came between its commit and its report
    expect([reported, reported + 1], `SIGTERM after ${delay} ms: ${JSON.stringify(files)}`).toContain(n);
    expect(files, `SIGTERM after ${delay} ms`).toEqual({ 'model.safetensors': String(n), 'tokenizer.json': n % 2 ? 'none' : String(n), 'config.json': String(n) });
    // the signal's handler deletes the writes under way; a file system call already on its way can make one again: the next export removes it
    for (const name of readdirSync(dir).filter((name) => name.startsWith('.'))) expect(name, `SIGTERM after ${delay} ms`).toMatch(new RegExp(`^\\.(model\\.safetensors|tokenizer\\.json|config\\.json)\\.tmp-${pid}-`));
    last = n;
  }
});
