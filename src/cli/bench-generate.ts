// `gpt bench-generate`: prompt-processing and decoding tokens/s of batched generation, a table row
// per batch size. The model: a checkpoint (--init-from), or without one a randomly initialised GPT
// of the shape the flags give (by default nanoGPT's Shakespeare-char CPU model): speed depends on
// the shape, not on what the weights learned. A peft adapter (--adapter) is merged into the
// checkpoint as `gpt sample` merges it: the model timed is a plain GPT either way.
import { timeGeneration } from '../gpt/generate-timing.js';
import { GPT, type GPTConfig } from '../gpt/model.js';
import { headsProblem, TRAIN_DEFAULTS, TRAIN_DOCS, TRAIN_DTYPES, type TrainDtype } from '../gpt/trainer.js';
import { POSITIVE_INT, SEED } from '../io/value-ranges.js';
import { autocast, type CastCache } from '../nn/autocast.js';
import { readCheckpointHead } from '../node/checkpoint-head.js';
import { ADAPTER_DOC, readAdapterFlag } from './adapter-flag.js';
import { generationExtent } from './device-fit.js';
import { fetchHubCheckpoints } from './hub-flags.js';
import { checkOnDevice, openModel, weightCasts, type InferenceBatch } from './inference-model.js';
import { flagHelp, flagName, noPositional, parseFlags, UsageError, type FlagSpec } from './flags.js';
import { ADAPTER_OR_HUB, CHECKPOINT_OR_HUB } from './path-flags.js';
import { DTYPE_DOC } from './sample.js';
import { formatParams, plural } from './progress.js';

const SHAPE_KEYS = ['nLayer', 'nHead', 'nEmbd', 'blockSize', 'vocabSize'] as const;

const DEFAULTS = {
  initFrom: '',
  adapter: '',
  batch: '1,8',
  promptTokens: 32,
  newTokens: 32,
  repeats: 3,
  seed: 1337,
  dtype: 'float32' as TrainDtype, // not auto: a row means the same on every adapter
  nLayer: TRAIN_DEFAULTS.nLayer,
  nHead: TRAIN_DEFAULTS.nHead,
  nEmbd: TRAIN_DEFAULTS.nEmbd,
  blockSize: TRAIN_DEFAULTS.blockSize,
  vocabSize: 65,
};
const FLAGS: FlagSpec<typeof DEFAULTS> = {
  defaults: DEFAULTS,
  paths: { initFrom: CHECKPOINT_OR_HUB, adapter: ADAPTER_OR_HUB },
  choices: { dtype: TRAIN_DTYPES },
  ranges: {
    promptTokens: POSITIVE_INT,
    newTokens: { int: true, min: 2 },
    repeats: POSITIVE_INT,
    seed: SEED,
    nLayer: POSITIVE_INT,
    nHead: POSITIVE_INT,
    nEmbd: POSITIVE_INT,
    blockSize: POSITIVE_INT,
    vocabSize: POSITIVE_INT,
  },
  docs: {
    initFrom: 'the checkpoint to time (any kind `gpt sample --out-dir` takes); without it, a random model of the shape below',
    adapter: `with --init-from: ${ADAPTER_DOC}`,
    batch: 'batch sizes to time, comma-separated (each a row of the table)',
    promptTokens: 'tokens in each prompt (random ids); with --new-tokens, at most the block size',
    newTokens: 'tokens each sequence generates (greedy); the first comes with the prompt processing',
    repeats: 'timed runs per batch size, after one untimed (the median is shown)',
    seed: 'seed of the random prompts and of the random model',
    dtype: DTYPE_DOC,
    nLayer: `${TRAIN_DOCS.nLayer} (random model)`,
    nHead: `${TRAIN_DOCS.nHead} (random model)`,
    nEmbd: `${TRAIN_DOCS.nEmbd} (random model)`,
    blockSize: `${TRAIN_DOCS.blockSize} (random model)`,
    vocabSize: 'vocabulary size (random model)',
  },
};

