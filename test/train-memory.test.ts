// GPU memory over a long run (STYLE.md 9): 200 optimizer steps of the Trainer's own step (forward,
// backward, global-norm clipping, AdamW) on a tiny GPT, in float32 and in mixed precision (float16
// compute, float32 master weights, the loss scaler) where the adapter has float16, each with and
// without recompute (each block run again in the backward), must hold exactly the same live bytes
// and buffers after warm-up, the pool must stop growing, and no new bind groups may be created: a
// leak of one 4-byte scalar per step shows up as a changed count, not as noise to be tolerated.
// 200 steps hold every periodic event of a step: the readback every 50 steps (four after warm-up),
// a submit every few steps (512 dispatches each), the end of the lr warm-up (step 20) and of its
// decay; the float32 run took 1000 before, and a per-step leak fails at the first step past warm-up.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { GPT } from '../src/gpt/model.js';
import { modelConfig, TRAIN_DEFAULTS, Trainer, type TrainConfig } from '../src/gpt/trainer.js';
import { device, zeros } from '../src/index.js';
import { profile } from '../src/kernels/profile.js';
import { disposeTrainers, setupDevice } from './helpers.js';

beforeAll(setupDevice);

const STEPS = 200;
const WARMUP = 3; // the first steps fill the pool and create pipelines
const V = 20;

const cfg: TrainConfig = {
  ...TRAIN_DEFAULTS,
  nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16, batchSize: 4,
  maxIters: STEPS, learningRate: 1e-2, minLr: 1e-3, warmupIters: 20, lrDecayIters: STEPS,
  gradClip: 1.0, // clipping on: its scratch buffers must be returned every step too
};

// A learnable sequence (next token = current + 7 mod V, with a small periodic perturbation), so
// training makes progress and the loss can be checked to fall: the step really ran.
const ids = Int32Array.from({ length: 4000 }, (_, i) => (i * 7 + (i % 3)) % V);
const data = { train: ids.slice(0, 3600), val: ids.slice(3600), vocabSize: V };

const RUNS = [
  { dtype: 'float32', steps: STEPS, recompute: false },
  { dtype: 'float16', steps: STEPS, recompute: false },
  { dtype: 'float32', steps: STEPS, recompute: true },
  { dtype: 'float16', steps: STEPS, recompute: true },
] as const;

describe.each(RUNS)('training memory ($dtype, recompute $recompute)', ({ dtype, steps, recompute }) => {
  it(`live GPU bytes and buffers are flat, and the pool stops growing, over ${steps} steps with AdamW and clipping`, async (ctx) => {
    if (dtype === 'float16' && !profile().f16) ctx.skip(); // the adapter has no shader-f16
    const trainer = new Trainer({ ...cfg, dtype, recompute, maxIters: steps, lrDecayIters: steps }, data);
    const mem = () => device().memory();
    const live: number[] = [];
    const buffers: number[] = [];
    const pooled: number[] = [];
    const bindGroups: number[] = [];
    const losses: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) {
      const read = i % 50 === 49; // as Trainer.run logs: a readback now and then keeps the GPU in step
      const { loss, gradNorm } = await trainer.trainStep(read || i === 0);
      if (read || i === 0) {
        // a mixed-precision step may be skipped (overflowed gradients: the norm is not finite then)
        if (dtype === 'float32') expect(Number.isFinite(gradNorm), `grad norm at step ${i}`).toBe(true);
        losses.push(loss);
      }
      const m = mem();
      live.push(m.liveBytes);
      buffers.push(m.liveBuffers);
      pooled.push(m.pooledBytes);
      bindGroups.push(device().bindGroupStats().created);
    }
    const ms = performance.now() - t0;
    console.log(
      `${dtype}${recompute ? ' recompute' : ''}: ${steps} steps in ${(ms / 1000).toFixed(1)} s (${(ms / steps).toFixed(1)} ms/step); live ${live.at(-1)} B in ${buffers.at(-1)} buffers, ` +
        `pooled ${pooled.at(-1)} B; loss ${losses[0]!.toFixed(3)} -> ${losses.at(-1)!.toFixed(3)}`,
    );
    const after = (xs: number[]) => [...new Set(xs.slice(WARMUP))];
    expect(after(live), 'live bytes after warm-up').toEqual([live[WARMUP]]);
    expect(after(buffers), 'live buffers after warm-up').toEqual([buffers[WARMUP]]);
    expect(Math.max(...pooled.slice(WARMUP)), 'pooled bytes never exceed their post-warm-up level').toBe(pooled[WARMUP]);
    expect(after(pooled), 'pooled bytes after warm-up').toEqual([pooled[WARMUP]]);
    // every step binds the same pooled buffers: no new bind groups (descriptor sets) after warm-up
    expect(after(bindGroups), 'bind groups created after warm-up').toEqual([bindGroups[WARMUP]]);
    expect(losses.at(-1)!, 'the model learned the sequence').toBeLessThan(Math.log(V) - 1);
    disposeTrainers(trainer);
  });
});

