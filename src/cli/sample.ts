// `gpt sample`: stream text from a checkpoint; `gpt eval`: its loss on the run's data. The checkpoint
// is --out-dir's, or --init-from's: one of ours, or a Hugging Face GPT-2 directory.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { generateBatch, LogitsNotFiniteError } from '../gpt/generate.js';
import { logitBiasProblem } from '../gpt/logit-bias.js';
import { samplingPlan } from '../gpt/memory-plan.js';
import { describeLeftOut, encodePrompt, tokenizerFromJSON } from '../gpt/tokenizer/index.js';
import { evaluateModel } from '../gpt/evaluate.js';
import { TRAIN_DEFAULTS, TRAIN_DTYPES, TRAIN_RANGES, TRAIN_DOCS } from '../gpt/trainer.js';
import { autocast } from '../nn/autocast.js';
import { NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, SEED } from '../io/value-ranges.js';
import { readCheckpointHead } from '../node/checkpoint-head.js';
import { ADAPTER_DOC, readAdapterFlag } from './adapter-flag.js';
import { BUILTIN_CORPUS, loadCorpus } from './corpus.js';
import { CompletionText } from './completion-text.js';
import { checkSplitsFit, loadTokens, VAL_FRACTION_OF_PREPARE } from './data.js';
import { describeCompression } from './compression.js';
import { generationExtent } from './device-fit.js';
import { resolveSettings, settingName } from './config-file.js';
import { checkPathSettings, DECIMAL, flagHelp, printNote, UsageError, type FlagSpec } from './flags.js';
import { fetchHubCheckpoints } from './hub-flags.js';
import { openGenerator, openModel } from './inference-model.js';
import { acceptanceLine, checkDraftFlags, draftedSteps, openDraft } from './sample-draft.js';
import { checkBeamFlags, checkNumBeams, printBeams } from './sample-beams.js';
import { NANOGPT_EVAL, NANOGPT_SAMPLE } from './nanogpt-settings.js';
import { ADAPTER_OR_HUB, CHECKPOINT_OR_HUB, CHECKPOINT_OR_KEYWORD, DATA_DIR, RUN_CHECKPOINT, runCheckpoint, TEXT_SOURCE } from './path-flags.js';
import { Progress } from './progress.js';

/** --init-from, as nanoGPT's sample.py has it: 'resume' reads --out-dir's checkpoint. */
export const OUT_DIR_DOC = "the checkpoint: a directory written by `gpt train`, a .safetensors file, a Hugging Face GPT-2 directory (config.json + model.safetensors or pytorch_model.bin), or nanoGPT's ckpt.pt";
/** What a flag that may name a model on the hub also takes (path-flags.ts CHECKPOINT_OR_HUB). */
export const HUB_ID_DOC = "a Hugging Face model id (gpt2, org/name@revision) to download into the hub's cache";
export const INIT_FROM_DOC = `'resume' (the checkpoint in --out-dir), or the checkpoint to read instead (any kind --out-dir takes, or ${HUB_ID_DOC})`;
/** The checkpoint --init-from names for a command that reads one: 'resume' is --out-dir's; 'scratch' (a new model, in gpt train) is refused. */
export function checkpointPath(f: { outDir: string; initFrom: string }): string {
  if (f.initFrom === 'scratch') throw new UsageError(`flag --init-from scratch starts a new model in gpt train: here it takes ${INIT_FROM_DOC}`);
  return f.initFrom === 'resume' ? runCheckpoint(f.outDir, printNote) : f.initFrom;
}

export const DTYPE_DOC = 'float32, float16 (computed in float16 from the float32 weights, as under torch.autocast), or auto: float16 where this adapter multiplies it on tensor cores';

const CONFIG_DOC = "JSON file of settings (keys as flags), or nanoGPT's Python config (also given bare), run over nanoGPT's";

/**
 * The settings from the command line and a config file; each path looked at once every value is
 * checked, and a hub id fetched once `refuse` (what the flags alone refuse) has not thrown.
 */
async function commandSettings<T extends Record<string, unknown> & { config: string }>(args: string[], spec: FlagSpec<T>, refuse: (values: T) => void = () => {}) {
  const settings = await resolveSettings(args, spec);
  // --out-dir is read only where --init-from is 'resume', as sample.py's out_dir
  const unread = ['config', ...(settings.values.initFrom === 'resume' ? [] : ['outDir'])];
  const keys = [...settings.given, ...settings.underneath].filter((key) => !unread.includes(key));
  const name = settingName(settings.names);
  checkPathSettings(spec, settings.values, keys, name);
  refuse(settings.values);
  await fetchHubCheckpoints(spec, settings.values, keys, name);
  return settings;
}

