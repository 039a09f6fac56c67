// The package as a user gets it: `npm pack` (its prepack script builds dist/ and web-dist/) of a
// copy of this checkout, installed OFFLINE into a fresh project together with its dependencies
// (tarred from this checkout's node_modules, so no registry and no npm cache is needed). There a
// consumer file importing every entry point is type-checked with --strict and skipLibCheck off,
// without @types/node, and run, and the README's examples are type-checked there too; and the
// installed `gpt` command answers.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { gpt3EncoderDir, loadGpt2Tokenizer } from '../src/cli/tokenizer-files.js';
import { BpeTokenizer } from '../src/gpt/tokenizer/index.js';
import { corpusText, tempDir } from './cli-helpers.js';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const tmp = tempDir('package');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };

/** The production dependencies, transitively, as package-lock.json records them (the registry's names). */
function productionDependencies(): string[] {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dependencies?: Record<string, string> }> };
  const found = new Set<string>();
  const visit = (deps: Record<string, string> = {}) => {
    for (const name of Object.keys(deps)) {
      if (found.has(name)) continue;
      found.add(name);
      visit(lock.packages[`node_modules/${name}`]?.dependencies);
    }
  };
  visit(lock.packages['']!.dependencies);
  return [...found];
}

/**
 * Tarballs of the dependencies, as npm would install them from the registry: each installed directory
 * (what its own registry tarball held) under package/, uncompressed. npm pack gzipped webgpu's 132 MB
 * for 9 s of CPU on every clean checkout; npm installs a .tar as it does a .tgz.
 */
async function dependencyTarballs(): Promise<string[]> {
  return Promise.all(
    productionDependencies().map(async (name) => {
      const dir = join(ROOT, 'node_modules', name);
      const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
      const file = join(tmp, `${name.replace('@', '').replace('/', '-')}-${version}.tar`);
      await exec('tar', ['-cf', file, '-C', dir, '--exclude=node_modules', '--transform', 's,^\\.,package,', '.']);
      return file;
    }),
  );
}

const CONSUMER = `import { initDevice, tensor, scope, Linear, Generator } from 'webgpu-gpt';
import { Module } from 'webgpu-gpt/nn';
import { AdamW } from 'webgpu-gpt/optim';
import { stateDictFromSafetensors, stateDictToSafetensors } from 'webgpu-gpt/io';
import { CharTokenizer, GPT, generate, type GPTConfig } from 'webgpu-gpt/gpt';
import { loadCheckpoint, saveCheckpoint } from 'webgpu-gpt/node';

await initDevice();
const layer: Module = new Linear(2, 1, { rng: new Generator(0) });
const optimizer = new AdamW(layer.parameters(), { lr: 0.1 });
await scope(async () => {
  const loss = (layer as Linear).forward(tensor([[1, 2]])).pow(2).sum();
  loss.backward();
  optimizer.step();
});
layer.loadStateDict(stateDictFromSafetensors(await stateDictToSafetensors(layer)).state);

const tokenizer = CharTokenizer.train('hello world');
const config: GPTConfig = { vocabSize: tokenizer.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: false };
await saveCheckpoint('ckpt', new GPT(config), tokenizer);
const loaded = await loadCheckpoint('ckpt');
const ids: number[] = [];
for await (const id of generate(new GPT(loaded.meta.model), tokenizer.encode('he'), { maxNewTokens: 3, temperature: 0 })) ids.push(id);
console.log('consumer ok', ids.length);
`;

