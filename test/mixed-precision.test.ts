// Mixed-precision training (Trainer dtype float16: float16 compute under autocast, float32 master
// weights and AdamW state, dynamic loss scaling on the GPU), on adapters with shader-f16: its losses
// track a float32 run's from the same seed; forced overflows are skipped (counted, the scale shrinks
// and grows back) without a readback of their own; gradients that overflow even at the minimum loss
// scale stop the run at the first step skipped there, before an evaluation hook could run, while
// a scale that gets low but fits goes on, and a loss past float16's range names --dtype float32; a
// resumed run continues with exactly the same losses and loss scale, and a state without a scaler's
// restores a fresh one; a float32 run continuing a float16 one (from its checkpoint, or by
// continueFrom) bias-corrects for the steps taken and hands the scaler's state on; distillation runs in float16 too; an evaluation casts the weights once and
// reads its losses once, with the numbers of a batch-by-batch one; bad settings are refused with
// one line, whatever dtype auto resolves to.
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint, modelFromCheckpoint, restoreOptimizer } from '../src/gpt/checkpoint.js';
import { GPT } from '../src/gpt/model.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { drawBatch } from '../src/gpt/batches.js';
import { evaluateModel } from '../src/gpt/evaluate.js';
import { modelConfig, TRAIN_DEFAULTS, Trainer, trainConfigProblem, TrainingDivergedError, type TrainConfig } from '../src/gpt/trainer.js';
import { noGrad } from '../src/autograd/mode.js';
import { autocast } from '../src/nn/autocast.js';
import { Generator } from '../src/tensor/generator.js';
import { keep, scope } from '../src/tensor/scope.js';
import { adamwStepRef } from '../src/check/reference/optim.js';
import { device } from '../src/device/device.js';
import { castGroupSize } from '../src/kernels/wgsl/cast-group.js';
import { profile, setProfile } from '../src/kernels/profile.js';
import { MIN_SCALE, tensor, type Tensor } from '../src/ops/index.js';
import { charData } from './corpus.js';
import { COLD_COMPILE_MS, disposeTrainers, keptLosses, setupDevice, trainLosses } from './helpers.js';

let data: { train: Int32Array; val: Int32Array; vocabSize: number };
let tokenizer: CharTokenizer;
beforeAll(async () => {
  await setupDevice();
  ({ tokenizer, data } = await charData(60_000));
});

const tiny: TrainConfig = {
  ...TRAIN_DEFAULTS,
  nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 16, batchSize: 8, bias: true,
  maxIters: 200, learningRate: 3e-3, warmupIters: 10, lrDecayIters: 200, evalIters: 4,
};

/** Smaller still, for runs of many skipped steps. */
const small: TrainConfig = { ...tiny, nLayer: 1, nEmbd: 16, batchSize: 4 };

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * A model whose training loss is `factor` times its cross-entropy: the loss stays finite in float32
 * while its gradients are `factor` times larger (e.g. 1e16: beyond float16 at any loss scale >= 2^-24).
 */
function loudModel(cfg: TrainConfig, factor: number): GPT {
  const model = new GPT(modelConfig(cfg, data.vocabSize), { seed: cfg.seed });
  const forward = model.forward.bind(model) as (idx: Tensor, opts?: { targets?: Tensor }) => { logits?: Tensor; loss?: Tensor };
  model.forward = ((idx: Tensor, opts?: { targets?: Tensor }) => {
    const out = forward(idx, opts);
    return out.loss ? { ...out, loss: out.loss.mul(factor) } : out;
  }) as typeof model.forward;
  return model;
}

/** Skips a test on adapters without shader-f16 (mixed precision needs it). */
const needF16 = (ctx: { skip: () => void }) => void (profile().f16 || ctx.skip());