const SAMPLE_DEFAULTS = {
  config: '',
  outDir: 'out',
  initFrom: 'resume',
  adapter: '',
  start: '\n',
  numSamples: 1,
  maxNewTokens: 500,
  temperature: 0.8,
  topK: 200,
  topP: 1,
  minP: 0,
  logitBias: '',
  repetitionPenalty: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
  noRepeatNgramSize: 0,
  stop: '',
  seed: 1337,
  kvCache: true,
  dtype: TRAIN_DEFAULTS.dtype,
  draft: '',
  draftTokens: 4,
  numBeams: 1,
  lengthPenalty: 1,
  earlyStopping: 'false',
  numReturnSequences: 1,
};
const SAMPLE_FLAGS: FlagSpec<typeof SAMPLE_DEFAULTS> = {
  defaults: SAMPLE_DEFAULTS,
  nanogpt: NANOGPT_SAMPLE,
  paths: { config: 'file', outDir: RUN_CHECKPOINT, initFrom: CHECKPOINT_OR_KEYWORD, adapter: ADAPTER_OR_HUB, draft: CHECKPOINT_OR_HUB, start: (value) => (value.startsWith('FILE:') && value.length > 5 ? { use: 'file', path: value.slice(5) } : null) },
  ranges: {
    numSamples: POSITIVE_INT,
    maxNewTokens: POSITIVE_INT,
    temperature: NON_NEGATIVE,
    topK: NON_NEGATIVE_INT, // 0: off
    topP: { min: 0, max: 1 }, // 0: the likeliest token alone (Hugging Face keeps one)
    minP: { min: 0, max: 1 },
    repetitionPenalty: POSITIVE,
    presencePenalty: { min: -2, max: 2 }, // OpenAI's range
    frequencyPenalty: { min: -2, max: 2 },
    noRepeatNgramSize: NON_NEGATIVE_INT,
    seed: SEED,
    draftTokens: POSITIVE_INT,
    numBeams: POSITIVE_INT,
    lengthPenalty: {}, // any finite number
    numReturnSequences: POSITIVE_INT,
  },
  choices: { dtype: TRAIN_DTYPES, earlyStopping: ['false', 'true', 'never'] },
  docs: {
    config: `${CONFIG_DOC} sample.py defaults`,
    outDir: OUT_DIR_DOC,
    initFrom: INIT_FROM_DOC,
    adapter: ADAPTER_DOC,
    start: "prompt text (or FILE:path to read it from a file); a special token's text (GPT-2's <|endoftext|>) is that token",
    numSamples: 'how many samples to draw, generated together as one batch',
    maxNewTokens: 'tokens to generate per sample',
    temperature: '0 = greedy',
    topK: 'sample among the k likeliest tokens (and those tied with the k-th); 0 = off',
    topP: 'sample within this probability mass; 1 = off, 0 = the likeliest token alone',
    minP: "then drop the tokens less likely than this times the likeliest (Hugging Face's, vLLM's min_p); 0 = off",
    logitBias: "ID:BIAS[,ID:BIAS...]: add BIAS (in [-100, 100]) to token ID's logit before the penalties and sampling (OpenAI's logit_bias; -100 all but bans it), at most 300 tokens",
    repetitionPenalty: "divide a logit > 0 by it, multiply one <= 0, for each token in the prompt or generated (Hugging Face's, vLLM's repetition_penalty); 1 = off",
    presencePenalty: "subtract it from the logit of each token generated so far (OpenAI's presence_penalty, as vLLM applies it); 0 = off",
    frequencyPenalty: "subtract it times how often each token was generated so far (OpenAI's frequency_penalty); 0 = off",
    noRepeatNgramSize: "never draw a token that would repeat an n-gram of this many tokens of the prompt and the text so far (Hugging Face's no_repeat_ngram_size; with --num-beams too); 0 = off",
    stop: "end a sample where its text holds TEXT, printed up to it (OpenAI's stop; one string, taken whole, commas and all); each of --num-samples ends on its own",
    seed: 'seed of sample 1 (sample n uses seed + n - 1)',
    kvCache: 'reuse keys/values of earlier positions',
    dtype: DTYPE_DOC,
    draft: 'speculative decoding: a draft checkpoint (any kind --out-dir takes; a smaller model with the same tokenizer, e.g. distilled from this one) proposes tokens this one checks, the text distributed as without it',
    draftTokens: 'tokens the --draft model proposes a round',
    numBeams: "beam search with this many beams, as Hugging Face's num_beams (no sampling: it takes none of the sampling flags); 1 = off, sample",
    lengthPenalty: "beam search: a finished sequence scores its summed logprobs over its new tokens ** this (> 0 favours longer ones)",
    earlyStopping: 'beam search: stop once --num-beams sequences are finished (true), when no running beam is likely to do better (false), or when none can (never)',
    numReturnSequences: 'beam search: how many of the best sequences to print',
  },
};

