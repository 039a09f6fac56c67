// Long runs in child processes (a crash there is a failed test, not a dead test worker):
// a synchronous loop of 140k dispatches that never lets the event loop turn, and a 1000-step
// training run that reads nothing back until its end. Both used to die with SIGSEGV near 65k
// dispatches: Dawn recycles descriptor sets only when the event loop turns, and lavapipe maps
// memory for each one until the process runs out of mappings.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'gpt-long-'));
const src = (file: string) => fileURLToPath(new URL(`../src/${file}`, import.meta.url));
// inside the repository, so that the bundles' `import 'webgpu'` finds node_modules
const bin = fileURLToPath(new URL('../node_modules/.cache/long-run-test/', import.meta.url));

// the child's own deadline, and the test's a little past it: a slow child (1000 steps took 72-98 s
// under load with a warm shader cache; a fresh machine compiles the kernels first) fails as a child
// killed at its deadline, with its output, not as vitest's 120 s default cutting it off first
const CHILD_MS = 300_000;
const TEST_MS = CHILD_MS + 30_000;

function run(script: string, args: string[] = []): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { cwd: root, timeout: CHILD_MS, maxBuffer: 1 << 24 }, (error, out, err) =>
      resolve({ code: error ? (error.code as number | null) ?? null : 0, signal: error?.signal ?? null, out, err }),
    );
  });
}

beforeAll(async () => {
  // the child runs our real modules, bundled by esbuild, since plain Node cannot import .ts
  await build({
    entryPoints: { engine: src('index.ts'), cli: src('cli/main.ts') },
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outdir: bin,
    outExtension: { '.js': '.mjs' },
    logLevel: 'silent',
  });
});

describe('long runs without an event-loop turn', () => {
  it('a synchronous loop of 70,000 adds (140k dispatches) finishes with the right value', async () => {
    const script = join(bin, 'loop.mjs');
    writeFileSync(
      script,
      `import { initDevice, zeros } from './engine.mjs';
const dev = await initDevice();
let x = zeros([4]);
for (let i = 0; i < 70000; i++) { const y = x.add(1); x.dispose(); x = y; }
const values = await x.toArray();
console.log(JSON.stringify({ values: [...values], dispatches: dev.stats.dispatches, bindGroups: dev.bindGroupStats().created }));`,
    );
    const r = await run(script);
    expect(r.signal, r.err).toBeNull();
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out.trim().split('\n').pop()!);
    expect(result.values).toEqual([70000, 70000, 70000, 70000]);
    expect(result.dispatches).toBeGreaterThanOrEqual(70000);
    expect(result.bindGroups).toBeLessThan(100); // pooled buffers: the same few bind groups again and again
  }, TEST_MS);

  it('1000 training steps with nothing read back until the end (--log-interval 1000)', async () => {
    const corpus = join(root, 'corpus.txt');
    const words = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'a', 'lazy', 'dog', 'and', 'runs', 'away'];
    writeFileSync(corpus, Array.from({ length: 3000 }, (_, i) => words[(i * 7 + (i >> 3)) % words.length]).join(' '));
    const script = join(bin, 'train.mjs');
    writeFileSync(script, `import { main } from './cli.mjs';\nprocess.exitCode = await main(process.argv.slice(2));`);
    const out = join(root, 'run');
    const r = await run(script, [
      'train', '--data', corpus, '--out-dir', out, '--batch-size', '1', '--max-iters', '1000', '--log-interval', '1000',
      '--eval-interval', '1000', '--eval-iters', '1', '--n-layer', '2', '--n-head', '2', '--n-embd', '16', '--block-size', '16',
    ]);
    expect(r.signal, r.err).toBeNull();
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/step 1000: train loss [\d.]+, val loss [\d.]+/);
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.filter((l) => l.type === 'train').map((l) => l.step)).toEqual([1000]);
  }, TEST_MS);
});
