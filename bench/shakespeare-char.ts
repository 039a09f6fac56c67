// nanoGPT parity: the Shakespeare-char CPU configuration (n_layer 4, n_head 4, n_embd 128,
// block 64, batch 12, 2000 iters, ...) on ../shared/data/tinyshakespeare.txt. nanoGPT reports a
// val loss of 1.88 for it. Prints progress, the final val loss, wall time and tokens/s, and
// writes bench/results/shakespeare-char.json (-float16 with --dtype float16). Usage: npm run bench:parity [-- --max-iters N --seed S --dtype D]
// With --gpu-recipe, nanoGPT's GPU configuration instead (n_layer 6, n_head 6, n_embd 384, block
// 256, batch 64, dropout 0.2, 5000 iters, eval every 250 over 200 batches; nanoGPT: best val 1.4697),
// reporting the best val loss, when it first reached 1.48 and the wall time to there
// (bench/results/shakespeare-char-gpu.json); --dtype defaults to auto (the adapter's faster dtype).
// The JSON is written at every evaluation ("complete": false until the end), so a run cut short by
// a time limit keeps its evaluations so far.
// The eval_iters-20 estimate (12 x 20 random blocks) is noisy; the final model's loss over the
// whole val split (every position once, in 64-token windows) is reported beside it. The run's
// log goes to bench/results/shakespeare-char.log.jsonl, for `npx gpt plot`.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { initDevice } from '../src/device/device.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { TRAIN_DEFAULTS, trainConfigProblem, Trainer, type TrainConfig } from '../src/gpt/trainer.js';
import { noGrad, scope, tensor } from '../src/index.js';
import { autocast } from '../src/nn/autocast.js';
import { RunLog } from '../src/node/run-log.js';
import { adapterName, engineCommit } from './provenance.js';

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const flag = (name: string) => (option(name) === undefined ? undefined : Number(option(name)));
const gpuRecipe = args.includes('--gpu-recipe');
/** nanoGPT's config/train_shakespeare_char.py as written (for GPUs). */
const GPU_RECIPE = {
  nLayer: 6, nHead: 6, nEmbd: 384, blockSize: 256, batchSize: 64, dropout: 0.2, learningRate: 1e-3,
  maxIters: 5000, warmupIters: 100, lrDecayIters: 5000, minLr: 1e-4, beta2: 0.99, evalInterval: 250, evalIters: 200,
};
const TARGET_VAL = 1.48;
const base = gpuRecipe ? { ...TRAIN_DEFAULTS, ...GPU_RECIPE } : TRAIN_DEFAULTS;
const dtype = (option('--dtype') ?? 'auto') as TrainConfig['dtype'];
const cfg: TrainConfig = { ...base, maxIters: flag('--max-iters') ?? base.maxIters, seed: flag('--seed') ?? base.seed, dtype };
// paths are relative to the repository root (npm scripts run there; this file runs bundled elsewhere)
const corpusPath = '../shared/data/tinyshakespeare.txt';
const text = readFileSync(corpusPath, 'utf8');
const tok = CharTokenizer.train(text);
const ids = Int32Array.from(tok.encode(text));
const n = Math.floor(ids.length * 0.9);
const dev = await initDevice();
console.log(`adapter: ${adapterName(dev.info)} (${dev.info.backend}); vocab ${tok.vocabSize}, train ${n}, val ${ids.length - n}`);