describe('a Trainer that throws', () => {
  const small = { ...cfg, maxIters: 10, lrDecayIters: 10, gradAccum: 2 };

  // a throw after the backward (here the optimizer's step, as a lost device would) left the step's
  // gradients on the parameters: live bytes grew, and the next step summed them into its own
  it('leaves no gradients behind, and live bytes as they were', async () => {
    const trainer = new Trainer(small, data);
    await trainer.trainStep();
    const before = device().memory();
    vi.spyOn(trainer.optimizer, 'step').mockImplementationOnce(() => {
      throw new Error('AdamW.step: refused');
    });
    await expect(trainer.trainStep()).rejects.toThrow(/^AdamW.step: refused$/);
    expect(trainer.model.parameters().filter((p) => p.grad).length, 'parameters holding a gradient').toBe(0);
    expect(device().memory().liveBytes).toBe(before.liveBytes);
    expect(device().memory().liveBuffers).toBe(before.liveBuffers);
    disposeTrainers(trainer);
  });

  // the scaler refused its options after the model and the optimizer's moments were allocated:
  // all of them stayed live, held by nothing
  it('refused at construction leaves live bytes as they were', async (ctx) => {
    if (!profile().f16) ctx.skip(); // a loss scaler is for float16 runs
    const before = device().memory();
    expect(() => new Trainer({ ...small, dtype: 'float16' }, data, undefined, undefined, { scaler: { initScale: 2 ** 40 } })).toThrow(/^GradScaler: initScale must be in/);
    const model = new GPT(modelConfig(small, V)); // a model whose parameters AdamW refuses: disposed
    model.dispose();
    expect(() => new Trainer({ ...small, dtype: 'float16' }, data, model)).toThrow(/^AdamW: params\[0\]: tensor float32\[20, 16\] was used after dispose\(\)$/);
    expect(device().memory().liveBytes).toBe(before.liveBytes);
    expect(device().memory().liveBuffers).toBe(before.liveBuffers);
  });

  // moments AdamW refuses, given with no model: the model the Trainer made for them stayed live
  it('refused moments, with no model given, leave live bytes as they were', () => {
    const before = device().memory();
    expect(() => new Trainer(small, data, undefined, undefined, { moments: { m: [], v: [] } })).toThrow(/^AdamW: parameter 0 float32\[\d+, \d+\] got no values$/);
    expect(device().memory().liveBytes).toBe(before.liveBytes);
    expect(device().memory().liveBuffers).toBe(before.liveBuffers);
  });

  // a step that threw while profiled left profiling on for the rest of the process: each later
  // dispatch in a timestamped pass of its own, a readback a submit
  it('while profiled turns profiling off again', async (ctx) => {
    if (!device().info.features.includes('timestamp-query')) ctx.skip();
    const trainer = new Trainer({ ...small, maxIters: 3, evalInterval: 100 }, data);
    // run takes its steps by the private takeStep (trainStep is its guarded public door)
    vi.spyOn(trainer as unknown as { takeStep: () => Promise<unknown> }, 'takeStep').mockImplementationOnce(async () => {
      zeros([4]).dispose(); // a dispatch, as a real step's would be profiled
      throw new Error('step refused');
    });
    await expect(trainer.run({ profileStep: 0, onProfile: () => undefined })).rejects.toThrow(/^step refused$/);
    expect(await device().stopProfiling(), 'what a profiler still running reports').toEqual([]);
    disposeTrainers(trainer);
  });

  // it failed with 'watchNonFinite: tensor int32[2] was used after dispose()' after its backward,
  // and the gradients it had made stayed live
  it('after dispose() is refused up front, naming the trainer', async () => {
    const trainer = new Trainer(small, data);
    trainer.dispose();
    const before = device().memory();
    await expect(trainer.trainStep()).rejects.toThrow(/^Trainer.trainStep: the trainer was disposed/);
    expect(device().memory().liveBytes).toBe(before.liveBytes);
    trainer.model.dispose();
  });
});
