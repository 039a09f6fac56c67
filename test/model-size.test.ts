// A model too large to be, refused from its sizes at once: its parameter count is arithmetic, so a
// million or a billion layers cost what four do, and nothing (a layer, its plan, its LoRA check) is
// made or listed layer by layer first. Where a wrong build would hang synchronously (1e9 layers took
// 4.6 GB in 4 minutes, deaf to SIGTERM), the code runs as a real process with a deadline.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DAWN_NOTICE } from '../src/cli/launch.js';
import { memoryBound } from '../src/device/adapter.js';
import { browserHostMemory } from '../src/device/platform.js';
import { MAX_LAYERS, modelSizeProblem, type GPTConfig } from '../src/gpt/model.js';
import { corpusText, runGpt, runScript, tempDir } from './cli-helpers.js';

const BASE: GPTConfig = { vocabSize: 66, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128, dropout: 0, bias: false };

/** nanoGPT's count, by hand: the embeddings, per block two LayerNorms (weight, and bias), qkv, the attention's and the MLP's projections, the MLP's widening; the final LayerNorm. */
function parametersByHand({ vocabSize: V, blockSize: T, nLayer: L, nEmbd: C, bias }: GPTConfig): number {
  const b = bias ? 1 : 0;
  const block = 2 * (C + b * C) + (3 * C * C + b * 3 * C) + (C * C + b * C) + (4 * C * C + b * 4 * C) + (4 * C * C + b * C);
  return V * C + T * C + L * block + C + b * C;
}

describe('modelSizeProblem', () => {
  const room = (bytes: number) => ({ limits: { maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 2 ** 27 }, memoryBound: { bytes, what: 'the test bound' } });

  it("refuses weights past the adapter's memory in one line with their bytes and count, takes them at the bound", () => {
    for (const cfg of [BASE, { ...BASE, bias: true, nLayer: 12 }, { ...BASE, nLayer: 1000, nEmbd: 8, nHead: 2 }]) {
      const n = parametersByHand(cfg);
      expect(modelSizeProblem(cfg, room(4 * n))).toBeNull();
      const shown = `${((4 * n) / 2 ** 20).toPrecision(3)} MiB (${n.toLocaleString('en-US')} parameters: n-layer ${cfg.nLayer}, n-embd ${cfg.nEmbd}, vocab 66)`;
      expect(modelSizeProblem(cfg, room(4 * n - 1))).toBe(`the model does not fit this adapter: its weights alone take ${shown}, more than ${((4 * n - 1) / 2 ** 20).toPrecision(3)} MiB, the test bound`);
    }
  });

  it('counts a billion layers at once: the same count as by hand', () => {
    const cfg = { ...BASE, nLayer: 1e9 };
    const t0 = performance.now();
    const problem = modelSizeProblem(cfg, room(2 ** 40));
    expect(performance.now() - t0).toBeLessThan(100);
    expect(problem).toContain(`(${parametersByHand(cfg).toLocaleString('en-US')} parameters: n-layer 1000000000, n-embd 128, vocab 66), more than 1.00 TiB`);
  });

  it('refuses a weight of 2^32 values or more (kernels index in u32), and a weight past the largest buffer, before the total', () => {
    expect(modelSizeProblem({ ...BASE, vocabSize: 2 ** 25, nEmbd: 2 ** 7 })).toBe('the model does not fit this adapter: the token embedding (vocab 33554432 x n-embd 128) holds 4,294,967,296 values, past the 4,294,967,295 its kernels index (u32)');
    expect(modelSizeProblem({ ...BASE, vocabSize: 2 ** 25 - 1, nEmbd: 2 ** 7 })).toBeNull();
    expect(modelSizeProblem({ ...BASE, blockSize: 2 ** 23 + 1 }, room(1))).toBe('the model does not fit this adapter: the position embedding (block 8388609 x n-embd 128) takes 4.00 GiB, over its maxBufferSize of 4.00 GiB');
  });

  it(`refuses more than ${MAX_LAYERS} layers however narrow, where the memory would take them`, () => {
    const narrow = { ...BASE, nEmbd: 1, nHead: 1 };
    expect(modelSizeProblem({ ...narrow, nLayer: MAX_LAYERS }, room(2 ** 40))).toBeNull();
    expect(modelSizeProblem({ ...narrow, nLayer: 1e9 }, room(2 ** 40))).toBe(`n-layer 1000000000 is past the ${MAX_LAYERS} layers a GPT may have: each is made, run and checked on its own (GPT-3 has 96)`);
  });
});