export const SAMPLE_HELP = `usage: gpt sample [flags]
Generates text from the checkpoint in --out-dir (a directory, or a .safetensors file), or --init-from's.
${flagHelp(SAMPLE_FLAGS)}`;

/** `gpt sample`; its closing stats line goes to `stats` (stderr, so `gpt sample > out.txt` keeps only text). */
export async function sample(args: string[], stats: NodeJS.WritableStream = process.stderr): Promise<number> {
  const { values: f, given } = await commandSettings(args, SAMPLE_FLAGS, ({ start }) => {
    if (start === 'FILE:') throw new UsageError('flag --start FILE: names no file: give FILE:path'); // not "cannot read : ENOENT"
  });
  checkDraftFlags(f, SAMPLE_DEFAULTS);
  checkBeamFlags(f, given);
  if (given.has('draftTokens') && !f.draft) throw new UsageError(`flag --draft-tokens ${f.draftTokens} counts a draft model's tokens: give the draft with --draft DIR`);
  const start = f.start.startsWith('FILE:') ? await loadCorpus(f.start.slice(5), undefined, '--start') : f.start; // read before the device opens
  if (!start) throw new UsageError(`flag --start ${f.start} names an empty file`); // an empty --start itself is refused with the flags
  const head = await readCheckpointHead(checkpointPath(f));
  checkNumBeams(f.numBeams, head.meta.model.vocabSize);
  const adapter = await readAdapterFlag(f.adapter, head);
  const tokenizer = tokenizerFromJSON(head.meta.tokenizer);
  const logitBias = f.logitBias ? parseLogitBias(f.logitBias, head.meta.model.vocabSize) : undefined;
  const known = encodePrompt(tokenizer, start); // GPT-2's "<|endoftext|>" is its token, as in nanoGPT's sample.py
  if (!known.ids.length) throw new UsageError(`flag --start holds no character the checkpoint's tokenizer knows (${describeLeftOut(known)})`);
  if (known.dropped) console.error(`note: --start: ${describeLeftOut(known)}`);
  const prompt = known.ids;
  const reach = generationExtent(head.meta.model.blockSize, prompt.length, f.maxNewTokens);
  const opened = f.draft ? await openDraft(f.draft, head, { ...f, promptTokens: prompt.length }) : null;
  const draft = opened?.model;
  // checked with what a step makes beside its logits: beam search's work, the penalties', logit bias' and n-gram bans' tensors
  const batch = f.numBeams > 1 ? { batch: f.numBeams, flag: '--num-beams', sampling: { beams: true, noRepeatNgram: f.noRepeatNgramSize > 0 } } : { batch: f.numSamples, flag: '--num-samples', sampling: samplingPlan({ ...f, logitBias }) };
  const { model, dtype, casts, dispose } = await openGenerator(head, { dtype: f.dtype, ...batch, ...reach, kvCache: f.kvCache }, adapter, draft).catch((e: unknown) => {
    draft?.dispose();
    throw e;
  });
  const tally = { drafted: 0, accepted: 0 };
  try {
    const shown = tokenizer.decode(prompt); // the prompt the model continues: without what was left out
    if (f.numBeams > 1) {
      const line = await autocast(dtype, () => printBeams(model, tokenizer, prompt, shown, f), casts).catch((e: unknown) => {
        if (e instanceof LogitsNotFiniteError) throw new Error(e.describe(null)); // as the command's, not generateBeams'
        throw e;
      });
      stats.write(`${line} (${dtype})\n`);
      return 0;
    }
    // all samples in one batch (one forward per step for all of them); sample n draws with seed + n - 1
    const samples: number[][] = Array.from({ length: f.numSamples }, () => []);
    const streaming = f.numSamples === 1; // one sample streams; several are printed whole, in order, when done
    // meanwhile a line on stderr every 10 s says how far they are (nanoGPT's sample.py prints each as it ends)
    const progress = streaming ? null : new Progress(f.maxNewTokens, undefined, (line) => console.error(line), false);
    // each sample's text, ended by --stop where it holds it (cut before it; streamed up to where it could begin)
    const texts = samples.map(() => new CompletionText(tokenizer, f.stop ? [f.stop] : []));
    if (streaming) process.stdout.write(shown);
    const t0 = performance.now();
    const options = { maxNewTokens: f.maxNewTokens, temperature: f.temperature, topK: f.topK > 0 ? f.topK : undefined, topP: f.topP < 1 ? f.topP : undefined, minP: f.minP, logitBias, seed: f.seed, kvCache: f.kvCache,
      repetitionPenalty: f.repetitionPenalty, presencePenalty: f.presencePenalty, frequencyPenalty: f.frequencyPenalty, noRepeatNgramSize: f.noRepeatNgramSize };
    const stopAfter = (s: number, id: number) => texts[s]!.take(id);
    await autocast(dtype, async () => {
      const steps = draft ? draftedSteps(model, draft, prompt, { ...options, draftTokens: f.draftTokens }, tally) : generateBatch(model, samples.map(() => prompt), { ...options, stopAfter });
      for await (const step of steps) {
        step.forEach((id, s) => {
          if (id === null) return;
          samples[s]!.push(id);
          if (draft) stopAfter(s, id); // generateBatch tells stopAfter itself
        });
        if (streaming) process.stdout.write(texts[0]!.release());
        progress?.report(samples[0]!.length, `generating ${f.numSamples} samples, tokens each`);
        if (draft && texts[0]!.finish) break; // one sample: its stop string ends the draft's generation
      }
    }, casts).catch((e: unknown) => {
      // the sample as this command numbers them, not the batch's sequence
      if (e instanceof LogitsNotFiniteError) throw new Error(e.describe(streaming ? null : `sample ${e.sequence! + 1}`));
      throw e;
    });
    const secs = (performance.now() - t0) / 1000;
    const total = samples.reduce((n, ids) => n + ids.length, 0);
    for (const text of texts) text.end();
    if (streaming) process.stdout.write(texts[0]!.release());
    else {
      texts.forEach((text, s) => {
        process.stdout.write(`${s ? '\n' : ''}--- sample ${s + 1} of ${samples.length}\n${shown}`);
        process.stdout.write(text.all);
      });
    }
    process.stdout.write('\n'); // the text ends its line, as a file or a shell prompt after it wants
    const batched = samples.length > 1 ? `, ${samples.length} samples in one batch` : '';
    stats.write(`--- ${total} tokens in ${secs.toFixed(1)} s (${(total / secs).toFixed(1)} tok/s${batched}, ${dtype})\n`);
    if (opened) stats.write(acceptanceLine(tally, opened.idle));
  } finally {
    draft?.dispose();
    dispose(); // also when generation fails
  }
  return 0;
}

