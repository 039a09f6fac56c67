// GPU-sized training steps, ours only: nanoGPT's Shakespeare-char GPU recipe (L6 NH6 C384 T256 B64,
// dropout 0.2, as bench:parity --gpu-recipe runs it) and a GPT-2-small-shaped transformer (L12 NH12
// C768 T1024 B8, no dropout), both with the 65-character vocabulary, in ms/step and tokens/s, plus
// the GPU time per kernel of one more step (timestamp queries; every dispatch in a pass of its own,
// so that step's wall time is given beside it) to show where a step goes; each in float32 and, where the adapter has shader-f16, in
// mixed precision (Trainer dtype float16). Skipped on CPU adapters unless asked for with
// `--only train-gpu` (a step takes minutes there).
import { device } from '../../src/device/device.js';
import { profile } from '../../src/kernels/profile.js';
import { TRAIN_DEFAULTS, Trainer, type TrainConfig } from '../../src/gpt/trainer.js';
import { Generator } from '../../src/tensor/generator.js';
import { na, peersNa, time, type Context, type Row } from '../harness.js';

const CONFIGS: { name: string; cfg: Partial<TrainConfig> }[] = [
  { name: 'L6 NH6 C384 T256 B64 dropout 0.2', cfg: { nLayer: 6, nHead: 6, nEmbd: 384, blockSize: 256, batchSize: 64, dropout: 0.2 } },
  { name: 'L12 NH12 C768 T1024 B8', cfg: { nLayer: 12, nHead: 12, nEmbd: 768, blockSize: 1024, batchSize: 8 } },
];
const V = 65;
const TOP_KERNELS = 8;

export async function trainGpuSuite(ctx: Context, asked: boolean): Promise<Row[]> {
  const skip = device().info.isFallbackAdapter && !asked;
  const rows: Row[] = [];
  const dtypes = profile().f16 ? (['float32', 'float16'] as const) : (['float32'] as const);
  const runs = CONFIGS.flatMap((c) => dtypes.map((dtype) => ({ ...c, dtype })));
  for (const { name, cfg: shape, dtype } of runs) {
    const cfg: TrainConfig = { ...TRAIN_DEFAULTS, ...shape, warmupIters: 0, dtype };
    const label = `GPU config ${name} V${V} fwd+bwd+clip+AdamW ${dtype}`;
    if (skip) {
      rows.push({ family: 'train step', name: label, unit: 'ms/step', cells: { ours: na('CPU adapter: --only train-gpu runs it'), ...peersNa('ours only') } });
      continue;
    }
    const rng = new Generator(3);
    const ids = Int32Array.from({ length: 4 * cfg.blockSize * cfg.batchSize + 1000 }, () => rng.nextInt(V));
    const n = Math.floor(ids.length * 0.9);
    const trainer = new Trainer(cfg, { train: ids.slice(0, n), val: ids.slice(n), vocabSize: V });
    ctx.log(`train step ${label} (${(trainer.model.numParams() / 1e6).toFixed(1)}M parameters, random tokens)`);
    const timing = { ...ctx.timing, targetMs: 0, maxIters: 1, samples: ctx.smoke ? 1 : Math.max(ctx.timing.samples, 10) };
    const t = await time({ iteration: () => trainer.trainStep(true), finish: async () => {} }, timing);
    const tokens = cfg.batchSize * cfg.blockSize;
    rows.push({
      family: 'train step',
      name: label,
      unit: 'ms/step',
      work: tokens,
      tolerance: 'not compared (ours only); a non-finite loss fails the step',
      cells: { ours: { ms: t.ms, samplesMs: t.samplesMs, itersPerSample: 1 }, ...peersNa('ours only') },
    });
    ctx.log(`  ours: ${t.ms.toFixed(1)} ms/step (${Math.round((tokens * 1000) / t.ms)} tok/s)`);
    if (device().info.features.includes('timestamp-query')) {
      device().startProfiling();
      const start = performance.now();
      await trainer.trainStep(true);
      const wall = performance.now() - start;
      const kernels = await device().stopProfiling();
      const total = kernels.reduce((s, k) => s + k.ms, 0);
      const top = kernels.slice(0, TOP_KERNELS).map((k) => `${k.name} ${((100 * k.ms) / total).toFixed(0)}%`).join(', ');
      const text = `${total.toFixed(1)} ms of kernels in a ${wall.toFixed(1)} ms profiled step: ${top}`;
      ctx.log(`  profiled step: ${text}`);
      rows.push({ family: 'train step', name: `${name} ${dtype}: GPU time per step (kernels)`, unit: 'info', cells: { ours: { text }, ...peersNa('ours only') } });
    }
    trainer.dispose();
    trainer.model.dispose();
  }
  return rows;
}
