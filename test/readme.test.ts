// The README's TypeScript examples, as a user would write them: type-checked with --strict (and
// skipLibCheck off) against the package's entry points ('webgpu-gpt', 'webgpu-gpt/nn', ...), then
// each run as a program of its own, in order, in one directory (the GPT example's checkpoint is what
// the later examples load).
import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from './cli-helpers.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const blocks = [...README.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
const dir = tempDir('readme');
// under node_modules, so that the bundles' import of 'webgpu' resolves
const bundles = join(ROOT, `node_modules/.cache/readme-test-${process.pid}`);
afterAll(() => rmSync(bundles, { recursive: true, force: true }));

/** 'webgpu-gpt' and 'webgpu-gpt/<area>' are the package's entry points: src/index.ts and src/<area>/index.ts. */
const entry = (specifier: string) => join(ROOT, 'src', specifier.replace(/^webgpu-gpt\/?/, ''), 'index.ts');

// the examples as files, a package of ES modules (as a user's would be)
const files = blocks.map((code, i) => {
  writeFileSync(join(dir, `example-${i + 1}.ts`), code);
  return join(dir, `example-${i + 1}.ts`);
});
writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));

describe('the README examples', () => {
  it('are type-checked with --strict and skipLibCheck off', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    const compilerOptions = {
      strict: true,
      skipLibCheck: false,
      noEmit: true,
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      types: ['node'],
      typeRoots: [join(ROOT, 'node_modules/@types')],
      paths: { 'webgpu-gpt': [entry('webgpu-gpt')], 'webgpu-gpt/*': [join(ROOT, 'src/*/index.ts')] },
    };
    const { options, errors } = ts.convertCompilerOptionsFromJson(compilerOptions, dir);
    expect(errors).toEqual([]);
    const program = ts.createProgram(files, options);
    // the examples and every declaration file they load (skipLibCheck off), as tsc -p reports them; not
    // src/'s own files, which `npm test` type-checks first (tsc -p tsconfig.json, strict), and checking
    // them again here took a third of its CPU time (14 s)
    const checked = program.getSourceFiles().filter((f) => f.isDeclarationFile || files.includes(f.fileName));
    expect(checked.filter((f) => !f.isDeclarationFile)).toHaveLength(files.length);
    const diagnostics = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics(), ...checked.flatMap((f) => [...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f)])];
    const host = { getCanonicalFileName: (f: string) => f, getCurrentDirectory: () => dir, getNewLine: () => '\n' };
    expect(ts.formatDiagnostics(diagnostics, host)).toBe('');
  });

  it('run in order, each to its end', async () => {
    // bundled together: src/ read and parsed once for all of them
    await build({
      entryPoints: files,
      outdir: bundles,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
      external: ['webgpu'],
      plugins: [{ name: 'package-entry-points', setup: (b) => b.onResolve({ filter: /^webgpu-gpt(\/|$)/ }, (a) => ({ path: entry(a.path) })) }],
    });
    const outputs: string[] = [];
    for (const [i, code] of blocks.entries()) {
      const { stdout } = await run(process.execPath, [join(bundles, `example-${i + 1}.mjs`)], { cwd: dir }).catch((e: { stdout: string; stderr: string }) => {
        throw new Error(`README example ${i + 1} failed:\n${code}\n${e.stderr}`);
      });
      outputs.push(stdout);
    }
    const [tensors, mlp, gpt, stream, grad, lora, mixed, compressed] = outputs;
    expect(tensors).toMatch(/Float32Array/);
    expect(Number(mlp!.match(/step 300: mse ([\d.]+)/)?.[1])).toBeLessThan(0.05); // XOR learned
    expect(gpt).toMatch(/step 60: train [\d.]+, val [\d.]+/);
    expect(JSON.parse(readFileSync(join(dir, 'out/tiny/checkpoint.json'), 'utf8')).meta.step).toBe(60); // the run's state, to resume
    expect(stream!.length).toBeGreaterThan(0);
    expect(grad).toMatch(/^true -/); // maxError negative, as the README says
    // rank 4 on c_attn of 2 blocks 32 wide: A [4, 32] and B [96, 4] a block; all: 2 blocks (2 LayerNorms
    // without bias, 4 Linear weights), ln_f, wte (16 characters) and wpe (block 32)
    const all = 2 * (2 * 32 + 32 * 96 + 32 * 32 + 32 * 128 + 128 * 32) + 32 + 16 * 32 + 32 * 32;
    expect(lora).toContain(`trainable params: 1,024 || all params: ${(all + 1024).toLocaleString('en-US')} ||`);
    const losses = [...lora!.matchAll(/step \d+: loss ([\d.]+)/g)].map((m) => Number(m[1]));
    expect(losses).toHaveLength(2);
    expect(losses[1]).toBeLessThan(losses[0]!);
    expect(existsSync(join(dir, 'out/tiny-lora/checkpoint.json'))).toBe(true);
    // three steps, none skipped at PyTorch's initial scale, 2^16
    expect([...mixed!.matchAll(/^step (\d): loss [\d.]+, scale 65536$/gm)].map((m) => m[1])).toEqual(['1', '2', '3']);
    // half the heads of 2 blocks go: a head's 16 rows of q, k and v (with no bias) and 16 columns of c_proj, a block
    const [before, after] = compressed!.match(/half the heads: (\d+) -> (\d+) parameters/)!.slice(1).map(Number);
    expect(before! - after!).toBe(2 * (3 * 16 * 32 + 32 * 16));
    const [pruned, total] = compressed!.match(/(\d+) of (\d+) Linear weights pruned/)!.slice(1).map(Number);
    expect([pruned, total]).toEqual([total! / 2, 2 * (32 * 96 + 32 * 32 + 32 * 128 + 128 * 32)]);
    expect(compressed!.split('\n').filter((l) => l.startsWith('"'))).toHaveLength(3); // a continuation a prompt
    expect(existsSync(join(dir, 'out/tiny-int8/checkpoint.json'))).toBe(true);
  });
});