/** --logit-bias ID:BIAS[,ID:BIAS...] as a logit bias of a vocabulary of `vocabSize`; a UsageError naming the flag otherwise. */
function parseLogitBias(value: string, vocabSize: number): Record<string, number> {
  const given = new Map<string, number>();
  for (const part of value.split(',')) {
    const [id, b, ...more] = part.split(':');
    if (!id || !DECIMAL.test(b ?? '') || more.length) throw new UsageError(`flag --logit-bias takes ID:BIAS[,ID:BIAS...] (a token id, a bias in [-100, 100]), got '${part}' in '${value}'`);
    if (given.has(id)) throw new UsageError(`flag --logit-bias gives token id ${id} twice in '${value}'`);
    given.set(id, Number(b));
  }
  const bias = Object.fromEntries(given); // own keys, '__proto__' too
  const problem = logitBiasProblem(bias, vocabSize, 'flag --logit-bias');
  if (problem) throw new UsageError(problem);
  return bias;
}

const EVAL_DEFAULTS = { config: '', outDir: 'out', initFrom: 'resume', adapter: '', data: '', dataDir: '', evalIters: 200, batchSize: 12, seed: 1337, dtype: TRAIN_DEFAULTS.dtype };
const EVAL_FLAGS: FlagSpec<typeof EVAL_DEFAULTS> = {
  defaults: EVAL_DEFAULTS,
  foreign: { valFraction: VAL_FRACTION_OF_PREPARE },
  nanogpt: NANOGPT_EVAL, // nanoGPT's train.py with eval_only = True
  paths: { config: 'file', outDir: RUN_CHECKPOINT, initFrom: CHECKPOINT_OR_KEYWORD, adapter: ADAPTER_OR_HUB, data: TEXT_SOURCE, dataDir: DATA_DIR },
  ranges: { evalIters: TRAIN_RANGES.evalIters, batchSize: TRAIN_RANGES.batchSize, seed: TRAIN_RANGES.seed },
  choices: { dtype: TRAIN_DTYPES },
  docs: {
    config: `${CONFIG_DOC} train.py defaults (its eval_only = True)`,
    outDir: OUT_DIR_DOC,
    initFrom: INIT_FROM_DOC,
    adapter: ADAPTER_DOC,
    data: 'text file, URL or prepared data directory to evaluate on (text is tokenized with the checkpoint tokenizer)',
    dataDir: "prepared data directory (`gpt prepare`'s, or nanoGPT's)",
    evalIters: TRAIN_DOCS.evalIters,
    batchSize: TRAIN_DOCS.batchSize,
    seed: 'seed of the batches drawn',
    dtype: DTYPE_DOC,
  },
  defaultsShown: {
    data: `<out-dir>/data if prepared, else the data the run trained on, else ${BUILTIN_CORPUS}`,
  },
};

