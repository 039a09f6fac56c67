// The library's public face: the package's subpath exports match the entry files, every export of
// the library layers has a doc comment, the root and the platform-free subpaths bundle for a
// browser (no `node:` module reached) while webgpu-gpt/node does not, and a state dict goes
// through safetensors bytes (browser and Node) and a file (Node) unchanged.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../scripts/build-web.mjs';
import { CharTokenizer, decodeCheckpoint, device, encodeCheckpoint, Generator, GPT, Linear, modelFromCheckpoint, Module, parseSafetensors, stateDictFromSafetensors, stateDictToSafetensors, tensor, type Tensor } from '../src/index.js';
import { profile } from '../src/kernels/profile.js';
import type { StateDictRead } from '../src/io/index.js';
import { loadStateDict, saveStateDict } from '../src/node/index.js';
import { tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SUBPATHS = ['nn', 'optim', 'io', 'gpt', 'node'];
const PLATFORM_FREE = ['nn', 'optim', 'io', 'gpt'];

describe('the package entry points', () => {
  it('package.json exports the root and one subpath per area, each with its types', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    // 'default', not 'import' only: a CommonJS project's require() (Node >= 20.19 loads ES modules so) finds them too
    const expected: Record<string, unknown> = { '.': { types: './dist/index.d.ts', default: './dist/index.js' }, './package.json': './package.json' };
    for (const area of SUBPATHS) {
      expected[`./${area}`] = { types: `./dist/${area}/index.d.ts`, default: `./dist/${area}/index.js` };
      expect(existsSync(join(ROOT, 'src', area, 'index.ts')), area).toBe(true);
    }
    expect(pkg.exports).toEqual(expected);
  });

  it('every export of the library layers has a doc comment', () => {
    const entries = SUBPATHS.map((area) => join(ROOT, 'src', area, 'index.ts'));
    const program = ts.createProgram(entries, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, types: ['@webgpu/types', 'node'] });
    const checker = program.getTypeChecker();
    const undocumented: string[] = [];
    for (const entry of entries) {
      for (const exported of checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(entry)!)!)) {
        const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
        const file = symbol.declarations?.[0]?.getSourceFile().fileName ?? '';
        // the layers this package adds on the core; the core's own exports (src/tensor, src/ops, ...) are documented there
        if (!/\/src\/(nn|optim|io|gpt|node|plot)\//.test(file)) continue;
        if (!ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim()) undocumented.push(`${exported.name} (${file.replace(ROOT, '')})`);
      }
    }
    expect(undocumented).toEqual([]);
  });

  // the root re-exported all of src/ops/index.ts, the plumbing optim, nn and gpt share with the ops
  // (the fused AdamW update `adamw` beside the AdamW class, OPS, chunkRows, checkSamplingOptions, ...)
  it("the root exports every op of the table (but autocast's castCached), not the ops layer's plumbing nor the CLI's helpers", async () => {
    const root = await import('../src/index.js');
    const { OPS } = await import('../src/ops/index.js');
    expect(Object.keys(OPS).filter((name) => !(name in root))).toEqual(['castCached']);
    const plumbing = ['adamw', 'gradNorm', 'clipLimit', 'gradScalerUpdate', 'scalerFactorRules', 'scalerStateRules', 'MAX_SCALE', 'MIN_SCALE',
      'watchNonFinite', 'maskInPlace', 'castInto', 'quantizeRowsInt8', 'chunkRows', 'windowRows', 'fitsOneLaunch', 'checkDropProbability',
      'checkSamplingOptions', 'MIN_TEMPERATURE', 'MAX_DISTILL_TEMPERATURE', 'OPS', 'UPDATES', 'countTokens', 'checkPenaltyOptions', 'hasPenalties'];
    expect(plumbing.filter((name) => name in root)).toEqual([]);
    // and the gpt and nn subpaths (the root too) leave out the CLI's tokenizing and message helpers, the pruning steps pruneGlobal takes, generation's cache bookkeeping and the checks GPT and Trainer run
    const [gpt, nn] = [await import('../src/gpt/index.js'), await import('../src/nn/index.js')];
    const helpers = ['countChunks', 'gpt2Chunks', 'splitChunks', 'describeLeftOut', 'listUnknown', 'countSpelledSpecial', 'describeSpelledSpecial',
      'isLoRAName', 'isMaskName', 'linearLayers', 'magnitudeMasks', 'maskWeights', 'maskGradients', 'loadMasks',
      'cachedLength', 'keepCacheRows', 'blockConfig', 'shareLayersProblem', 'distillSettingsProblem', 'teacherProblem'];
    expect(helpers.filter((name) => name in root || name in gpt || name in nn)).toEqual([]);
  });

  it('the root and the platform-free subpaths bundle for a browser; webgpu-gpt/node does not', async () => {
    const dir = tempDir('api-bundle');
    const entry = join(dir, 'all.ts');
    const imports = ['index.ts', ...PLATFORM_FREE.map((a) => `${a}/index.ts`)].map((f, i) => `import * as m${i} from ${JSON.stringify(join(ROOT, 'src', f))};`);
    writeFileSync(entry, `${imports.join('\n')}\nconsole.log(${imports.map((_, i) => `m${i}`).join(', ')});\n`);
    const { inputs } = await buildWeb({ outDir: join(dir, 'out'), entry, minify: false, logLevel: 'silent' });
    expect(inputs.filter((f) => f.startsWith('src/node/') || f.startsWith('src/cli/'))).toEqual([]);
    const node = join(dir, 'node.ts');
    writeFileSync(node, `import * as n from ${JSON.stringify(join(ROOT, 'src/node/index.ts'))};\nconsole.log(n);\n`);
    await expect(buildWeb({ outDir: join(dir, 'node-out'), entry: node, logLevel: 'silent' })).rejects.toThrow(/Node-only import 'node:/);
  });
});

