// `gpt sample`: stream text from a checkpoint; `gpt eval`: its loss on the prepared data.
import { initDevice } from '../device/device.js';
import { modelFromCheckpoint } from '../gpt/checkpoint.js';
import { generate } from '../gpt/generate.js';
import { Trainer, TRAIN_DEFAULTS } from '../gpt/trainer.js';
import { loadCheckpoint } from './checkpoint-store.js';
import { loadCorpus } from './corpus.js';
import { buildDataset, loadDataset } from './data.js';
import { flagHelp, parseFlags, UsageError } from './flags.js';

const SAMPLE_DEFAULTS = {
  outDir: 'out',
  start: '\n',
  numSamples: 1,
  maxNewTokens: 500,
  temperature: 0.8,
  topK: 200,
  topP: 1,
  seed: 1337,
  kvCache: true,
};

export const SAMPLE_HELP = `usage: gpt sample [flags]
Generates text from the checkpoint in --out-dir (a directory, or a .safetensors file).
${flagHelp(SAMPLE_DEFAULTS, {
  start: 'prompt text (or FILE:path to read it from a file)',
  temperature: '0 = greedy',
  topK: '0 = off',
  topP: '1 = off',
  kvCache: 'reuse keys/values of earlier positions',
})}`;

export async function sample(args: string[]): Promise<number> {
  const { values: f, positional } = parseFlags(args, SAMPLE_DEFAULTS);
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
  await initDevice();
  const { model, tokenizer } = modelFromCheckpoint(await loadCheckpoint(f.outDir), { dropout: 0 });
  const start = f.start.startsWith('FILE:') ? await loadCorpus(f.start.slice(5)) : f.start;
  const prompt = tokenizer.encode(start);
  for (let s = 0; s < f.numSamples; s++) {
    process.stdout.write(start);
    const ids: number[] = [];
    let printed = '';
    const t0 = performance.now();
    for await (const id of generate(model, prompt, {
      maxNewTokens: f.maxNewTokens,
      temperature: f.temperature,
      topK: f.topK > 0 ? f.topK : undefined,
      topP: f.topP < 1 ? f.topP : undefined,
      seed: f.seed + s,
      kvCache: f.kvCache,
    })) {
      ids.push(id);
      // decode the whole tail so multi-byte characters split across BPE tokens print once complete
      const text = tokenizer.decode(ids);
      const safe = text.endsWith('\uFFFD') ? text.slice(0, -1) : text;
      process.stdout.write(safe.slice(printed.length));
      printed = safe;
    }
    process.stdout.write(tokenizer.decode(ids).slice(printed.length));
    const secs = (performance.now() - t0) / 1000;
    process.stderr.write(`\n--- ${ids.length} tokens in ${secs.toFixed(1)} s (${(ids.length / secs).toFixed(1)} tok/s)\n`);
  }
  model.dispose();
  return 0;
}

const EVAL_DEFAULTS = { outDir: 'out', data: '', dataDir: '', evalIters: 200, batchSize: 12, seed: 1337 };

export const EVAL_HELP = `usage: gpt eval [flags]
Mean train/val loss of the checkpoint in --out-dir over --eval-iters random batches.
${flagHelp(EVAL_DEFAULTS, { data: 'text file to evaluate on (tokenized with the checkpoint tokenizer)', dataDir: 'prepared data directory (default <out-dir>/data)' })}`;

export async function evaluate(args: string[]): Promise<number> {
  const { values: f, positional } = parseFlags(args, EVAL_DEFAULTS);
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
  await initDevice();
  const ckpt = await loadCheckpoint(f.outDir);
  const { model, tokenizer } = modelFromCheckpoint(ckpt, { dropout: 0 });
  const ds = f.data
    ? buildDataset(await loadCorpus(f.data), { tokenizer: 'char', vocabSize: 0, existing: tokenizer })
    : await loadDataset(f.dataDir || `${f.outDir}/data`);
  const cfg = { ...TRAIN_DEFAULTS, ...ckpt.meta.train, blockSize: model.config.blockSize, batchSize: f.batchSize, evalIters: f.evalIters, seed: f.seed };
  const trainer = new Trainer(cfg, { train: ds.train, val: ds.val, vocabSize: tokenizer.vocabSize }, model);
  const { train, val } = await trainer.evaluate();
  console.log(`train loss ${train.toFixed(4)}, val loss ${val.toFixed(4)} (${f.evalIters} batches of ${f.batchSize}x${cfg.blockSize})`);
  trainer.optimizer.dispose();
  model.dispose();
  return 0;
}
