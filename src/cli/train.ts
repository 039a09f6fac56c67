// `gpt train`: train from scratch, resume a run, or fine-tune a checkpoint on a new corpus.
import { appendFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { initDevice } from '../device/device.js';
import { encodeCheckpoint, modelFromCheckpoint, restoreOptimizer, type Checkpoint } from '../gpt/checkpoint.js';
import { TRAIN_DEFAULTS, Trainer, type StepLog, type TrainConfig } from '../gpt/trainer.js';
import type { GPT } from '../gpt/model.js';
import { tokenizerFromJSON } from '../gpt/tokenizer/index.js';
import { loadCheckpoint, saveCheckpointDir } from './checkpoint-store.js';
import { BUILTIN_CORPUS, loadCorpus } from './corpus.js';
import { buildDataset, loadDataset, type Dataset } from './data.js';
import { flagHelp, parseFlags, UsageError } from './flags.js';
import { Progress, formatSeconds } from './progress.js';
import { readConfigFile } from './config-file.js';
import type { KernelTime } from '../device/profiler.js';

const CLI_DEFAULTS = {
  data: '',
  dataDir: '',
  outDir: 'out',
  config: '',
  initFrom: 'scratch',
  tokenizer: 'char',
  vocabSize: 512,
  alwaysSave: false,
  profile: false,
};

const DOCS: Record<string, string> = {
  data: `text file or URL to train on (default: <out-dir>/data if prepared, else ${BUILTIN_CORPUS})`,
  dataDir: 'directory written by `gpt prepare`',
  initFrom: "'scratch', 'resume' (continue <out-dir>), or a checkpoint dir/file to fine-tune",
  config: 'JSON file of flag values (camelCase or kebab-case keys)',
  tokenizer: 'char or bpe, when tokenizing --data',
  vocabSize: 'BPE vocabulary size',
  alwaysSave: 'save at every evaluation, not only when val loss improves',
  profile: 'print GPU time per kernel for one training step (timestamp queries)',
};

export const TRAIN_HELP = `usage: gpt train [flags]
Trains a GPT (defaults: nanoGPT's Shakespeare-char CPU configuration).
${flagHelp({ ...CLI_DEFAULTS, ...TRAIN_DEFAULTS }, DOCS)}`;

export async function resolveFlags(args: string[]) {
  const defaults = { ...CLI_DEFAULTS, ...TRAIN_DEFAULTS };
  const first = parseFlags(args, defaults);
  if (first.positional.length) throw new UsageError(`unexpected argument '${first.positional[0]}'`);
  if (!first.values.config) return first;
  // config file values sit between the defaults and the flags given on the command line
  const fromFile = await readConfigFile(first.values.config, defaults);
  const merged = { ...defaults, ...fromFile };
  const second = parseFlags(args, merged);
  return { ...second, given: new Set([...Object.keys(fromFile), ...second.given]) };
}

async function dataset(flags: typeof CLI_DEFAULTS, ckpt: Checkpoint | null, note: (s: string) => void): Promise<Dataset> {
  const existing = ckpt ? tokenizerFromJSON(ckpt.meta.tokenizer) : undefined;
  const prepared = flags.dataDir || (!flags.data && existsSync(join(flags.outDir, 'data', 'meta.json')) ? join(flags.outDir, 'data') : '');
  if (prepared) {
    note(`data: ${prepared}`);
    const ds = await loadDataset(prepared);
    if (existing && JSON.stringify(existing.toJSON()) !== JSON.stringify(ds.tokenizer.toJSON())) {
      throw new Error(`the data in ${prepared} was tokenized differently from the checkpoint; pass --data FILE to re-tokenize`);
    }
    return ds;
  }
  const source = flags.data || BUILTIN_CORPUS;
  note(`data: ${source}`);
  const text = await loadCorpus(source);
  return buildDataset(text, { tokenizer: flags.tokenizer, vocabSize: flags.vocabSize, existing });
}

export async function train(args: string[]): Promise<number> {
  const { values, given } = await resolveFlags(args);
  const flags: typeof CLI_DEFAULTS = { ...CLI_DEFAULTS, ...pick(values, Object.keys(CLI_DEFAULTS)) };
  let cfg: TrainConfig = { ...TRAIN_DEFAULTS, ...pick(values, Object.keys(TRAIN_DEFAULTS)) };
  const dev = await initDevice();
  console.log(`device: ${dev.info.description || dev.info.vendor} (${dev.info.backend})`);

  const resume = flags.initFrom === 'resume';
  const ckpt = flags.initFrom === 'scratch' ? null : await loadCheckpoint(resume ? flags.outDir : flags.initFrom);
  if (resume) {
    if (!ckpt!.meta.train || !ckpt!.meta.trainer) throw new Error(`${flags.outDir}: checkpoint has no training state to resume`);
    // the run's own settings, except what this command line overrides explicitly
    cfg = { ...ckpt!.meta.train, ...pick(values, [...given].filter((k) => k in TRAIN_DEFAULTS)) };
  }
  const ds = await dataset(flags, ckpt, (s) => console.log(s));
  console.log(`tokens: train ${ds.train.length.toLocaleString('en-US')}, val ${ds.val.length.toLocaleString('en-US')}, vocab ${ds.tokenizer.vocabSize}`);

  let model: GPT | undefined;
  if (ckpt) {
    model = modelFromCheckpoint(ckpt, { dropout: cfg.dropout }).model;
    Object.assign(cfg, pick(model.config as unknown as Record<string, unknown>, ['blockSize', 'nLayer', 'nHead', 'nEmbd', 'bias']));
    if (model.config.vocabSize !== ds.tokenizer.vocabSize) throw new Error(`checkpoint vocab ${model.config.vocabSize} != data vocab ${ds.tokenizer.vocabSize}`);
  }
  const trainer = new Trainer(cfg, { train: ds.train, val: ds.val, vocabSize: ds.tokenizer.vocabSize }, model);
  let bestVal = Infinity;
  if (resume) {
    restoreOptimizer(ckpt!, trainer.model, trainer.optimizer);
    trainer.restore(ckpt!.meta.trainer!);
    bestVal = ckpt!.meta.bestVal ?? Infinity;
    console.log(`resuming at step ${trainer.step}`);
  } else if (ckpt) console.log(`fine-tuning from ${flags.initFrom}`);
  console.log(`model: ${(trainer.model.numParams() / 1e6).toFixed(2)}M parameters (excluding position embeddings)`);

  await mkdir(flags.outDir, { recursive: true });
  const logFile = join(flags.outDir, 'log.jsonl');
  const progress = new Progress(cfg.maxIters, trainer.step);
  const t0 = performance.now();
  const save = async (val: number) => {
    const bytes = await encodeCheckpoint(trainer.model, ds.tokenizer, { optimizer: trainer.optimizer, train: cfg, trainer: trainer.state(), bestVal: val });
    await saveCheckpointDir(flags.outDir, bytes, { step: trainer.step, val, model: trainer.model.config });
    progress.log(`saved checkpoint to ${flags.outDir} (step ${trainer.step}, val ${val.toFixed(4)})`);
  };
  await trainer.run({
    profileStep: trainer.step + 2, // past the first steps' shader compilation
    onProfile: flags.profile ? (kernels) => progress.log(profileTable(kernels)) : undefined,
    onLog: async (l: StepLog) => {
      await appendFile(logFile, JSON.stringify({ type: 'train', ...l }) + '\n');
      const line = `step ${l.step}: loss ${l.loss.toFixed(4)}, lr ${l.lr.toExponential(2)}, ${l.ms.toFixed(0)} ms/step, ${Math.round(l.tokensPerSec)} tok/s`;
      if (process.stdout.isTTY) progress.update(l.step, `loss ${l.loss.toFixed(4)} ${l.ms.toFixed(0)}ms/step`);
      else progress.log(`${line}, eta ${progress.eta(l.step)}`);
    },
    onEval: async (l: StepLog) => {
      await appendFile(logFile, JSON.stringify({ type: 'eval', step: l.step, train: l.train, val: l.val }) + '\n');
      progress.log(`step ${l.step}: train loss ${l.train!.toFixed(4)}, val loss ${l.val!.toFixed(4)}`);
      if (l.step > 0 && (l.val! < bestVal || flags.alwaysSave)) {
        bestVal = Math.min(bestVal, l.val!);
        await save(l.val!);
      }
    },
  });
  progress.done();
  console.log(`done: ${trainer.step} steps in ${formatSeconds((performance.now() - t0) / 1000)}, best val loss ${bestVal.toFixed(4)}`);
  trainer.optimizer.dispose();
  trainer.model.dispose();
  return 0;
}

function pick<T extends Record<string, unknown>>(o: T, keys: string[]): Partial<T> {
  return Object.fromEntries(keys.filter((k) => k in o).map((k) => [k, o[k]])) as Partial<T>;
}

function profileTable(kernels: KernelTime[]): string {
  const total = kernels.reduce((a, k) => a + k.ms, 0);
  const rows = kernels.map((k) => `  ${k.name.padEnd(28)} ${String(k.calls).padStart(6)} ${k.ms.toFixed(2).padStart(10)} ${((100 * k.ms) / total).toFixed(1).padStart(6)}%`);
  return [`GPU time per kernel, one training step (${total.toFixed(1)} ms total):`, `  ${'kernel'.padEnd(28)} ${'calls'.padStart(6)} ${'ms'.padStart(10)} ${'share'.padStart(7)}`, ...rows].join('\n');
}
