// `gpt export`: a checkpoint (ours, from --out-dir or --init-from) written as a Hugging Face GPT-2
// directory: config.json, model.safetensors and, for a GPT-2 or byte-level BPE tokenizer,
// tokenizer.json (src/gpt/hf), which transformers' GPT2LMHeadModel.from_pretrained reads; or, --to
// a .pt file, as nanoGPT's ckpt.pt (src/gpt/nanogpt-save.ts) with AdamW's moments where the
// checkpoint has them, which nanoGPT's sample.py and train.py --init_from=resume read; or, with
// --adapters, a LoRA run's adapters alone as peft's adapter directory (src/gpt/hf/peft.ts). With
// --adapter DIR, a peft adapter is merged into the model exported, as `gpt sample --adapter` merges it.
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { initDevice } from '../device/device.js';
import { disposeMoments } from '../gpt/checkpoint-upload.js';
import { HF_FILES, hfLayoutProblem } from '../gpt/hf/index.js';
import { parseHubId } from '../gpt/hf/hub.js';
import { PEFT_FILES } from '../gpt/hf/peft.js';
import { nanoGptCheckpointValue, nanoGptLayoutProblem, nanoGptMetaPkl } from '../gpt/nanogpt-save.js';
import { TRAIN_DEFAULTS } from '../gpt/trainer.js';
import { torchSavePieces } from '../io/torch-save.js';
import { learningRate } from '../optim/schedule.js';
import { HOLDS_RUN, saveHFModel } from '../node/checkpoint-dir.js';
import { manifestHeld } from '../node/checkpoint-files.js';
import { loadHeadModel, readCheckpointHead, type CheckpointHead } from '../node/checkpoint-head.js';
import { saveNanoGptFile } from '../node/nanogpt-file.js';
import { savePeftAdapter } from '../node/peft-adapter-dir.js';
import { pathExists } from '../node/regular-files.js';
import { flagHelp, noPositional, parseFlags, UsageError, type FlagSpec } from './flags.js';
import { fetchHubCheckpoints } from './hub-flags.js';
import { ADAPTER_DOC, loadMerged, readAdapterFlag, type AdapterToMerge } from './adapter-flag.js';
import { ADAPTER_OR_HUB, CHECKPOINT_OR_KEYWORD, replacesSourceProblem, RUN_CHECKPOINT } from './path-flags.js';
import { floatCheckpoint } from './float-checkpoint.js';
import { withDirectoryLock } from './run-lock.js';
import { checkpointPath, INIT_FROM_DOC, OUT_DIR_DOC } from './sample.js';

/** --to a file of this extension writes nanoGPT's checkpoint (torch.save's), not a directory. */
const TORCH_EXTENSION = '.pt';
const isTorchPath = (path: string) => extname(path) === TORCH_EXTENSION;

const EXPORT_DEFAULTS = { outDir: 'out', initFrom: 'resume', adapter: '', to: '', adapters: false, baseModel: '', overwrite: false };
type ExportFlags = typeof EXPORT_DEFAULTS;
const EXPORT_FLAGS: FlagSpec<typeof EXPORT_DEFAULTS> = {
  defaults: EXPORT_DEFAULTS,
  paths: { outDir: RUN_CHECKPOINT, initFrom: CHECKPOINT_OR_KEYWORD, adapter: ADAPTER_OR_HUB, to: (value) => (isTorchPath(value) ? { use: 'new file', createsDirectory: true } : 'new directory') },
  ranges: {},
  docs: {
    outDir: OUT_DIR_DOC,
    initFrom: INIT_FROM_DOC,
    adapter: `${ADAPTER_DOC}: the merged model is written (not with --adapters)`,
    overwrite: 'replace the model --to already holds (a .pt file there, or a directory with config.json or model.safetensors; with --adapters, adapter_config.json or adapter_model.safetensors)',
    adapters: "write only a LoRA run's adapters, as peft's adapter directory (adapter_config.json + adapter_model.safetensors), which PeftModel.from_pretrained and gpt sample|eval|train --adapter load onto the base model",
    baseModel: "with --adapters: adapter_config.json's base_model_name_or_path (the base's hub id or path, which peft's AutoPeftModelForCausalLM loads; a hub id's @revision goes to its revision field); none when left out",
    to: "the directory to write (created; its config.json, model.safetensors and tokenizer.json are replaced, with --overwrite where there, and a vocab.json + merges.txt removed), or a .pt file: nanoGPT's checkpoint (DIR/ckpt.pt, DIR created for its sample.py --out_dir=DIR), a character vocabulary's meta.pkl beside it",
  },
};

export const EXPORT_HELP = `usage: gpt export --to DIR [flags]
       gpt export --to DIR/ckpt.pt [flags]
       gpt export --adapters --to DIR [--base-model gpt2] [flags]
       gpt export --adapter ADAPTER --to DIR [flags]
Writes a checkpoint as a Hugging Face GPT-2 directory (config.json + model.safetensors [+ tokenizer.json]),
or, --to a .pt file, as nanoGPT's ckpt.pt (torch.save's format) with the run's AdamW state where the
checkpoint has it, for nanoGPT's sample.py and train.py --init_from=resume; with --adapter, a peft
LoRA adapter merged into the model first.
${flagHelp(EXPORT_FLAGS)}`;