describe('the packed package', () => {
  it('installs offline, type-checks strictly for a consumer, runs, and brings the gpt command', async () => {
    // a copy of the checkout, so that packing (which rebuilds dist/) leaves this one alone
    const src = join(tmp, 'checkout');
    for (const f of ['package.json', 'package-lock.json', 'README.md', 'docs', 'tsconfig.json', 'tsconfig.build.json', 'bin', 'src', 'scripts']) cpSync(join(ROOT, f), join(src, f), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(src, 'node_modules'));
    const [{ stdout: packed }, deps] = await Promise.all([exec('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: src }), dependencyTarballs()]);
    const files = (JSON.parse(packed.slice(packed.indexOf('[\n'))) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const f of ['package.json', 'README.md', 'docs/cli.md', 'bin/gpt.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/launch.js', 'dist/node/index.d.ts', 'web-dist/index.html', 'web-dist/main.js']) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => /^(src|test|bench)\/|\.map$|\.ts$/.test(f) && !f.endsWith('.d.ts') && !f.startsWith('web-dist/'))).toEqual([]);

    const app = join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await exec('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', join(tmp, `${PKG.name}-${PKG.version}.tgz`), ...deps], { cwd: app });

    writeFileSync(join(app, 'consumer.ts'), CONSUMER);
    const compilerOptions = { strict: true, skipLibCheck: false, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', types: [], outDir: 'out' };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
    // the README's examples too, against the installed declarations and exports map (test/readme.test.ts
    // checks them against src/); they use Node's globals (process), so with @types/node
    const readme = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m, i) => {
      writeFileSync(join(app, `readme-${i + 1}.ts`), m[1]!);
      return `readme-${i + 1}.ts`;
    });
    expect(readme.length).toBeGreaterThanOrEqual(5);
    const readmeOptions = { ...compilerOptions, noEmit: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')] };
    writeFileSync(join(app, 'tsconfig.readme.json'), JSON.stringify({ compilerOptions: readmeOptions, files: readme }));
    const typecheck = (project: string) => exec(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(app, project)]).catch((e: { stdout: string }) => e);
    const [tsc, readmeTsc] = await Promise.all([typecheck('tsconfig.json'), typecheck('tsconfig.readme.json')]);
    expect(tsc.stdout).toBe('');
    expect(readmeTsc.stdout).toBe('');
    expect((await exec(process.execPath, ['out/consumer.js'], { cwd: app })).stdout).toBe('consumer ok 3\n');
    // a CommonJS project's require() reaches every entry point (Node >= 20.19 loads an ES module so; earlier ones refuse it, ERR_REQUIRE_ESM)
    if (process.features.require_module) {
      writeFileSync(join(app, 'require.cjs'), "for (const s of ['', '/nn', '/optim', '/io', '/gpt', '/node']) require('webgpu-gpt' + s);\nconsole.log('require ok');\n");
      expect((await exec(process.execPath, ['require.cjs'], { cwd: app })).stdout).toBe('require ok\n');
    }

    const help = await exec('npx', ['--offline', 'gpt', '--help'], { cwd: app });
    expect(help.stdout).toMatch(/^usage: gpt <command>/);
    const doctor = await exec('npx', ['--offline', 'gpt', 'doctor', '--one-line'], { cwd: app });
    expect(doctor.stdout).toMatch(/\S/);
    expect(doctor.stderr).toBe(''); // Dawn's notices hidden

    // the built package tokenizes on worker threads (the TypeScript run as it is has no built worker):
    // the ids of several pieces, in order, are GPT-2's ids of the whole text
    const line = corpusText(40_000);
    const text = line.repeat(Math.ceil((9 * 2 ** 20) / Buffer.byteLength(line))); // more than one 8 MiB piece
    writeFileSync(join(app, 'corpus.txt'), text);
    // the installed command itself (npx, above, finds it; each npx also starts npm)
    const gptBin = (args: string[]) => exec(join(app, 'node_modules/.bin/gpt'), args, { cwd: app });
    const gpt2Files = gpt3EncoderDir()!;
    const prepare = await gptBin(['prepare', '--data', 'corpus.txt', '--tokenizer', 'gpt2', '--tokenizer-file', gpt2Files, '--workers', '2', '--out-dir', 'prepared']);
    expect(prepare.stdout).toContain('tokenized on 2 threads');
    // a text of one piece keeps to one thread: no other starts a tokenizer of its own to sit idle
    writeFileSync(join(app, 'small.txt'), line);
    const small = await gptBin(['prepare', '--data', 'small.txt', '--tokenizer', 'char', '--workers', '2', '--out-dir', 'small']);
    expect(small.stdout).toMatch(/ tokens \(char, vocab \d+\) in [\d.]+ s\n/);
    const ids = (file: string) => {
      const bytes = readFileSync(join(app, 'prepared', 'data', file));
      return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
    };
    const want = (await loadGpt2Tokenizer(gpt2Files)).encodeIds(text);
    const [train, val] = [ids('train.bin'), ids('val.bin')];
    expect(train.length + val.length).toBe(want.length);
    expect(want.every((id, i) => id === (i < train.length ? train[i] : val[i - train.length]))).toBe(true);
    // a BPE vocabulary learnt here, sent to the threads as JSON: the files of one thread, also where every piece is cut mid-line
    writeFileSync(join(app, 'one-line.txt'), text.replaceAll('\n', ' '));
    const prepared: Buffer[][] = [];
    for (const workers of ['1', '2']) {
      const out = `bpe-${workers}`;
      await gptBin(['prepare', '--data', 'one-line.txt', '--tokenizer', 'bpe', '--vocab-size', '300', '--workers', workers, '--out-dir', out]);
      prepared.push(['train.bin', 'val.bin', 'meta.json'].map((f) => readFileSync(join(app, out, 'data', f))));
    }
    expect(prepared[1]!.map((bytes, i) => bytes.equals(prepared[0]![i]!))).toEqual([true, true, true]);
    // its chunks counted on the threads, a piece each, added in order: the merges of BpeTokenizer.train on
    // the whole text, also where the pieces differ (the second piece's words only in it, in upper case)
    const mixed = `${text.slice(0, 6 * 2 ** 20).replace(/[^\n]*$/, '')}${text.slice(0, 4 * 2 ** 20).toUpperCase()}`;
    writeFileSync(join(app, 'mixed.txt'), mixed);
    await gptBin(['prepare', '--data', 'mixed.txt', '--tokenizer', 'bpe', '--vocab-size', '300', '--workers', '2', '--out-dir', 'bpe-mixed']);
    const learnt = JSON.parse(readFileSync(join(app, 'bpe-mixed', 'data', 'meta.json'), 'utf8')).tokenizer;
    expect(learnt).toEqual(BpeTokenizer.train(mixed, 300).toJSON());
  }, 300_000); // builds, packs, installs and type-checks twice: over 2 minutes on a loaded 2-core machine
});