const problem = trainConfigProblem(cfg, (k) => `--${k}`);
if (problem) throw new Error(`bench:parity: ${problem}`);
const results = `bench/results/shakespeare-char${gpuRecipe ? '-gpu' : ''}${dtype === 'float16' ? '-float16' : ''}${cfg.seed === TRAIN_DEFAULTS.seed ? '' : `-seed${cfg.seed}`}`;
const log = await RunLog.open(`${results}.log.jsonl`, randomUUID());
const trainer = new Trainer(cfg, { train: ids.slice(0, n), val: ids.slice(n), vocabSize: tok.vocabSize });
console.log(`model: ${(trainer.model.numParams() / 1e6).toFixed(2)}M parameters, dtype ${trainer.dtype}${cfg.dtype === 'auto' ? ' (auto)' : ''}`);
const t0 = performance.now();
let lastVal = NaN;
let best = { val: Infinity, step: -1 };
let reached = null as { step: number; seconds: number } | null; // first eval at or below TARGET_VAL
const evals: { step: number; train: number; val: number; seconds: number }[] = [];
const commit = engineCommit();
/** Writes the result so far; `fullVal` is null until the run is done. Returns the training tokens per wall second (evaluations included). */
function save(fullVal: number | null, seconds = (performance.now() - t0) / 1000): number {
  const tokensPerSec = (trainer.step * cfg.batchSize * cfg.blockSize) / seconds;
  const result = {
    benchmark: `nanoGPT shakespeare-char (${gpuRecipe ? 'GPU recipe' : 'CPU config'})`,
    complete: fullVal !== null,
    steps: trainer.step,
    adapter: adapterName(dev.info),
    backend: dev.info.backend,
    commit,
    config: cfg,
    dtype: trainer.dtype,
    finalValLoss: lastVal,
    bestVal: best,
    firstAtTarget: reached && { target: TARGET_VAL, ...reached },
    fullValLoss: fullVal,
    wallSeconds: seconds,
    tokensPerSec,
    evals,
    date: new Date().toISOString(),
  };
  writeFileSync(`${results}.json`, JSON.stringify(result, null, 2) + '\n');
  return tokensPerSec;
}
save(null); // the adapter, config and dtype, before a first evaluation that a time limit may cut
await trainer.run({
  onLog: async (l) => {
    await log.step(l);
    console.log(`step ${l.step}: loss ${l.loss.toFixed(4)}, ${l.ms.toFixed(0)} ms/step, ${Math.round(l.tokensPerSec)} tok/s`);
  },
  onEval: async (l) => {
    await log.eval(l);
    lastVal = l.val!;
    const seconds = (performance.now() - t0) / 1000;
    evals.push({ step: l.step, train: l.train!, val: l.val!, seconds });
    if (l.val! < best.val) best = { val: l.val!, step: l.step };
    if (!reached && l.val! <= TARGET_VAL) reached = { step: l.step, seconds };
    console.log(`step ${l.step}: train ${l.train!.toFixed(4)}, val ${l.val!.toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    save(null);
  },
});
const seconds = (performance.now() - t0) / 1000;

/** Mean loss over the whole val split: consecutive non-overlapping windows of blockSize tokens. */
async function fullValLoss(val: Int32Array): Promise<number> {
  const T = cfg.blockSize;
  const windows = Math.floor((val.length - 1) / T);
  const B = 64;
  let total = 0;
  trainer.model.eval();
  for (let w0 = 0; w0 < windows; w0 += B) {
    const rows = Math.min(B, windows - w0);
    const x = val.slice(w0 * T, (w0 + rows) * T);
    const y = val.slice(w0 * T + 1, (w0 + rows) * T + 1);
    const loss = () => trainer.model.forward(tensor(x, [rows, T]), { targets: tensor(y, [rows, T]) }).loss!.item();
    total += rows * (await noGrad(() => scope(() => autocast(trainer.dtype, loss))));
  }
  return total / windows;
}
const fullVal = await fullValLoss(ids.slice(n));
const tokensPerSec = save(fullVal, seconds);
console.log(`final val loss ${lastVal.toFixed(4)} (nanoGPT: ${gpuRecipe ? '1.4697' : '1.88'}; whole val split: ${fullVal.toFixed(4)}), ${seconds.toFixed(0)} s wall, ${tokensPerSec.toFixed(0)} tokens/s`);
if (gpuRecipe) console.log(`best val ${best.val.toFixed(4)} at step ${best.step}; ${reached ? `first <= ${TARGET_VAL} at step ${reached.step}, ${reached.seconds.toFixed(0)} s` : `never <= ${TARGET_VAL}`}`);