export async function exportModel(args: string[]): Promise<number> {
  const { values: f, positional, given } = parseFlags(args, EXPORT_FLAGS);
  noPositional(positional);
  if (!f.to) throw new UsageError("--to DIR is required: the directory to write (or --to DIR/ckpt.pt: nanoGPT's checkpoint)");
  if (!f.adapters && f.baseModel) throw new UsageError('flag --base-model names the base model of the adapters --adapters writes: give --adapters too');
  if (f.adapters && f.adapter) {
    throw new UsageError("flag --adapter merges a peft adapter into the model exported, and --adapters writes the run's LoRA adapters alone, trained on its base without it: give one of them (gpt export --adapter DIR --to DIR2 writes the merged model)");
  }
  if (f.adapters && isTorchPath(f.to)) throw new UsageError(`flag --adapters writes peft's adapter directory, and --to ${f.to} names a .pt file: give a directory`);
  await fetchHubCheckpoints(EXPORT_FLAGS, f, given); // once the flags alone are not refused
  const source = checkpointPath(f);
  // replaced by what is read of it: a nanoGPT checkpoint's AdamW state and iter_num, which no export carries, would be lost
  const replaces = replacesSourceProblem(f.initFrom === 'resume' ? '--out-dir' : '--init-from', source, '--to', f.to, 'export to another path');
  if (replaces) throw new UsageError(replaces);
  // a checkpoint is never replaced unless asked (nanoGPT's train.py's ckpt.pt, with its AdamW state, or an earlier export)
  // --overwrite or not: the run is not what an export replaces (peft's adapter files are read by their own names: no manifest hides them)
  if (!isTorchPath(f.to) && !f.adapters && (await manifestHeld(f.to))) throw new UsageError(`--to ${f.to} ${HOLDS_RUN}: export to another directory`);
  // one export into a directory at a time, as one run: two at once would mix their files (each one's set is atomic on its own);
  // held from the check of what the directory holds, so that of two without --overwrite the second is refused, not written over the first
  return withDirectoryLock(isTorchPath(f.to) ? dirname(f.to) : f.to, () => exportLocked(f, source));
}

/** The export `f` asks for of the checkpoint at `source`, its target's directory locked (made, and tidied away if nothing is written). */
async function exportLocked(f: ExportFlags, source: string): Promise<number> {
  const held = await modelAt(f.to, f.adapters);
  if (held && !f.overwrite) throw new UsageError(`--to ${f.to} already holds ${held}: choose another --to, or replace it with --overwrite`);
  const ckpt = floatCheckpoint(await readCheckpointHead(source), source, 'export'); // its weights uploaded as read, once the device is open
  const adapter = await readAdapterFlag(f.adapter, ckpt); // refused before the device opens
  if (isTorchPath(f.to)) return exportNanoGpt(ckpt, f.to, adapter);
  if (f.adapters && ckpt.meta.mergedAdapter) {
    throw new UsageError(`flag --adapters: ${source}'s LoRA adapters were trained on its base with the adapter ${ckpt.meta.mergedAdapter} merged, and peft would load them onto the base alone: export the merged model instead (gpt export --to DIR without --adapters)`);
  }
  if (f.adapters) return exportAdapters(ckpt, f.to, ...peftBase(f.baseModel));
  const problem = hfLayoutProblem(ckpt.meta.model);
  if (problem) throw new UsageError(problem); // before the device opens, as the other refusals
  await initDevice();
  const { model, tokenizer } = await loadMerged(ckpt, { moments: false, masks: false }, adapter); // a pruned model's weights as they are: GPT-2's layout has no masks
  try {
    await saveHFModel(f.to, model, tokenizer); // Ctrl-C: the half-written weights go too (withDirectoryLock), and the directory made for them
  } finally {
    model.dispose();
  }
  console.log(`wrote ${f.to} (config.json, model.safetensors${tokenizer.kind === 'char' ? '; the char tokenizer travels in the weights metadata' : ', tokenizer.json'})${adapter ? `, the adapter ${adapter.dir} merged` : ''}`);
  return 0;
}

/**
 * The checkpoint `head` describes as nanoGPT's ckpt.pt at `to`: a LoRA model, or one `adapter` is
 * merged into, merged (its moments are no moments of the merged weights: AdamW starts fresh), a pruned one as it is (its
 * pruned weights are zero; nanoGPT keeps no masks), float32 whatever the run computed in.
 */