it("a CPU adapter's memory is the host's where the platform tells it (a browser: navigator.deviceMemory), else 8 GiB; a GPU's, a bound past any", () => {
  const GiB = 2 ** 30;
  expect(memoryBound({ isFallbackAdapter: true, platform: 'node' }, 8 * GiB)).toEqual({ bytes: 8 * GiB, what: "the host's memory, where this CPU adapter keeps its buffers" });
  expect(memoryBound({ isFallbackAdapter: true, platform: 'browser' }, 16 * GiB)).toEqual({ bytes: 16 * GiB, what: "the host's memory as this browser tells it (navigator.deviceMemory), where this CPU adapter keeps its buffers" });
  // SwiftShader in a browser that does not tell: the bound was a GPU's, 1 TiB, and a 75 GiB model filled the host's memory
  expect(memoryBound({ isFallbackAdapter: true, platform: 'browser' }, null)).toEqual({ bytes: 8 * GiB, what: "a CPU adapter's bound where the browser does not tell the host's memory (navigator.deviceMemory)" });
  expect(memoryBound({ isFallbackAdapter: false, platform: 'browser' }, 8 * GiB).bytes).toBe(2 ** 40);
  expect(memoryBound({ isFallbackAdapter: false, platform: 'node' }, 8 * GiB).bytes).toBe(2 ** 40);
  // the browser's figure: GiB, rounded down (Chromium 156 told 16 on a host of 23.5 GiB); none where it has none
  expect(browserHostMemory({ deviceMemory: 16 })).toBe(16 * GiB);
  expect(browserHostMemory({ deviceMemory: 0.5 })).toBe(GiB / 2);
  for (const deviceMemory of [undefined, 0, -1, NaN, Infinity, '8']) expect(browserHostMemory({ deviceMemory }), String(deviceMemory)).toBeNull();
});

// each case in a process of its own: a hang is its deadline, and names the case
const LIBRARY = `
import { initDevice } from './src/device/device.ts';
import { GPT } from './src/gpt/model.ts';
import { memoryPlan } from './src/gpt/memory-plan.ts';
import { TRAIN_DEFAULTS, Trainer } from './src/gpt/trainer.ts';
import { Session } from './src/web/session.ts';
const base = ${JSON.stringify(BASE)};
const tokens = { train: new Int32Array(1000), val: new Int32Array(1000), vocabSize: 66 };
const cases = {
  gpt: () => new GPT({ ...base, nLayer: 1e9 }),
  lora: () => new GPT({ ...base, nLayer: 1e9, lora: { rank: 4, alpha: 8, dropout: 0, targets: ['c_attn'] } }),
  position: () => new GPT({ ...base, blockSize: 1e9 }),
  plan: () => memoryPlan({ ...base, nLayer: 1e9 }, 1, { training: true, bindingLimit: 2 ** 27 }),
  trainer: () => new Trainer({ ...TRAIN_DEFAULTS, nLayer: 1e9 }, tokens),
  page: () => new Session().newModel('to be, or not to be. '.repeat(50), { nLayer: 1e9, nHead: 4, nEmbd: 128, blockSize: 16 }),
};
await initDevice();
const t0 = performance.now();
let message = '';
try {
  cases[process.argv[2]]();
} catch (e) {
  message = e.message;
}
console.log(JSON.stringify({ ms: performance.now() - t0, message }));
process.exit(0);
`;