export const BENCH_GENERATE_HELP = `usage: gpt bench-generate [flags]
Prompt-processing (prefill) and decoding tokens/s of batched generation (one forward per step for
the whole batch, a KV cache row per sequence), one row per --batch size: the median of --repeats
runs of --batch random prompts of --prompt-tokens tokens, each continued greedily by --new-tokens.
${flagHelp(FLAGS)}`;

/** The batch sizes of --batch: positive integers, comma-separated. */
function batchSizes(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((s) => !/^[1-9]\d*$/.test(s) || Number(s) > 4096)) {
    throw new UsageError(`flag --batch expects batch sizes in [1, 4096], comma-separated (e.g. 1,8), got '${text}'`);
  }
  return parts.map(Number);
}

export async function benchGenerate(args: string[]): Promise<number> {
  const { values: f, positional, given } = parseFlags(args, FLAGS);
  noPositional(positional);
  const batches = batchSizes(f.batch);
  const shapeGiven = SHAPE_KEYS.filter((k) => given.has(k));
  if (f.initFrom && shapeGiven.length) throw new UsageError(`${flagName(shapeGiven[0]!)} shapes the random model; it does not apply with --init-from`);
  if (f.adapter && !f.initFrom) throw new UsageError('flag --adapter merges a peft adapter into the checkpoint of --init-from: give --init-from PATH (without it the model is random)');
  const heads = headsProblem(f, flagName);
  if (!f.initFrom && heads) throw new UsageError(heads);
  await fetchHubCheckpoints(FLAGS, f, given);
  const ckpt = f.initFrom ? await readCheckpointHead(f.initFrom) : undefined; // its weights uploaded as read, once the device is open
  const config: GPTConfig = ckpt?.meta.model ?? { ...pick(f, SHAPE_KEYS), dropout: 0, bias: false };
  if (f.promptTokens + f.newTokens > config.blockSize) {
    throw new UsageError(`--prompt-tokens (${f.promptTokens}) + --new-tokens (${f.newTokens}) must not exceed the model's block size (${config.blockSize})`);
  }
  const run: InferenceBatch = { dtype: f.dtype, batch: Math.max(...batches), flag: '--batch', ...generationExtent(config.blockSize, f.promptTokens, f.newTokens), kvCache: true };
  const adapter = ckpt && (await readAdapterFlag(f.adapter, ckpt)); // refused before the device opens
  const { model, dtype } = ckpt ? await openModel(ckpt, run, adapter) : { dtype: await checkOnDevice(config, run), model: new GPT(config, { seed: f.seed }) };
  let casts: CastCache | undefined;
  try {
    casts = weightCasts([model], dtype);
    const { nLayer, nHead, nEmbd, blockSize, vocabSize } = model.config;
    console.log(
      `model: ${f.initFrom || 'random'}${f.adapter ? ` + adapter ${f.adapter}` : ''} (${plural(nLayer, 'layer')}, ${plural(nHead, 'head')}, ${nEmbd} wide, block ${blockSize}, vocab ${vocabSize}; ` +
        `${formatParams(model.numParams())} parameters); prompts of ${plural(f.promptTokens, 'token')}, ${f.newTokens} new tokens each, greedy, ${dtype}; ` +
        `median of ${plural(f.repeats, 'run')}`,
    );
    const header = ['batch', 'prefill tok/s', 'decode tok/s', 'decode ms/step'];
    const rows: string[][] = [];
    for (const batch of batches) {
      const t = await autocast(dtype, () => timeGeneration(model, { batch, promptTokens: f.promptTokens, newTokens: f.newTokens, repeats: f.repeats, seed: f.seed }), casts);
      rows.push([String(batch), t.prefillTokensPerSec.toFixed(1), t.decodeTokensPerSec.toFixed(1), t.decodeMsPerStep.toFixed(2)]);
      console.error(`batch ${batch}: prefill ${rows.at(-1)![1]} tok/s, decode ${rows.at(-1)![2]} tok/s`); // progress, before the table
    }
    console.log(formatColumns([header, ...rows]));
  } finally {
    casts?.dispose();
    model.dispose();
  }
  return 0;
}

const pick = <T, K extends keyof T>(o: T, keys: readonly K[]) => Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;

/** Rows of cells as left-aligned columns, two spaces apart. */
function formatColumns(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}