async function exportNanoGpt(head: CheckpointHead, to: string, adapter: AdapterToMerge | undefined): Promise<number> {
  const { meta } = head;
  const merged = !!meta.model.lora || !!adapter;
  const problem = nanoGptLayoutProblem({ ...meta.model, lora: undefined }); // adapters are merged on load
  if (problem) throw new UsageError(`--to ${to}: ${problem}`);
  let metaPkl: Uint8Array | null;
  try {
    metaPkl = nanoGptMetaPkl(meta.tokenizer);
  } catch (e) {
    throw new UsageError(`--to ${to}: ${(e as Error).message}`);
  }
  await initDevice();
  const { model, moments } = merged ? await loadMerged(head, { moments: false, masks: false }, adapter) : await loadHeadModel(head, { masks: false }, true);
  try {
    const train = meta.train;
    const iterNum = meta.trainer?.step ?? 0;
    // AdamW's steps: a float16 run's scaler skipped the others; a hand-written loop's (no trainer state, or before the trainer's step 0) count too
    const steps = meta.trainer ? (meta.trainer.optimizerStepsBefore ?? 0) + iterNum - (meta.trainer.scaler?.skippedSteps ?? 0) : (meta.optimizerSteps ?? 0);
    const c = { ...TRAIN_DEFAULTS, ...train }; // an imported model's AdamW: a fresh run's of ours
    const readers = (tensors: Map<string, { toArray(): Promise<unknown> }>) => new Map([...tensors].map(([name, t]) => [name, async () => (await t.toArray()) as Float32Array]));
    const root = nanoGptCheckpointValue({
      model: model.config,
      params: [...model.namedParameters()].map(([name, p]) => ({ name, shape: p.shape, read: async () => (await p.toArray()) as Float32Array })),
      ...(moments && { moments: { m: readers(moments.m), v: readers(moments.v), steps } }),
      iterNum,
      adamW: { lr: learningRate(iterNum, { lr: c.learningRate, minLr: c.minLr, warmupIters: c.warmupIters, lrDecayIters: c.lrDecayIters }), betas: [c.beta1, c.beta2], weightDecay: c.weightDecay },
      ...(train && { train }),
      ...((meta.bestVal ?? meta.val) !== undefined && { bestVal: meta.bestVal ?? meta.val }),
      dataset: datasetName(meta.data, metaPkl !== null),
    });
    await saveNanoGptFile(to, torchSavePieces(root, to), metaPkl);
    const optimizer = moments ? `AdamW's moments at iteration ${iterNum}` : `no AdamW moments${adapter ? ` (the adapter ${adapter.dir} merged)` : merged ? ' (LoRA adapters merged)' : ''}: train.py --init_from=resume starts them fresh at iteration ${iterNum}`;
    console.log(`wrote ${to} (nanoGPT's checkpoint, ${optimizer})${metaPkl ? `; meta.pkl beside it, which nanoGPT's sample.py reads as data/${datasetName(meta.data, true)}/meta.pkl` : ''}`);
  } finally {
    model.dispose();
    disposeMoments(moments);
  }
  return 0;
}

/** --base-model ('': none) as peft's base_model_name_or_path and revision: a hub id at a revision (org/name@v1, as --init-from spells it) split, unless it is a path here. */
function peftBase(value: string): [string | null, string | null] {
  const id = value.includes('@') && !existsSync(value) ? parseHubId(value) : null;
  return id ? [id.repo, id.revision] : [value || null, null];
}

/** The LoRA adapters of the checkpoint `head` describes as peft's adapter directory `to`, naming `base` (at `revision`) as their base model. */
async function exportAdapters(head: CheckpointHead, to: string, base: string | null, revision: string | null): Promise<number> {
  const { lora } = head.meta.model;
  if (!lora) throw new UsageError(`flag --adapters writes a LoRA run's adapters, and ${head.path} has none (gpt train --init-from DIR --lora-rank R makes a checkpoint that has them)`);
  await initDevice();
  const { model, moments } = await loadHeadModel(head, {}, true); // not merged: loaded with its moments, freed unread
  disposeMoments(moments);
  try {
    await savePeftAdapter(to, model, base, revision);
  } finally {
    model.dispose();
  }
  console.log(`wrote ${to} (${PEFT_FILES.config}, ${PEFT_FILES.weights}: LoRA rank ${lora.rank}, alpha ${lora.alpha} on ${lora.targets.join(', ')}${lora.bias ? `, bias ${lora.bias}` : ''}), peft's adapter directory`);
  return 0;
}

/** What a model `to` names already holds, in words, or null: a file at a .pt path; a Hugging Face directory's model files, or with `adapters` a peft adapter's. */
async function modelAt(to: string, adapters: boolean): Promise<string | null> {
  if (isTorchPath(to)) return (await pathExists(to)) ? 'a file' : null;
  const files = [];
  for (const file of adapters ? [PEFT_FILES.config, PEFT_FILES.weights] : [HF_FILES.config, HF_FILES.weights]) if (await pathExists(join(to, file))) files.push(file);
  return files.length ? `${adapters ? 'an adapter' : 'a model'} (${files.join(', ')})` : null;
}

/** config.dataset: the run's data's name (a prepared directory's, a text file's without extension), where sample.py looks for meta.pkl; GPT-2's runs name nanoGPT's openwebtext. */
function datasetName(data: string | undefined, char: boolean): string {
  const name = data === undefined ? '' : basename(data.replace(/[/\\]+$/, ''), extname(data.replace(/[/\\]+$/, '')));
  if (/^[\w.-]+$/.test(name) && name !== '.' && name !== '..') return name;
  return char ? 'webgpu_gpt_char' : 'openwebtext';
}