describe('the library refuses, in well under a second, before making a layer', () => {
  const weights = (prefix: string) => new RegExp(`^${prefix}: the model does not fit this adapter: its weights alone take [\\d.]+ TiB \\([\\d,]+ parameters: n-layer 1000000000, n-embd 128, vocab 66\\), more than [\\d.]+ [GT]iB, `);
  it.each([
    ['gpt', weights('GPT config')],
    ['lora', weights('GPT config')], // its LoRA rank was checked against every layer's shapes, listed
    ['position', /^GPT config: the model does not fit this adapter: the position embedding \(block 1000000000 x n-embd 128\) takes 477 GiB, over its maxBufferSize of [\d.]+ [MG]iB$/], // was randn's error, naming no setting
    ['plan', /^memoryPlan: n-layer 1000000000 is past the 1000 layers a GPT may have/],
    ['trainer', weights('Trainer')],
    ['page', /^the model does not fit this adapter: its weights alone take [\d.]+ TiB \([\d,]+ parameters: n-layer 1000000000, n-embd 128, vocab 9\), /],
  ])('%s', async (name, message) => {
    const r = await runScript('library', LIBRARY, [name], 30_000);
    expect(r.timedOut, `${name} ran past 30 s`).toBe(false);
    const { ms, message: got } = JSON.parse(r.out) as { ms: number; message: string };
    expect(got).toMatch(message);
    expect(got).not.toContain('\n');
    expect(ms).toBeLessThan(1000);
  });
});

describe('the CLI refuses in one line, at once', () => {
  const dir = tempDir('model-size');
  const corpus = join(dir, 'corpus.txt');
  beforeAll(() => writeFileSync(corpus, corpusText(6000)));
  let runs = 0;
  const train = (...flags: string[]) => ['train', '--data', corpus, ...flags, '--max-iters', '1', '--out-dir', join(dir, `run-${runs++}`)];

  it.each([
    // the memory plan listed a billion layers (4.6 GB in 4 minutes, SIGTERM unanswered)
    ['train --n-layer 1e9', train('--n-layer', '1e9'), 1, /^gpt train: the model does not fit this adapter: its weights alone take [\d.]+ TiB \([\d,]+ parameters: n-layer 1000000000, n-embd 128, vocab \d+\), more than /],
    ['train --n-embd 1e9', train('--n-embd', '1000000000', '--n-head', '1'), 1, /^gpt train: the model does not fit this adapter: the token embedding \(vocab \d+ x n-embd 1000000000\) takes [\d.]+ GiB, over its maxBufferSize of /],
    ['train --block-size 1e9', train('--block-size', '1000000000'), 2, /^gpt train: the train split has \d+ tokens, too few for sequences of --block-size 1000000000/],
    ['bench-generate --n-layer 1e9', ['bench-generate', '--n-layer', '1e9'], 1, /^gpt bench-generate: the model does not fit this adapter: its weights alone take [\d.]+ TiB \([\d,]+ parameters: n-layer 1000000000, /],
    // was randn's error, naming no setting
    ['bench-generate --block-size 1e9', ['bench-generate', '--block-size', '1000000000'], 1, /^gpt bench-generate: the model does not fit this adapter: the position embedding \(block 1000000000 x n-embd 128\) takes 477 GiB, over its maxBufferSize of /],
  ] as const)('gpt %s', async (_, args, code, message) => {
    const r = await runGpt([...args], 30_000); // not through the launcher, whose child a SIGKILL at the deadline would leave running
    expect(r.timedOut, `gpt ${args.join(' ')} ran past 30 s`).toBe(false);
    expect(r.code, r.err).toBe(code);
    const err = r.err.split('\n').filter((line) => !DAWN_NOTICE.test(line)).join('\n').trimEnd(); // as the launcher filters it
    expect(err).toMatch(message);
    expect(err).not.toContain('\n');
  });
});
