// `gpt info`: what a checkpoint holds, from its metadata and safetensors header alone (no tensor is
// read but the pruning masks, once --verify has read the weights; the GPU is not opened), as a
// PyTorch user prints torch.load(ckpt)'s model_args, iter_num and best_val_loss: the model, its
// parameter count checked against the header's shapes, the weights' dtypes and size, compression,
// tokenizer, training state (can it resume exactly?), data, files.
import { formatBytes } from '../gpt/buffer-fit.js';
import { configParameterCount, type GPTConfig } from '../gpt/model.js';
import { configWeightsProblem, type DistillMeta } from '../gpt/checkpoint.js';
import type { StepBatch } from '../gpt/nanogpt.js';
import { isLoRAName } from '../nn/lora.js';
import { trainsBias } from '../gpt/lora.js';
import { headerParameters, readCheckpointHeader, ROLES, tensorRoles, type CheckpointHeader, type CheckpointLayout, type TensorRole, type WeightsFileInfo } from '../node/checkpoint-header.js';
import { MANIFEST_FILE } from '../node/checkpoint-files.js';
import { compressionParts, count, prunedWeightsPart } from './compression.js';
import { fetchHubCheckpoint } from './hub-flags.js';
import { flagHelp, parseFlags, printNote, UsageError, type FlagSpec } from './flags.js';
import { CHECKPOINT_OR_HUB, pathFlagProblem, RUN_CHECKPOINT, runCheckpoint } from './path-flags.js';
import { plural } from './progress.js';
import { HUB_ID_DOC, OUT_DIR_DOC } from './sample.js';

const INFO_DEFAULTS = { outDir: 'out', json: false, verify: false };
const INFO_FLAGS: FlagSpec<typeof INFO_DEFAULTS> = {
  defaults: INFO_DEFAULTS,
  ranges: {},
  docs: {
    outDir: `${OUT_DIR_DOC} (or nanoGPT's out_dir, which holds it), or ${HUB_ID_DOC}; or give it as PATH`,
    json: 'print one JSON object (for scripts) instead of lines',
    verify: `also check a run directory's weights against the CRC-32 its ${MANIFEST_FILE} records (reads the whole file), and count its pruning masks`,
  },
};

export const INFO_HELP = `usage: gpt info [flags] [PATH]
Describes the checkpoint at PATH (or --out-dir's) from its metadata and header alone, without reading a
tensor or opening the GPU: model, parameters, weights, compression, tokenizer, training state, data, files.
${flagHelp(INFO_FLAGS)}`;

/** A byte count as read at a glance: in full below a MiB (0.0145 MiB says less than 15,232 bytes). */
const size = (bytes: number) => (bytes < 2 ** 20 ? `${count(bytes)} bytes` : formatBytes(bytes));

const numel = (shape: readonly number[]) => shape.reduce((n, d) => n * d, 1);

/** The tokens a step takes (batch x block x grad accum), and those a run's steps took. */
type StepTokens = StepBatch & { perStep: number; seen: number };

/** `gpt info`'s description of a checkpoint: what --json prints, and what the lines are made from. */
export interface CheckpointInfo {
  path: string;
  layout: CheckpointLayout;
  model: GPTConfig & { activation: string; shareLayers: number; tiedHead: true };
  /** `trainable`: a LoRA run's, its adapters (the rest is frozen); absent otherwise, every parameter trains. */
  parameters: { header: number; config: number; nonEmbedding: number; matches: boolean; problem: string | null; trainable?: number };
  /** The tensors by role: their count, elements, bytes and dtypes. */
  tensors: Partial<Record<TensorRole, { tensors: number; elements: number; bytes: number; dtypes: string[] }>>;
  weightsFiles: WeightsFileInfo[];
  bytesOnDisk: number;
  compression: string[];
  tokenizer: { kind: string; vocabSize: number };
  /** What loading changes of the model in the file (nanoGPT's padded vocabulary cut), as `gpt sample` warns it; null where nothing. */
  loadNote: string | null;
  training: {
    step?: number;
    maxIters?: number;
    val?: number;
    bestVal?: number;
    schedule?: { learningRate: number; minLr: number; warmupIters: number; lrDecayIters: number };
    dtype?: string;
    /** The tokens a step takes, and those `step` steps took. */
    tokens?: StepTokens;
    lossScaler?: { scale: number; cleanSteps: number; skippedSteps: number };
    adamwMoments: boolean;
    exactResume: boolean;
    run?: string;
  } | null;
  data: { source: string; tokens?: { train: number; val: number } } | null;
  distill: DistillMeta | null;
  /** A training run's directory: the saved weights are the best val loss's, or the latest evaluation's (--always-save). */
  saved?: 'best' | 'latest';
  checksum: { crc32: string; verified: boolean; stalePresent: string[] } | null;
}