export const EVAL_HELP = `usage: gpt eval [flags]
Mean train/val loss of the checkpoint in --out-dir (or --init-from's) over --eval-iters random batches.
${flagHelp(EVAL_FLAGS)}`;

export async function evaluate(args: string[]): Promise<number> {
  const { values: f } = await commandSettings(args, EVAL_FLAGS);
  const head = await readCheckpointHead(checkpointPath(f));
  const { model, ckpt, dtype } = await openModel(head, { dtype: f.dtype, batch: f.batchSize, flag: '--batch-size' }, await readAdapterFlag(f.adapter, head));
  const tokenizer = tokenizerFromJSON(ckpt.meta.tokenizer);
  try {
    const compression = describeCompression(ckpt);
    if (compression) console.log(`model: ${compression}`);
    const prepared = join(f.outDir, 'data');
    const source = f.dataDir || f.data || (existsSync(join(prepared, 'meta.json')) ? prepared : ckpt.meta.data) || BUILTIN_CORPUS;
    console.log(`data: ${source}${source === ckpt.meta.data ? ' (what the run trained on)' : ''}`);
    const note = (line: string) => console.log(line);
    const ds = await loadTokens(source, { tokenizer: tokenizer.kind, vocabSize: tokenizer.vocabSize, existing: tokenizer, note });
    try {
      checkSplitsFit(ds, model.config.blockSize, "the checkpoint's block size"); // named by what set it: the checkpoint, not a flag
    } catch (e) {
      await ds.close();
      throw e;
    }
    const progress = new Progress(2 * f.evalIters);
    const onBatch = (queued: number) => progress.report(queued, 'evaluating train and val batches'); // the count runs over both: 2 x --eval-iters
    const cfg = { blockSize: model.config.blockSize, batchSize: f.batchSize, evalIters: f.evalIters, seed: f.seed, dtype, onBatch };
    const { train, val, notFinite } = await evaluateModel(model, ds, cfg).finally(() => {
      progress.done();
      return ds.close();
    });
    console.log(`train loss ${train.toFixed(4)}, val loss ${val.toFixed(4)} (${f.evalIters} batch${f.evalIters === 1 ? '' : 'es'} of ${f.batchSize}x${cfg.blockSize}, ${dtype})`);
    // nanoGPT's estimate_loss prints nan and goes on: here a script is told (exit 1), with where it starts
    if (notFinite) {
      const losses = Object.entries({ train, val }).flatMap(([split, loss]) => (Number.isFinite(loss) ? [] : [`the ${split} loss is ${loss}`]));
      const half = dtype === 'float16' ? ' (float16 overflows past 65504: evaluate with --dtype float32)' : '';
      throw new Error(`the model's outputs are not finite (${losses.join(', ')}): first at ${notFinite.stage}, on batch ${notFinite.batch + 1} of ${notFinite.split}; its weights hold NaN or overflow ${dtype} in the forward${half}`);
    }
  } finally {
    model.dispose(); // also when the data cannot be read or is too short
  }
  return 0;
}