describe('state dicts as safetensors', () => {
  beforeAll(setupDevice);

  it('go to bytes and a file and back unchanged', async () => {
    const a = new Linear(3, 4, { rng: new Generator(1) });
    const b = new Linear(3, 4, { rng: new Generator(2) });
    const bytes = await stateDictToSafetensors(a, { note: 'hello' });
    const read: StateDictRead = stateDictFromSafetensors(bytes); // its type is exported (tsc checks this file)
    const { state, metadata } = read;
    expect(metadata).toEqual({ note: 'hello' });
    expect([...state.keys()]).toEqual(['weight', 'bias']);
    b.loadStateDict(state);
    expect(await b.weight.toArray()).toEqual(await a.weight.toArray());

    const file = join(tempDir('api-state'), 'linear.safetensors');
    await saveStateDict(file, a.stateDict());
    const c = new Linear(3, 4, { rng: new Generator(3) });
    c.loadStateDict(await loadStateDict(file));
    expect(await c.weight.toArray()).toEqual(await a.weight.toArray());
    const d = new Linear(4, 3, { rng: new Generator(0) });
    expect(() => d.loadStateDict(state)).toThrow(/'weight' has shape \[4, 3\], the model expects/);
    for (const m of [a, b, c, d]) m.dispose();
  });

  it('float16 parameters go out as F16 and back into float16 parameters; float32 values loaded into them are rounded', async (ctx) => {
    if (!profile().f16) return ctx.skip();
    class Mixed extends Module {
      readonly w = this.param('w', tensor([1.5, -2], [2]));
      readonly h: Tensor;
      constructor(values: number[]) {
        super();
        this.h = this.param('h', tensor(values, [4], 'float16'));
      }
    }
    const a = new Mixed([0.1, 1 + 2 ** -11, 65504, -0]);
    const half = [0.0999755859375, 1, 65504, -0]; // binary16 of those values (1 + 2^-11 a tie, to even)
    const bytes = await stateDictToSafetensors(a);
    const { tensors } = parseSafetensors(bytes);
    expect([tensors.w!.dtype, tensors.h!.dtype]).toEqual(['F32', 'F16']);
    expect(Array.from(tensors.h!.data)).toEqual(half);
    const b = new Mixed([0, 0, 0, 0]);
    b.loadStateDict(stateDictFromSafetensors(bytes).state);
    expect(b.h.dtype).toBe('float16');
    expect(Array.from(await b.h.toArray())).toEqual(half);
    // ties to even (1 + 3 * 2^-11, 2^-25), overflow to Infinity
    b.loadStateDict({ w: { shape: [2], data: new Float32Array([3, 4]) }, h: { shape: [4], data: new Float32Array([1 + 3 * 2 ** -11, 70000, 2 ** -25, 0.1]) } });
    expect(Array.from(await b.h.toArray())).toEqual([1 + 2 ** -9, Infinity, 0, 0.0999755859375]);
    expect(Array.from(await b.w.toArray())).toEqual([3, 4]);
    for (const m of [a, b]) m.dispose();
  });

  it('an int8 layer goes out as I8 (its scales F32) and back into int8 weights unchanged, as bytes and as a file', async () => {
    const weight = Int8Array.from({ length: 12 }, (_, i) => (i * 37) % 255 - 127);
    const scale = Float32Array.from({ length: 4 }, (_, i) => 0.01 * (i + 1));
    const a = new Linear(3, 4, { int8: true, rng: new Generator(1) });
    a.loadStateDict({ weight: { shape: [4, 3], data: weight }, weight_scale: { shape: [4], data: scale }, bias: { shape: [4], data: new Float32Array([1, 2, 3, 4]) } });
    const bytes = await stateDictToSafetensors(a);
    expect(parseSafetensors(bytes).tensors.weight!.dtype).toBe('I8');
    const file = join(tempDir('api-state-int8'), 'int8.safetensors');
    await saveStateDict(file, a);
    for (const state of [stateDictFromSafetensors(bytes).state, await loadStateDict(file)]) {
      const b = new Linear(3, 4, { int8: true, rng: new Generator(1) });
      b.loadStateDict(state);
      expect(await b.weight.toArray()).toEqual(weight);
      expect(await b.weightScale!.toArray()).toEqual(scale);
      b.dispose();
    }
    a.dispose();
  });

  it('a refused state dict says why in one line and leaves every parameter as it was', async () => {
    const a = new Linear(2, 3, { rng: new Generator(1) });
    const b = new Linear(2, 3, { rng: new Generator(2) });
    const before = [Array.from(await a.weight.toArray()), Array.from(await a.bias!.toArray())];
    const bad: [unknown, RegExp][] = [
      // the weight is right; the bias, checked after it, has one value for shape [3]
      [{ weight: { shape: [3, 2], data: new Float32Array(6).fill(7) }, bias: { shape: [3], data: new Float32Array(1) } },
        /^loadStateDict: 'bias' has 1 values for shape \[3\] \(3\)$/],
      // the advice, followed as written, loads (it once lacked '.state': "missing weight, bias; unexpected state, metadata")
      [b.stateDict(), /^loadStateDict: 'weight' must be \{ shape, data \} host values for float32\[3, 2\], got a float32\[3, 2\] tensor \(read it with toArray\(\), or copy a model with stateDictFromSafetensors\(await stateDictToSafetensors\(other\)\)\.state\)$/],
      [stateDictFromSafetensors(await stateDictToSafetensors(b)), /^loadStateDict: argument 'state' is what stateDictFromSafetensors returns \(\{ state, metadata \}\): pass its \.state$/],
      [{ weight: null, bias: null }, /^loadStateDict: 'weight' must be \{ shape, data \} host values for float32\[3, 2\], got null$/],
      [null, /^loadStateDict: argument 'state' must be a Map or an object of \{ shape, data \} by name, got null$/],
      // a string among array values failed in 'tensor' after the weight had been loaded; a shape of
      // strings said "has shape [3, 2], the model expects float32[3, 2]"
      [{ weight: { shape: [3, 2], data: new Float32Array(6).fill(7) }, bias: { shape: [3], data: [1, 'x', 3] } },
        /^loadStateDict: 'bias' must hold numbers, got string 'x' at \[1\]$/],
      [{ weight: { shape: ['3', 2], data: new Float32Array(6) }, bias: { shape: [3], data: new Float32Array(3) } },
        /^loadStateDict: 'weight' must have a shape of integers, got array \['3', 2\]$/],
      // views the checks passed and 'tensor' refused, after the weight had been loaded
      [{ weight: { shape: [3, 2], data: new Float32Array(6).fill(7) }, bias: { shape: [3], data: new BigInt64Array(3) } },
        /^loadStateDict: 'bias' must hold numbers \(a typed array of numbers, or an array\), got .*BigInt64Array.*$/],
      [{ weight: { shape: [3, 2], data: new Float32Array(6).fill(7) }, bias: { shape: [3], data: new DataView(new ArrayBuffer(12)) } },
        /^loadStateDict: 'bias' must hold numbers \(a typed array of numbers, or an array\), got .*DataView.*$/],
    ];
    for (const [state, message] of bad) expect(() => a.loadStateDict(state as never)).toThrow(message);
    expect([Array.from(await a.weight.toArray()), Array.from(await a.bias!.toArray())]).toEqual(before);
    a.loadStateDict(stateDictFromSafetensors(await stateDictToSafetensors(b)).state); // the advice
    expect(Array.from(await a.weight.toArray())).toEqual(Array.from(await b.weight.toArray()));
    a.dispose();
    b.dispose();
  });

  // a JavaScript caller's forgotten await handed these a Promise: they said "First argument to
  // DataView constructor must be an ArrayBuffer", "Cannot read properties of undefined (reading
  // 'model')", or (loadStateDict) "missing weight, bias" as if the state dict had the wrong names
  it('bytes, a checkpoint or a state dict not awaited (or an ArrayBuffer) are refused in one line naming the function', async () => {
    const tokenizer = CharTokenizer.train('ab');
    const model = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 4, dropout: 0, bias: false });
    const bytes = await encodeCheckpoint(model, tokenizer);
    const pending = Promise.resolve(bytes);
    const awaitIt = 'got a Promise \\(missing an await\\?\\)';
    const bad: [() => unknown, RegExp][] = [
      [() => parseSafetensors(pending as never), new RegExp(`^parseSafetensors: argument 'bytes' must be a Uint8Array, ${awaitIt}$`)],
      [() => stateDictFromSafetensors(pending as never), new RegExp(`^stateDictFromSafetensors: argument 'bytes' must be a Uint8Array, ${awaitIt}$`)],
      [() => decodeCheckpoint(pending as never), new RegExp(`^decodeCheckpoint: argument 'bytes' must be a Uint8Array, ${awaitIt}$`)],
      [() => stateDictFromSafetensors(bytes.buffer as never), /^stateDictFromSafetensors: argument 'bytes' must be a Uint8Array, got an object \(ArrayBuffer\); wrap it: new Uint8Array\(buffer\)$/],
      [() => modelFromCheckpoint(Promise.resolve(decodeCheckpoint(bytes)) as never), new RegExp(`^modelFromCheckpoint: argument 'ckpt' must be a checkpoint \\{ meta, weights \\} \\(decodeCheckpoint's or loadCheckpoint's\\), ${awaitIt}$`)],
      [() => modelFromCheckpoint(bytes as never), /^modelFromCheckpoint: argument 'ckpt' must be a checkpoint \{ meta, weights \} \(decodeCheckpoint's or loadCheckpoint's\), got an object \(Uint8Array\)$/],
      [() => model.loadStateDict(Promise.resolve(stateDictFromSafetensors(bytes).state) as never), new RegExp(`^loadStateDict: argument 'state' must be a Map or an object of \\{ shape, data \\} by name, ${awaitIt}$`)],
    ];
    for (const [call, message] of bad) expect(call).toThrow(message);
    model.dispose();
  });

  // a save not awaited, its model disposed: the read failed as 'toArray: tensor float32[3, 2] was used after dispose()'
  it('a model disposed while its state dict is being saved is named by parameter', async () => {
    const a = new Linear(2, 3, { rng: new Generator(1) });
    const saving = stateDictToSafetensors(a);
    a.dispose();
    await expect(saving).rejects.toThrow(/^safetensors: parameter '(weight|bias)' float32\[\d(, 2)?\] was disposed before it was read back \(await the save before disposing the model\)$/);
  });

  // the upload was made, then 'assign' refused the freed target: the upload stayed live
  it('a disposed module refuses a state dict by name, allocating nothing', () => {
    const a = new Linear(2, 3, { rng: new Generator(1) });
    const state = { weight: { shape: [3, 2], data: new Float32Array(6) }, bias: { shape: [3], data: new Float32Array(3) } };
    a.dispose();
    const live = device().memory().liveBytes;
    expect(() => a.loadStateDict(state)).toThrow(/^loadStateDict: 'weight' float32\[3, 2\] was disposed \(Module\.dispose frees every parameter\); load into a module not disposed$/);
    expect(device().memory().liveBytes).toBe(live);
  });
});
