// Model FLOPs per token (src/gpt/flops.ts), against two references: nanoGPT's estimate_mfu formula
// worked by hand for GPT-2 124M, and the products a real training step dispatches, counted as the
// kernels are launched: 2·M·N·K for every matmul, and for every fused attention launch its
// products over all Tk keys (q·kᵀ and weights·v forward; dv, dp, dq, dk backward: FlashAttention's
// backward less the scores it recomputes), B·NH·Tq·Tk·HS = B·Tq·Tk·C multiply-adds each.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { forwardFlopsPerToken, trainingFlopsPerToken } from '../src/gpt/flops.js';
import { GPT, type GPTConfig } from '../src/gpt/model.js';
import { modelConfig, TRAIN_DEFAULTS, Trainer, type TrainConfig } from '../src/gpt/trainer.js';
import { disposeTrainers, seededValues, setupDevice } from './helpers.js';

/** FLOPs of the products launched since the last take(). */
const launched = vi.hoisted(() => {
  let flops = 0;
  return { add: (n: number) => void (flops += n), take: () => [flops, (flops = 0)][0]! };
});

vi.mock('../src/kernels/wgsl/matmul.js', async (original) => {
  const m = await original<typeof import('../src/kernels/wgsl/matmul.js')>();
  return {
    ...m,
    launchMatmul: (...args: Parameters<typeof m.launchMatmul>) => {
      const { M, N, K, batchShape } = args[3];
      launched.add(2 * batchShape.reduce((a, b) => a * b, 1) * M * N * K);
      return m.launchMatmul(...args);
    },
  };
});

vi.mock('../src/kernels/wgsl/attention.js', async (original) => {
  const m = await original<typeof import('../src/kernels/wgsl/attention.js')>();
  const macs = ({ B, Tq, Tk, C }: { B: number; Tq: number; Tk: number; C: number }) => B * Tq * Tk * C;
  return {
    ...m,
    launchAttention: (...args: Parameters<typeof m.launchAttention>) => {
      launched.add(2 * 2 * macs(args[1]));
      return m.launchAttention(...args);
    },
    launchAttentionBackward: (...args: Parameters<typeof m.launchAttentionBackward>) => {
      launched.add(4 * 2 * macs(args[1]));
      return m.launchAttentionBackward(...args);
    },
  };
});

describe("nanoGPT's estimate_mfu accounting", () => {
  it("GPT-2 124M at train.py's defaults: nanoGPT's 6N + 12·L·H·Q·T, less the LayerNorm gains its N counts", () => {
    const [V, T, L, H, C] = [50304, 1024, 12, 12, 768];
    const Q = C / H;
    // get_num_params() (bias False, wpe excluded): wte; each block's ln_1, c_attn, c_proj, ln_2, c_fc, c_proj; ln_f
    const N = V * C + L * (C + 3 * C * C + C * C + C + 4 * C * C + 4 * C * C) + C;
    expect(N).toBe(123_587_328);
    const nanoGPT = 6 * N + 12 * L * H * Q * T;
    expect(nanoGPT).toBe(854_770_176);
    const gains = L * 2 * C + C; // multiplied by nothing: no FLOPs here
    const cfg: GPTConfig = { vocabSize: V, blockSize: T, nLayer: L, nHead: H, nEmbd: C, dropout: 0, bias: false };
    expect(trainingFlopsPerToken(cfg)).toBe(nanoGPT - 6 * gains);
    expect(Math.abs(trainingFlopsPerToken(cfg) / nanoGPT - 1)).toBeLessThan(2e-4);
    // a forward is a third of it
    expect(forwardFlopsPerToken(cfg)).toBe((nanoGPT - 6 * gains) / 3);
  });
});

describe('against the products a training step launches', () => {
  beforeAll(setupDevice);

  const V = 29;
  const ids = Int32Array.from(seededValues(2000, 7, 0, V), Math.floor);
  const data = { train: ids.slice(0, 1600), val: ids.slice(1600), vocabSize: V };
  const small: TrainConfig = { ...TRAIN_DEFAULTS, nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, batchSize: 3, gradAccum: 2, bias: true };
  const tokens = (cfg: TrainConfig) => cfg.batchSize * cfg.blockSize * cfg.gradAccum;

  /** FLOPs one trainer step launches, after a first step (which may set things up). */
  async function stepFlops(trainer: Trainer): Promise<number> {
    await trainer.trainStep(false);
    launched.take();
    await trainer.trainStep();
    return launched.take();
  }

  const cases: [string, TrainConfig, (cfg: TrainConfig) => GPT | undefined][] = [
    ['dense, biases, 2 micro-batches', small, () => undefined],
    ['shared blocks (--share-layers 2): each layer that runs counts', { ...small, nLayer: 4, shareLayers: 2 }, () => undefined],
    ['pruned heads and MLP widths', small, (cfg) => new GPT({ ...modelConfig(cfg, V), nHeads: [1, 2], mlpWidths: [24, 64] })],
  ];
  for (const [what, cfg, model] of cases) {
    it(what, async () => {
      const trainer = new Trainer(cfg, data, model(cfg));
      try {
        const flops = await stepFlops(trainer);
        expect(flops).toBeGreaterThan(0);
        expect(trainer.flopsPerToken * tokens(cfg)).toBe(flops);
        expect(trainer.flopsPerToken).toBe(trainingFlopsPerToken(trainer.model.config));
      } finally {
        disposeTrainers(trainer);
        trainer.model.dispose();
      }
    });
  }

  it('LoRA: frozen weights take no weight gradient (4 FLOPs a multiply-add), the adapters train; the first block needs no input gradient', async () => {
    const cfg = { ...small, loraRank: 2, loraTargets: 'c_attn,c_fc' };
    const trainer = new Trainer(cfg, data);
    try {
      const flops = await stepFlops(trainer);
      // what the estimate counts and a LoRA step skips: block 0's c_attn input gradient, through its weight and its adapter's A
      const [C, r] = [cfg.nEmbd, cfg.loraRank];
      expect(trainer.flopsPerToken * tokens(cfg) - flops).toBe(2 * (3 * C + r) * C * tokens(cfg));
    } finally {
      disposeTrainers(trainer);
      trainer.model.dispose();
    }
  });

  it("distillation: the teacher's forward on the step's tokens counts too", async () => {
    const teacher = new GPT({ vocabSize: V, blockSize: 16, nLayer: 3, nHead: 4, nEmbd: 24, dropout: 0, bias: false }, { seed: 3 });
    const trainer = new Trainer(small, data, undefined, { teacher, temperature: 2, alpha: 0.5 });
    try {
      const flops = await stepFlops(trainer);
      expect(trainer.flopsPerToken * tokens(small)).toBe(flops);
      // the teacher attends over the student's blockSize, not its own
      expect(trainer.flopsPerToken).toBe(trainingFlopsPerToken(trainer.model.config) + forwardFlopsPerToken(teacher.config, small.blockSize));
    } finally {
      disposeTrainers(trainer);
      trainer.model.dispose();
      teacher.dispose();
    }
  });
});