describe('mixed-precision training', () => {
  // the first training steps compile every float32 and float16 training kernel
  it('tracks the float32 run from the same seed over 200 steps', { timeout: COLD_COMPILE_MS }, async (ctx) => {
    needF16(ctx);
    // float32 named: 'auto' (the default) is float16 where products run on tensor cores (an H200)
    const [full, mixed] = [new Trainer({ ...tiny, dtype: 'float32' }, data), new Trainer({ ...tiny, dtype: 'float16' }, data)];
    expect([full.dtype, mixed.dtype]).toEqual(['float32', 'float16']);
    const [a, b] = [await keptLosses(full, 200), await keptLosses(mixed, 200)];
    // float16 rounds each product's inputs to 11 significant bits: the curves part slowly (dropout
    // off, the same batches); over windows of 20 steps they must stay within 0.05 nats, and both learn
    for (let s = 0; s < 200; s += 20) expect(Math.abs(mean(a.slice(s, s + 20)) - mean(b.slice(s, s + 20))), `steps ${s}..${s + 19}`).toBeLessThan(0.05);
    expect(mean(b.slice(-20))).toBeLessThan(mean(b.slice(0, 20)) - 0.5);
    const [ea, eb] = [await full.evaluate(), await mixed.evaluate()];
    expect(Math.abs(ea.val - eb.val)).toBeLessThan(0.05);
    disposeTrainers(full, mixed);
  });

  it('an evaluation casts the weights once and reads the losses once, with the numbers of a batch-by-batch evaluation', async () => {
    const model = new GPT({ ...modelConfig(tiny, data.vocabSize), dropout: 0 });
    const { batchSize: B, blockSize: T } = tiny;
    const seed = 5;
    for (const dtype of profile().f16 ? (['float32', 'float16'] as const) : (['float32'] as const)) {
      // batch by batch: the same batches, each loss read before the next batch, weights cast at every use
      const byBatch = { train: 0, val: 0 };
      for (const split of ['train', 'val'] as const) {
        const rng = new Generator(seed + (split === 'train' ? 2 : 3));
        for (let i = 0; i < 3; i++) {
          const { x, y } = drawBatch(data[split], B, T, rng);
          byBatch[split] += await noGrad(() => scope(() => autocast(dtype, () => model.forward(tensor(x, [B, T]), { targets: tensor(y, [B, T]) }).loss!.item())));
        }
        byBatch[split] /= 3;
      }
      const live = device().memory().liveBytes;
      const [submits, dispatches] = [device().stats.submits, device().stats.dispatches];
      const got = await evaluateModel(model, data, { batchSize: B, blockSize: T, evalIters: 3, seed, dtype });
      expect(got, dtype).toEqual({ ...byBatch, notFinite: null });
      expect(device().memory().liveBytes, 'no GPU memory kept').toBe(live);
      // a batch-by-batch float32 evaluation submits at every read; this one once for each split
      expect(device().stats.submits - submits, dtype).toBeLessThanOrEqual(2);
      if (dtype === 'float16') {
        // the cast weights: one grouped cast for all, not a cast per weight and batch
        const perBatch = Math.ceil((device().stats.dispatches - dispatches) / 6);
        const plain = device().stats.dispatches;
        noGrad(() => scope(() => void autocast('float16', () => model.forward(tensor(new Int32Array(B * T), [B, T]), { targets: tensor(new Int32Array(B * T), [B, T]) }))));
        expect(perBatch, 'dispatches a batch').toBeLessThan(device().stats.dispatches - plain);
      }
    }
    model.dispose();
  });

  it('skips overflowed steps on the GPU: counted, the scale shrinks, and grows back after clean steps', async (ctx) => {
    needF16(ctx);
    const trainer = new Trainer({ ...tiny, dtype: 'float16' }, data, undefined, undefined, { scaler: { initScale: 2 ** 24, growthInterval: 3 } });
    const before = await trainer.model.parameters()[0]!.toArray();
    const first = await trainer.trainStep();
    // 2^24 times a loss gradient overflows float16 (largest finite 65504): nothing may change
    expect(first.skippedSteps).toBe(1);
    expect(first.lossScale).toBe(2 ** 23);
    // still a step of the run: the lr schedule moves on, as nanoGPT's iter_num (and torch's lr_scheduler.step()) does
    expect(trainer.step).toBe(1);
    expect(await trainer.model.parameters()[0]!.toArray()).toEqual(before);
    const logs = [first];
    for (let i = 0; i < 40; i++) logs.push(await trainer.trainStep());
    const skipped = logs.at(-1)!.skippedSteps!;
    expect(skipped).toBeGreaterThan(1);
    // each skip halved the scale; each run of 3 clean steps doubled it
    const low = Math.min(...logs.map((l) => l.lossScale!));
    expect(low).toBeLessThan(2 ** 23);
    expect(logs.at(-1)!.lossScale!).toBeGreaterThan(low);
    expect(logs.filter((l) => Number.isFinite(l.gradNorm)).length).toBe(logs.length - skipped);
    expect(logs.at(-1)!.loss).toBeLessThan(first.loss);
    disposeTrainers(trainer);
  });

  it('gradients that overflow even at the minimum loss scale stop the run at the first step skipped there', async (ctx) => {
    needF16(ctx);
    // health is read only before evaluations here (logInterval past maxIters): the one at step 45
    const cfg: TrainConfig = { ...small, dtype: 'float16', maxIters: 100, evalInterval: 45, logInterval: 1000 };
    const trainer = new Trainer(cfg, data, loudModel(cfg, 1e16));
    const before = await Promise.all(trainer.model.parameters().map((p) => p.toArray()));
    const evals: number[] = [];
    const err = await trainer.run({ onEval: (l) => void evals.push(l.step) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingDivergedError);
    // PyTorch's initial scale 2^16 halves on each skip: steps 1..40 bring it to 2^-24, step 41 is skipped there
    const stuck = Math.log2(2 ** 16 / MIN_SCALE) + 1;
    expect((err as TrainingDivergedError).step).toBe(stuck);
    expect((err as Error).message).toMatch(new RegExp(`^training diverged at step ${stuck}: the gradients overflowed float16 at the minimum loss scale 2\\^-24, so every step would be skipped \\(.*\\); stopped`));
    expect(evals).toEqual([0]); // the evaluation at step 45 (where a checkpoint would be saved) never ran
    expect(trainer.step).toBe(45);
    expect(await trainer.scaler!.state()).toEqual({ scale: MIN_SCALE, cleanSteps: 0, skippedSteps: 45 });
    const after = await Promise.all(trainer.model.parameters().map((p) => p.toArray()));
    expect(after).toEqual(before); // every step was skipped
    disposeTrainers(trainer);
  });

  it('a scale that gets low but fits is no divergence: 1e11 times the gradients train a few halvings above 2^-24', async (ctx) => {
    needF16(ctx);
    const cfg: TrainConfig = { ...small, dtype: 'float16' };
    const trainer = new Trainer(cfg, data, loudModel(cfg, 1e11));
    // read at the first and the last of 50 steps: the health flags stick, so the last read sees
    // a step of any of the 50 flagged at the floor (and throws)
    const logs = [await trainer.trainStep()];
    for (let i = 1; i < 49; i++) await trainer.trainStep(false);
    logs.push(await trainer.trainStep());
    // ~36 skips bring the scale from 2^16 to where the gradients fit float16, above the floor
    const last = logs.at(-1)!;
    expect(last.lossScale!).toBeGreaterThan(MIN_SCALE);
    expect(last.lossScale!).toBeLessThan(2 ** -16);
    expect(last.skippedSteps!).toBeLessThan(50);
    expect(last.loss).toBeLessThan(logs[0]!.loss);
    disposeTrainers(trainer);
  });

  // the message said only "lower --learning-rate or set --grad-clip", neither of which helps a
  // model whose first step is fine in float32 and past float16's range
  it('a loss that float16 cannot hold stops the run with a message naming --dtype float32', async (ctx) => {
    needF16(ctx);
    const losses: Record<string, number | string> = {};
    for (const dtype of ['float32', 'float16'] as const) {
      const model = new GPT(modelConfig(small, data.vocabSize), { seed: small.seed });
      // weights up to ~5e4: their products overflow float16's 65504
      for (const [name, p] of model.namedParameters()) if (name.endsWith('mlp.c_proj.weight')) scope(() => noGrad(() => p.assign(p.mul(2e6))));
      const trainer = new Trainer({ ...small, dtype }, data, model);
      losses[dtype] = await trainer.trainStep().then((r) => r.loss, (e: Error) => e.message);
      trainer.dispose();
      model.dispose();
    }
    expect(Number.isFinite(losses.float32)).toBe(true);
    expect(losses.float16).toMatch(/^training diverged at step 1: the loss is not finite \(lower --learning-rate or set --grad-clip, or train with --dtype float32: float16 overflows past 65504\); stopped/);
  });

  it('a resumed run continues with exactly the same losses and loss scale', async (ctx) => {
    needF16(ctx);
    const cfg = { ...tiny, dtype: 'float16' as const, dropout: 0.1 };
    const opts = { scaler: { initScale: 2 ** 20, growthInterval: 4 } }; // skips and growth within the run
    const straight = new Trainer(cfg, data, undefined, undefined, opts);
    const reference = await keptLosses(straight, 16);
    const first = new Trainer(cfg, data, undefined, undefined, opts);
    await keptLosses(first, 8);
    const bytes = await encodeCheckpoint(first.model, tokenizer, { optimizer: first.optimizer, train: cfg, trainer: await first.state() });
    disposeTrainers(first);
    const ckpt = decodeCheckpoint(bytes);
    expect(ckpt.meta.trainer!.scaler).toBeDefined();
    const { model } = modelFromCheckpoint(ckpt);
    const resumed = new Trainer(ckpt.meta.train!, data, model, undefined, opts);
    restoreOptimizer(ckpt, model, resumed.optimizer);
    resumed.restore(ckpt.meta.trainer!);
    expect(await keptLosses(resumed, 8)).toEqual(reference.slice(8));
    expect(await resumed.scaler!.state()).toEqual(await straight.scaler!.state());
    disposeTrainers(straight, resumed);
  });
});

describe('restoring a float16 trainer', () => {
  // restore() promised a fresh scaler for a state without one (a float32 run's, or one from before
  // mixed precision); it kept the scaler of the steps it had taken, their skips then subtracted
  // from AdamW's count of the restored run's steps
  it("from a state without a scaler's, starts a fresh scaler: the steps after it are a fresh trainer's", async (ctx) => {
    needF16(ctx);
    const opts = { scaler: { initScale: 2 ** 24, growthInterval: 3 } }; // the first steps skip
    const cfg: TrainConfig = { ...small, dtype: 'float16' };
    const fresh = new Trainer(cfg, data, undefined, undefined, opts);
    const state = { ...(await fresh.state()) };
    delete state.scaler;
    const used = new Trainer(cfg, data, new GPT(modelConfig(cfg, data.vocabSize), { seed: cfg.seed }), undefined, opts);
    await trainLosses(used, 4); // skips and clean steps on its scaler
    expect((await used.scaler!.state()).skippedSteps).toBeGreaterThan(0);
    // back to where `fresh` stands: its weights and moments, and the state without a scaler's
    scope(() => used.model.parameters().forEach((p, i) => p.assign(fresh.model.parameters()[i]!)));
    used.optimizer.copyMoments(fresh.optimizer);
    used.restore(state);
    expect(await used.scaler!.state()).toEqual({ scale: 2 ** 24, cleanSteps: 0, skippedSteps: 0 });
    expect(await trainLosses(used, 6)).toEqual(await trainLosses(fresh, 6));
    expect(await used.scaler!.state()).toEqual(await fresh.scaler!.state());
    disposeTrainers(fresh, used);
  });
});

/**
 * Takes one step of a float32 `trainer` and checks it against float64 AdamW whose bias correction
 * counts `taken` steps (this one included): what a run continuing a float16 one must count.
 */
async function expectNextStepCounts(trainer: Trainer, taken: number): Promise<void> {
  const opt = trainer.optimizer;
  const before = await Promise.all(opt.params.map((p) => p.toArray()));
  const { m, v } = await opt.readMoments();
  // the gradients and clipping factor the step is given, kept past the step's scope
  let given: { grads: Tensor[]; clip: Tensor; lr: number } | null = null;
  const step_ = opt.step.bind(opt);
  opt.step = (clip?: Tensor) => {
    given = { grads: opt.params.map((p) => keep(p.grad!.mul(1))), clip: keep(clip!.mul(1)), lr: opt.lr };
    step_(clip);
  };
  try {
    await trainer.trainStep();
  } finally {
    opt.step = step_;
  }
  const { grads, clip, lr } = given!;
  const clipScale = await clip.item();
  for (const [i, p] of opt.params.entries()) {
    const hyper = { lr, beta1: opt.betas[0], beta2: opt.betas[1], eps: opt.eps, weightDecay: p.rank >= 2 ? opt.weightDecay : 0, step: taken };
    const want = adamwStepRef(before[i]!, await grads[i]!.toArray(), m[i]!, v[i]!, clipScale, hyper).p;
    const got = await p.toArray();
    const moved = want.map((w, k) => Math.abs(w - before[i]![k]!));
    const worst = Math.max(...want.map((w, k) => Math.abs(got[k]! - w)));
    expect(worst, `parameter ${i}`).toBeLessThanOrEqual(1e-3 * Math.max(...moved) + 1e-7);
  }
  for (const t of [...grads, clip]) t.dispose();
}

describe('resuming a float16 run in float32', () => {
  it("AdamW's bias correction goes on counting the steps taken, not the ones the loss scaler skipped", async (ctx) => {
    needF16(ctx);
    // 2^24 overflows the first steps: some are skipped
    const half = new Trainer({ ...tiny, dtype: 'float16' }, data, undefined, undefined, { scaler: { initScale: 2 ** 24 } });
    await trainLosses(half, 4);
    const bytes = await encodeCheckpoint(half.model, tokenizer, { optimizer: half.optimizer, train: half.cfg, trainer: await half.state() });
    disposeTrainers(half);
    const ckpt = decodeCheckpoint(bytes);
    const { step, scaler } = ckpt.meta.trainer!;
    expect(scaler!.skippedSteps).toBeGreaterThan(0);
    const { model } = modelFromCheckpoint(ckpt);
    const resumed = new Trainer({ ...ckpt.meta.train!, dtype: 'float32' }, data, model);
    restoreOptimizer(ckpt, model, resumed.optimizer);
    resumed.restore(ckpt.meta.trainer!);
    await expectNextStepCounts(resumed, step - scaler!.skippedSteps + 1);
    const opt = resumed.optimizer;
    // and in its own checkpoints: resumed from one, it goes on as it would have
    const again = decodeCheckpoint(await encodeCheckpoint(model, tokenizer, { optimizer: opt, train: resumed.cfg, trainer: await resumed.state() }));
    const straight = await trainLosses(resumed, 3);
    const { model: model2 } = modelFromCheckpoint(again);
    const resumed2 = new Trainer(again.meta.train!, data, model2);
    restoreOptimizer(again, model2, resumed2.optimizer);
    resumed2.restore(again.meta.trainer!);
    expect(await trainLosses(resumed2, 3)).toEqual(straight);
    disposeTrainers(resumed, resumed2);
  });

  // the page's Session makes a new trainer when the dtype changes and continues the run with
  // continueFrom: the float16 trainer's skipped steps (on its scaler, on the GPU) were lost, so the
  // float32 run's bias correction counted them as taken, and its checkpoints had no scaler to hand on
  it("continueFrom counts the steps taken too, and hands the float16 run's scaler state on to its checkpoints", async (ctx) => {
    needF16(ctx);
    const half = new Trainer({ ...tiny, dtype: 'float16' }, data, undefined, undefined, { scaler: { initScale: 2 ** 24 } });
    await trainLosses(half, 4);
    const scaler = await half.scaler!.state();
    expect(scaler.skippedSteps).toBeGreaterThan(0);
    const moved = new Trainer({ ...tiny, dtype: 'float32' }, data, half.model);
    moved.continueFrom(half);
    half.dispose(); // as the page's Session does: the old trainer's scaler goes with it
    // and back to float16 before the float32 trainer has read the state: the scaler goes on from it
    const back = new Trainer({ ...tiny, dtype: 'float16' }, data, half.model);
    back.continueFrom(moved);
    // and on to float32 again before that one has taken it
    const again = new Trainer({ ...tiny, dtype: 'float32' }, data, half.model);
    again.continueFrom(back);
    expect((await again.state()).scaler).toEqual(scaler);
    expect((await back.state()).scaler).toEqual(scaler);
    for (const t of [back, again]) t.dispose();
    await expectNextStepCounts(moved, half.step - scaler.skippedSteps + 1);
    expect((await moved.state()).scaler).toEqual(scaler);
    disposeTrainers(moved);
  });
});

describe('casting the weights once a step', () => {
  it('gradAccum 4, shared layers: far fewer dispatches, and bit for bit the losses and weights of a cast at every use', async (ctx) => {
    needF16(ctx);
    const cfg = { ...tiny, dtype: 'float16' as const, batchSize: 2, gradAccum: 4, shareLayers: 2, dropout: 0.1 };
    const runs: { dispatches: number; losses: number[]; weights: ArrayLike<number>[] }[] = [];
    for (const castCache of [false, true]) {
      const trainer = new Trainer(cfg, data, undefined, undefined, { castCache });
      const losses = await trainLosses(trainer, 2); // the first step compiles what the second runs
      const before = device().stats.dispatches;
      await trainer.trainStep(false);
      const dispatches = device().stats.dispatches - before;
      losses.push(...(await trainLosses(trainer, 2)));
      runs.push({ dispatches, losses, weights: await Promise.all(trainer.model.parameters().map((p) => p.toArray())) });
      disposeTrainers(trainer);
    }
    const [perUse, once] = runs as [(typeof runs)[0], (typeof runs)[0]];
    expect(once.losses).toEqual(perUse.losses);
    once.weights.forEach((w, i) => expect(w, `weight ${i}`).toEqual(perUse.weights[i]));
    // the forward alone cast U weights a micro-batch: the shared block's P - 4 weights (all but wte,
    // wpe and ln_f's two) in each of its nLayer runs, wte (the LM head) and ln_f's two; the cache casts
    // all P at once, castGroupSize() a dispatch; the backward's grouped casts and adds come on top
    const P = once.weights.length;
    const U = cfg.nLayer * (P - 4) + 3;
    console.log(`dispatches per step, gradAccum 4: ${perUse.dispatches} casting at every use, ${once.dispatches} casting once (${U} weight uses a micro-batch, ${P} weights)`);
    expect(perUse.dispatches - once.dispatches).toBeGreaterThan(cfg.gradAccum * U - Math.ceil(P / castGroupSize()));
  });
});

describe('mixed-precision distillation', () => {
  it('trains a student in float16 on a float16 teacher: its loss tracks the float32 run', async (ctx) => {
    needF16(ctx);
    const teacher = new GPT({ vocabSize: data.vocabSize, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32, dropout: 0, bias: false }, { seed: 3 });
    const distill = { teacher, temperature: 2, alpha: 0.5 };
    const cfg = { ...tiny, nLayer: 1, maxIters: 20 };
    const [full, mixed] = [new Trainer({ ...cfg, dtype: 'float32' }, data, undefined, distill), new Trainer({ ...cfg, dtype: 'float16' }, data, undefined, distill)];
    const [a, b] = [await trainLosses(full, 20), await trainLosses(mixed, 20)];
    expect(Math.abs(mean(a) - mean(b))).toBeLessThan(0.05);
    expect(b.at(-1)!).toBeLessThan(b[0]!);
    disposeTrainers(full, mixed);
    teacher.dispose();
  });
});

describe('training dtype settings', () => {
  it("refuses an unknown dtype with one line; auto resolves to the profile's choice", () => {
    expect(trainConfigProblem({ ...tiny, dtype: 'bfloat16' }, (k) => k)).toBe('dtype must be one of auto, float32, float16, got "bfloat16"');
    const trainer = new Trainer(tiny, data);
    expect(trainer.dtype).toBe(profile().trainingDtype);
    disposeTrainers(trainer);
  });

  it('float16 without shader-f16 is a one-line error naming the trainer; auto falls back to float32', () => {
    setProfile({ f16: false });
    try {
      expect(() => new Trainer({ ...tiny, dtype: 'float16' }, data)).toThrow(/^Trainer \(dtype float16\): float16 tensors need WebGPU's shader-f16 feature, and .*; use float32$/);
      expect(profile().trainingDtype).toBe('float32');
    } finally {
      setProfile(null);
    }
  });

  // they were checked only where the run made a scaler: a config that ran with dtype auto on an
  // adapter without tensor cores (float32) was refused on one with them (float16)
  it("the scaler's options are checked whatever the dtype resolves to: the same config runs or fails on every adapter", () => {
    const bad = { scaler: { initScale: 2 ** 30 } };
    for (const trainingDtype of ['float32', 'float16'] as const) {
      setProfile({ trainingDtype });
      try {
        for (const dtype of ['auto', 'float32'] as const) {
          expect(() => new Trainer({ ...tiny, dtype }, data, undefined, undefined, bad), `${dtype} on a ${trainingDtype} adapter`).toThrow(/^GradScaler: initScale must be in \[2\^-24, 2\^24\], got 1073741824$/);
        }
        expect(() => new Trainer({ ...tiny, dtype: 'float32' }, data, undefined, undefined, { scaler: { init_scale: 8 } as never })).toThrow(/^GradScaler: unknown option 'init_scale'/);
      } finally {
        setProfile(null);
      }
    }
  });
});
