// Continuing nanoGPT's run: its ckpt.pt's AdamW state (exp_avg, exp_avg_sq, step, by its
// configure_optimizers' grouping) and iter_num taken on. The oracle is PyTorch:
// test/fixtures/torch/make_continue_fixture.py trained a tiny nanoGPT 3 AdamW steps, saved it as
// train.py does, then took 3 more steps in float64 on fixed batches (nanogpt-continue.json). Ours
// takes the same 3 steps from the checkpoint in float32: each weight within 1e-6 of torch's,
// relative to the largest of its tensor (measured: 1.1e-7; an Adam step moves a weight by about
// lr, 1e-2 here, and fresh moments, the mutation checked below, land 1e-3 and more away).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { nanoGptCheckpoint, openNanoGptSource } from '../src/gpt/nanogpt.js';
import type { NanoGptOptimizer } from '../src/gpt/nanogpt-optimizer.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { scope, tensor } from '../src/index.js';
import { bytesSource } from '../src/io/safetensors-source.js';
import { AdamW } from '../src/optim/index.js';
import { learningRate } from '../src/optim/schedule.js';
import { setupDevice } from './helpers.js';
import { torchSave, type TorchValue } from './torch-writer.js';

beforeAll(setupDevice);

const FIXTURES = join(import.meta.dirname, 'fixtures/torch');
const CKPT = 'nanogpt-continue-ckpt.pt';
const torchRun: {
  iters: number[];
  lrs: number[];
  batches: { x: number[]; y: number[]; shape: [number, number] }[];
  weights: Record<string, number[]>;
} = JSON.parse(readFileSync(join(FIXTURES, 'nanogpt-continue.json'), 'utf8'));

const open = () => openNanoGptSource(bytesSource(readFileSync(join(FIXTURES, CKPT))), CKPT);

/** Ours from the checkpoint, `steps` more AdamW steps on torch's batches with its moments (or, `fresh`, without): the worst relative error per weight. */
async function continued(fresh: boolean): Promise<number> {
  const file = await open();
  const { ckpt } = nanoGptCheckpoint(file, await file.weights.readTensors(), new CharTokenizer([..."\n !',.:;?abcdehilnot"]), CKPT);
  const state = await file.readOptimizer(ckpt.meta.model.vocabSize);
  const { model } = modelFromCheckpoint(ckpt, { dropout: 0 });
  const named = [...model.namedParameters()];
  const opt = new AdamW(named.map(([, p]) => p), { lr: state.lr, betas: state.betas, eps: state.eps, weightDecay: state.weightDecay });
  if (!fresh) opt.loadMoments(...momentsFor(state, named.map(([name]) => name)));
  for (const [k, { x, y, shape }] of torchRun.batches.entries()) {
    opt.lr = torchRun.lrs[k]!;
    scope(() => model.forward(tensor(Int32Array.from(x), shape), { targets: tensor(Int32Array.from(y), shape) }).loss.backward());
    opt.step();
    opt.zeroGrad();
  }
  let worst = 0;
  for (const [name, p] of named) {
    const ours = (await p.toArray()) as Float32Array;
    const want = torchRun.weights[name]!;
    expect(ours.length, name).toBe(want.length);
    const scale = Math.max(...want.map(Math.abs));
    worst = Math.max(worst, ...want.map((w, i) => Math.abs(ours[i]! - w) / scale));
  }
  opt.dispose();
  model.dispose();
  return worst;
}

const momentsFor = (s: NanoGptOptimizer, names: string[]) => [names.map((n) => s.m.get(n)!), names.map((n) => s.v.get(n)!), names.map((n) => s.steps.get(n)!)] as const;

describe("continuing nanoGPT's run from its ckpt.pt", () => {
  it("reads iter_num, the groups' settings and every parameter's state by configure_optimizers' order", async () => {
    const state = await (await open()).readOptimizer(20);
    expect(state.iterNum).toBe(torchRun.iters[0]);
    expect(state).toMatchObject({ betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
    expect([...state.m.keys()].sort()).toEqual(Object.keys(torchRun.weights).sort());
    expect(new Set(state.steps.values())).toEqual(new Set([3]));
    // the schedule continues where train.py's get_lr left off (the fixture's settings)
    expect(torchRun.iters.map((it) => learningRate(it, { lr: 1e-2, minLr: 1e-3, warmupSteps: 2, decaySteps: 10 }))).toEqual(torchRun.lrs.map((lr) => expect.closeTo(lr, 12)));
  });

  it("takes 3 more steps on torch's batches to torch's weights within 1e-6; fresh moments do not", async () => {
    expect(await continued(false)).toBeLessThan(1e-6);
    expect(await continued(true)).toBeGreaterThan(1e-3);
  });

  it('refuses, in one line, a checkpoint without AdamW state and one whose groups are not nanoGPT\'s', async () => {
    const args = new Map<string, TorchValue>([['n_layer', 1], ['n_head', 1], ['n_embd', 2], ['block_size', 4], ['vocab_size', 3]]);
    const bare = torchSave(new Map<string, TorchValue>([['model', new Map([['transformer.wte.weight', { shape: [3, 2], data: new Float32Array(6) }]])], ['model_args', args], ['iter_num', 7]]));
    await expect((await openNanoGptSource(bytesSource(bare), 'bare.pt')).readOptimizer(3)).rejects.toThrow(/^bare\.pt\['optimizer'\]: no AdamW state \(got no such key\), so the run cannot be continued; only its weights can be taken, from step 0$/);
    // make_fixtures.py's: one group of every parameter (torch.optim.AdamW(params)), not configure_optimizers' two
    const oneGroup = await openNanoGptSource(bytesSource(readFileSync(join(FIXTURES, 'nanogpt-ckpt.pt'))), 'ckpt.pt');
    await expect(oneGroup.readOptimizer(20)).rejects.toThrow(/^ckpt\.pt\['optimizer'\]: expected nanoGPT's 2 param_groups \(dim >= 2 decayed, the rest not\), got a list or tuple of 1$/);
  });
});