/** The description of the checkpoint whose header was read from `path`; no tensor is looked at but the masks --verify counted. */
export function describeCheckpoint(path: string, header: CheckpointHeader): CheckpointInfo {
  const { layout, meta, tensors } = header;
  const byRole: CheckpointInfo['tensors'] = {};
  const roles = tensorRoles(header);
  tensors.forEach((t, i) => {
    const role = (byRole[roles[i]!] ??= { tensors: 0, elements: 0, bytes: 0, dtypes: [] });
    role.tensors++;
    role.elements += numel(t.shape) * (t.dtype === 'U8' && meta.model.quantization === 'int4' ? 2 : 1); // int4 weights, two a byte
    role.bytes += t.end - t.begin;
    if (!role.dtypes.includes(t.dtype)) role.dtypes.push(t.dtype);
  });
  const params = tensors.filter((_, i) => roles[i] === 'parameters');
  const shapes = headerParameters(header);
  const headerCount = byRole.parameters?.elements ?? 0;
  const configCount = configParameterCount(meta.model);
  const problem = configWeightsProblem(meta.model, shapes, (k) => `config ${k}`, 'the header');
  const masks = byRole.pruningMasks;
  // the masks' values where --verify read them, or an int8 checkpoint's record of its source's masks
  const counted = header.maskCounts?.total ? header.maskCounts : meta.prunedWeights;
  const maskLine = counted ? prunedWeightsPart(counted) : masks && `pruning masks on ${plural(masks.tensors, 'Linear weight')} (${count(masks.elements)} entries; their sparsity is in the masks' values, not read)`;
  const train = meta.train;
  const moments = byRole.adamwMoments;
  // a LoRA run's moments are its adapters' only (and the biases its bias setting trains): the rest is frozen
  const lora = meta.model.lora;
  const trained = lora ? params.filter((t) => isLoRAName(t.name) || trainsBias(lora, t.name)) : params;
  const adamwMoments = !!moments && moments.tensors === 2 * trained.length;
  const step = meta.trainer?.step ?? header.nanoGptRun?.iterNum ?? undefined;
  const batch = train ?? header.nanoGptRun?.batch;
  return {
    path,
    layout,
    // the defaults of an absent activation and sharing spelled out, for a script that reads them
    model: { ...meta.model, activation: meta.model.activation ?? 'gelu', shareLayers: meta.model.shareLayers ?? 1, tiedHead: true },
    parameters: {
      header: headerCount,
      config: configCount,
      nonEmbedding: headerCount - numel(shapes.get('wpe.weight')?.shape ?? [0]),
      matches: headerCount === configCount && !problem,
      problem,
      ...(meta.model.lora && { trainable: trained.reduce((n, t) => n + numel(t.shape), 0) }),
    },
    tensors: byRole,
    weightsFiles: header.weightsFiles,
    bytesOnDisk: header.weightsFiles.reduce((n, f) => n + f.bytes, 0),
    compression: compressionParts({ model: meta.model }, maskLine ?? null), // the teacher has a field of its own
    tokenizer: { kind: meta.tokenizer.kind, vocabSize: meta.model.vocabSize },
    loadNote: header.loadNote ?? null,
    training:
      layout === 'Hugging Face directory' ? null : {
        step,
        maxIters: train?.maxIters ?? header.nanoGptRun?.maxIters ?? undefined,
        val: meta.val,
        bestVal: meta.bestVal,
        schedule: train && { learningRate: train.learningRate, minLr: train.minLr, warmupIters: train.warmupIters, lrDecayIters: train.lrDecayIters },
        dtype: train?.dtype ?? header.nanoGptRun?.dtype ?? undefined,
        ...(batch && step !== undefined && { tokens: stepTokens(batch, step, meta.trainer?.tokens) }),
        lossScaler: meta.trainer?.scaler,
        adamwMoments,
        exactResume: adamwMoments && !!train && !!meta.trainer,
        run: meta.run,
      },
    data: meta.data === undefined ? null : { source: meta.data, ...(meta.dataTokens && { tokens: meta.dataTokens }) },
    distill: meta.distill ?? null,
    ...(layout === 'run directory' && meta.trainer && { saved: meta.alwaysSave ? ('latest' as const) : ('best' as const) }),
    checksum: header.manifest ? { crc32: header.manifest.weightsCrc32, verified: header.manifest.verified, stalePresent: header.manifest.stalePresent } : null,
  };
}

/** The tokens of `steps` steps, `counted` where the run counted them (a resume may have changed the batch), else `steps` of `batch`. */
function stepTokens({ batchSize, blockSize, gradAccum }: StepBatch, steps: number, counted: number | undefined): StepTokens {
  const perStep = batchSize * blockSize * gradAccum;
  return { batchSize, blockSize, gradAccum, perStep, seen: counted ?? steps * perStep };
}

/** The tokens line: how many, from what, and (`trainTokens`: its train split's) how many epochs. */
function tokensLine(t: StepTokens, steps: number, trainTokens: number | undefined): string {
  const epochs = trainTokens ? `; ${(t.seen / trainTokens).toFixed(2)} epochs of the train split` : '';
  const batch = `batch ${t.batchSize} x block ${t.blockSize} x grad accum ${t.gradAccum}`;
  const per = t.seen === steps * t.perStep ? ` of ${count(t.perStep)}: ${batch}` : `, not all of the batch now: ${count(t.perStep)} a step, ${batch}`;
  return `${count(t.seen)} trained on (${count(steps)} step${steps === 1 ? '' : 's'}${per}${epochs})`;
}

/** The description as aligned lines, fields that do not apply left out. */
function infoLines(info: CheckpointInfo): string[] {
  const { model: m, parameters: p, training: t } = info;
  const heads = m.nHeads?.some((n) => n !== m.nHead) ? `heads ${m.nHeads.join('/')}` : plural(m.nHead, 'head');
  const shared = m.shareLayers > 1 ? `layers shared in groups of ${m.shareLayers}` : 'no shared layers';
  const rows: [string, string][] = [
    ['checkpoint', `${info.path} (${info.layout})`],
    ['model', `${plural(m.nLayer, 'layer')}, ${heads}, ${m.nEmbd} wide, block ${m.blockSize}, vocab ${m.vocabSize}; bias ${m.bias ? 'yes' : 'no'}, ${m.activation}, tied LM head, dropout ${m.dropout}, ${shared}${m.lora ? `; LoRA rank ${m.lora.rank} (alpha ${m.lora.alpha}, dropout ${m.lora.dropout}) on ${m.lora.targets.join(', ')}${m.lora.bias ? `, bias ${m.lora.bias}` : ''}, the rest frozen` : ''}`],
    [
      'parameters',
      `${count(p.header)} (${count(p.nonEmbedding)} excluding position embeddings); ` +
        (p.matches ? 'the header matches the config' : `the config makes ${count(p.config)}${p.problem ? `: ${p.problem}` : ''}`),
    ],
    ...(p.trainable === undefined ? [] : [['trainable', `${count(p.trainable)} (the LoRA adapters${m.lora?.bias ? ' and biases' : ''}; ${count(p.header - p.trainable)} frozen)`] as [string, string]]),
    ...Object.entries(info.tensors).map(([role, r]): [string, string] => [role === 'parameters' ? 'tensors' : '', `${ROLES[role as TensorRole]}: ${r.dtypes.join('+')}, ${plural(r.tensors, 'tensor')}, ${size(r.bytes)}`]),
    ['on disk', `${size(info.bytesOnDisk)} (${info.weightsFiles.map((f) => f.file).join(', ')})`],
    ['compression', info.compression.length ? info.compression.join('; ') : 'none'],
    ['tokenizer', `${info.tokenizer.kind}, ${info.tokenizer.vocabSize} tokens`],
    ...(info.loadNote === null ? [] : [['', info.loadNote] as [string, string]]),
  ];
  if (!t) rows.push(['training', 'none recorded (a Hugging Face model: fine-tune it with gpt train --init-from PATH)']);
  else if (info.layout === 'nanoGPT checkpoint') {
    if (t.step !== undefined) rows.push(['step', `${t.step} (iter_num)${t.maxIters === undefined ? '' : ` of ${t.maxIters} (max_iters)`}`]);
    if (t.tokens) rows.push(['tokens', tokensLine(t.tokens, t.step!, undefined)]);
    if (t.dtype) rows.push(['precision', `${t.dtype} (config dtype: train.py's autocast)`]);
    if (t.val !== undefined) rows.push(['val loss', `${t.val.toFixed(4)} at save (best_val_loss)`]);
    rows.push(['training', "nanoGPT's iter_num and AdamW state: gpt train --init-from PATH --continue continues its run; without --continue, a fine-tune from step 0 with fresh AdamW moments"]);
  }
  else if (t.step === undefined && !t.schedule && !t.adamwMoments) {
    const why = m.quantization ? 'a quantized checkpoint is for inference only' : 'fine-tune from it with gpt train --init-from PATH; --init-from resume needs them';
    rows.push(['training', `no step, settings or AdamW moments saved (${why})`]);
  } else {
    const loss = (x: number | undefined) => (x === undefined ? 'not recorded' : x.toFixed(4));
    if (t.step !== undefined) rows.push(['step', `${t.step}${t.maxIters === undefined ? '' : ` of ${t.maxIters} (max iters)`}`]);
    if (t.tokens) rows.push(['tokens', tokensLine(t.tokens, t.step!, info.data?.tokens?.train)]);
    if (t.val !== undefined || t.bestVal !== undefined) rows.push(['val loss', `${loss(t.val)} at save, best ${loss(t.bestVal)}`]);
    const s = t.schedule;
    if (s) rows.push(['lr schedule', `${s.learningRate} after ${s.warmupIters} warmup steps, cosine to ${s.minLr} by step ${s.lrDecayIters}`]);
    if (t.dtype) rows.push(['precision', t.dtype === 'float16' ? 'float16 mixed precision (float32 master weights)' : t.dtype]);
    const l = t.lossScaler;
    if (l) rows.push(['loss scaler', `scale ${l.scale}, ${l.cleanSteps} clean steps since it changed, ${l.skippedSteps} skipped`]);
    rows.push(['resume', resumeLine(t, info.layout)]);
  }
  if (t?.run) rows.push(['run', t.run]);
  if (info.data) rows.push(['data', `${info.data.source}${info.data.tokens ? ` (${count(info.data.tokens.train)} train + ${count(info.data.tokens.val)} val tokens)` : ''}`]);
  if (info.distill) rows.push(['teacher', `${info.distill.teacher} (temperature ${info.distill.temperature}, alpha ${info.distill.alpha})`]);
  if (info.saved) rows.push(['saved', info.saved === 'best' ? 'the best val loss so far (saved when it improves)' : 'the latest evaluation (--always-save)']);
  const c = info.checksum;
  if (c) {
    const stale = c.stalePresent.length ? `; earlier weights not yet deleted: ${c.stalePresent.join(', ')}` : '';
    rows.push(['checksum', `CRC-32 ${c.crc32} ${c.verified ? 'verified' : 'not verified (--verify reads the weights and checks it)'}${stale}`]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
}

function resumeLine(t: NonNullable<CheckpointInfo['training']>, layout: CheckpointLayout): string {
  // --init-from resume continues --out-dir, a run directory; gpt train --init-from FILE starts again at step 0
  const continues = layout === 'run directory' ? '--init-from resume continues it' : 'the page continues it; gpt train resumes run directories only';
  if (t.exactResume) return `exact: AdamW moments, step and generator states saved (${continues})`;
  if (!t.adamwMoments) return 'no AdamW moments saved: --init-from resume cannot continue it (fine-tune from it instead)';
  return 'AdamW moments saved, but no training state: --init-from resume cannot continue it';
}

export async function info(args: string[]): Promise<number> {
  const { values: f, positional, given } = parseFlags(args, INFO_FLAGS, false);
  if (positional.length > 1) throw new UsageError(`give one checkpoint PATH, got ${positional.length}: ${positional.join(' ')}`);
  if (positional.length && given.has('outDir')) throw new UsageError('give PATH or --out-dir, not both');
  const [name, value] = positional.length ? ['argument PATH', positional[0]!] : ['flag --out-dir', f.outDir];
  const named = positional.length > 0 || given.has('outDir'); // the default out/ missing is no model on the hub
  // nanoGPT's out_dir too, its ckpt.pt described, as sample, eval and export read it
  const problem = pathFlagProblem(name, value, named ? { ...CHECKPOINT_OR_HUB, ...RUN_CHECKPOINT } : RUN_CHECKPOINT);
  if (problem) throw new UsageError(problem);
  const path = runCheckpoint(named ? await fetchHubCheckpoint(value, name) : value, printNote, 'PATH');
  const header = await readCheckpointHeader(path, { verify: f.verify });
  if (f.verify && !header.manifest) throw new UsageError(`flag --verify: ${path} is a ${header.layout}, which records no checksum (a run directory's ${MANIFEST_FILE} does)`);
  const described = describeCheckpoint(path, header);
  console.log(f.json ? JSON.stringify(described, null, 2) : infoLines(described).join('\n'));
  return 0;
}
