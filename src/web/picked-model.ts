// The model among files picked together in the page's file dialog: one checkpoint of ours,
// nanoGPT's ckpt.pt with its tokenizer's files, or a Hugging Face GPT-2 model's files (its weights
// model.safetensors or pytorch_model.bin, or a sharded model's index with every shard it names, as
// downloaded from the hub). Which files make a model is told from their names, then from the small
// files' texts (a shard index: the weights files chosen by hfWeightsFiles, the code the hub's and a
// directory's loads use), all before any weights are read: a pick that makes no model is refused
// before the page asks to replace its model. Platform free (Files are Blobs in Node's tests).
import { HF_FILES, hfWeightsFiles, isTorchWeights, type HFModelSources, type HFTokenizerFiles, type HFWeightsSource } from '../gpt/hf/index.js';
import type { ByteSource } from '../io/safetensors-source.js';
import { pickedSource, readPicked } from './picked-file.js';
import { META_PKL, type NanoGptSources } from './picked-nanogpt.js';

/** How a Hugging Face model picked as files is named on the model line and in its errors. */
const PICKED_HF_SOURCE = 'Hugging Face model';

/** The names of a model's tokenizer files among those picked (HFTokenizerFiles'): tokenizer.json when picked, else GPT-2's vocab.json and merges.txt when picked. */
type PickedTokenizer = { [K in keyof HFTokenizerFiles]?: string };

/**
 * Which of the files picked together to load: one checkpoint, nanoGPT's ckpt.pt with its
 * tokenizer's files (meta.pkl, or GPT-2's), or a Hugging Face GPT-2 model's files: its weights
 * file, or a shard index (model.safetensors.index.json, pytorch_model.bin.index.json) and the
 * weights files picked with it (openPickedModel checks them against it).
 */
export type PickedModel = { checkpoint: string } | ({ nanogpt: string; meta?: string } & PickedTokenizer) | ({ config: string; weights: string[]; index?: string } & PickedTokenizer);

/** A shard's name as transformers' save_pretrained writes it: model-00001-of-00003.safetensors, pytorch_model-00001-of-00002.bin. */
const SHARD_NAME = /-\d+-of-\d+\.(safetensors|bin)$/i;

/**
 * The model among files picked together, by name (any case, as file systems that ignore it may
 * show them): a lone .safetensors file is a checkpoint (ours); a .pt file, nanoGPT's ckpt.pt (with
 * meta.pkl or GPT-2's vocabulary files when picked); with config.json, the files of a Hugging Face
 * model directory, its weights model.safetensors or pytorch_model.bin, or the shards of a picked
 * index (others, such as its README, are left alone). Anything else is a one-line error saying
 * what to pick.
 */
export function pickModelFiles(names: readonly string[]): PickedModel {
  const named = (file: string) => names.find((n) => n.toLowerCase() === file);
  const endingIn = (suffix: string) => names.filter((n) => n.toLowerCase().endsWith(suffix));
  const [safetensors, torchSaves] = [endingIn('.safetensors'), endingIn('.pt')];
  const weights = [...safetensors, ...endingIn('.bin')];
  const [config, tokenizer, vocab, merges, meta] = [named(HF_FILES.config), named(HF_FILES.tokenizer), named(HF_FILES.vocab), named(HF_FILES.merges), named(META_PKL)];
  const index = named(HF_FILES.index) ?? named(HF_FILES.torchIndex);
  const listed = names.map((n) => JSON.stringify(n)).join(', ');
  const tokenizerFiles: PickedTokenizer = tokenizer ? { tokenizer } : { ...(vocab && { vocab }), ...(merges && { merges }) };
  const shards = weights.filter((n) => SHARD_NAME.test(n));
  if (shards.length && !index) {
    const wanted = shards.some((n) => isTorchWeights(n.toLowerCase())) ? HF_FILES.torchIndex : HF_FILES.index;
    throw new Error(`shards picked without their index (${shards.join(', ')}): pick ${wanted} with them (a sharded model's ${HF_FILES.config}, index, every shard and tokenizer open together)`);
  }
  if (weights.length + torchSaves.length > 1 && !(index && !torchSaves.length)) throw new Error(`several weights files picked (${[...weights, ...torchSaves].join(', ')}): ${PICK_WHAT}`);
  if (torchSaves.length && !config) return { nanogpt: torchSaves[0]!, ...(meta && { meta }), ...tokenizerFiles };
  if (!config) {
    if (names.length === 1 && safetensors.length === 1) return { checkpoint: safetensors[0]! };
    if (!names.length) throw new Error(`no file picked: ${PICK_WHAT}`);
    throw new Error(`${weights.length || index ? `no ${HF_FILES.config} among` : 'no model in'} ${listed}: ${PICK_WHAT}`);
  }
  // an index's shards are checked against it once it is read (openPickedModel): none picked is said there, naming them
  if (index) return { config, weights, index, ...tokenizerFiles };
  if (!weights.length) throw new Error(`${config} without its weights (${HF_FILES.weights} or ${HF_FILES.torchWeights}): ${PICK_WHAT}`);
  return { config, weights, ...tokenizerFiles };
}

/** What the page's file dialog opens, for a pick's errors. */
const PICK_WHAT =
  `open a checkpoint (one .safetensors file alone), nanoGPT's ckpt.pt (with its ${META_PKL}, or GPT-2's ${HF_FILES.vocab} and ${HF_FILES.merges}), ` +
  `or a Hugging Face GPT-2 model's ${HF_FILES.config}, ${HF_FILES.weights} (or ${HF_FILES.torchWeights}, or a sharded model's index with all its shards) ` +
  `and ${HF_FILES.tokenizer} (or ${HF_FILES.vocab} and ${HF_FILES.merges}) together`;

/** A pick opened: the files to load, each named as the model line names it. */
export type OpenedPick = { checkpoint: ByteSource; name: string } | { nanogpt: NanoGptSources; name: string } | { hf: HFModelSources; name: string };

/**
 * The model among `files` picked together (pickModelFiles'), its small files read (the tokenizer's,
 * meta.pkl, config.json, a shard index) and its weights files each to read a slice at a time: a
 * sharded model's shards those its index names, each one picked (a shard it names that the pick
 * lacks, or a weights file it does not name, is one line).
 */
export async function openPickedModel(files: readonly File[]): Promise<OpenedPick> {
  const picked = pickModelFiles(files.map((f) => f.name));
  const file = (name: string) => files.find((f) => f.name === name)!;
  const text = (name: string) => readPicked(file(name), (f) => f.text());
  if ('checkpoint' in picked) return { checkpoint: pickedSource(file(picked.checkpoint)), name: picked.checkpoint };
  const tokenizerFiles: HFTokenizerFiles = {};
  for (const name of ['tokenizer', 'vocab', 'merges'] as const) if (picked[name]) tokenizerFiles[name] = await text(picked[name]);
  if ('nanogpt' in picked) {
    const meta = picked.meta && (await readPicked(file(picked.meta), async (f) => new Uint8Array(await f.arrayBuffer())));
    return { nanogpt: { ...tokenizerFiles, checkpoint: pickedSource(file(picked.nanogpt)), ...(meta && { meta }) }, name: picked.nanogpt };
  }
  const { weights, index } = await pickedWeights(picked, file, text);
  return { hf: { ...tokenizerFiles, config: await text(picked.config), weights, ...(index && { index }) }, name: PICKED_HF_SOURCE };
}

/**
 * The weights files of a Hugging Face model picked as files, chosen as the hub's and a directory's
 * are (hfWeightsFiles): the lone weights file picked, as its form's name (model.safetensors,
 * pytorch_model.bin: a renamed one reads as the file it is), else the shards the picked index names.
 */
async function pickedWeights(picked: { weights: string[]; index?: string }, file: (name: string) => File, text: (name: string) => Promise<string>): Promise<Pick<HFModelSources, 'weights' | 'index'>> {
  const lone = picked.index ? undefined : picked.weights[0]!;
  const loneAs = lone && (isTorchWeights(lone.toLowerCase()) ? HF_FILES.torchWeights : HF_FILES.weights);
  const indexText = async (name: string) => (picked.index?.toLowerCase() === name ? text(picked.index) : null);
  // not null: the lone file is its form's, or the picked index is read (or refused in one line)
  const chosen = (await hfWeightsFiles((name) => name === loneAs, indexText, (name) => `${PICKED_HF_SOURCE}/${name}`))!;
  if (!chosen.index) return { weights: [{ file: chosen.weights[0]!, source: pickedSource(file(lone!)) }] };
  const { file: indexName } = chosen.index;
  const pickedAs = (shard: string) => picked.weights.find((n) => n.toLowerCase() === shard.toLowerCase());
  const missing = chosen.weights.filter((shard) => !pickedAs(shard));
  const count = `${chosen.weights.length} shard${chosen.weights.length === 1 ? '' : 's'}`;
  if (missing.length === chosen.weights.length) throw new Error(`${indexName} picked without its shards: it names ${count} (${chosen.weights.join(', ')}); pick them all together with it`);
  if (missing.length) throw new Error(`${missing[0]} not picked: a shard ${indexName} names (${missing.length} of its ${count} missing); pick all ${count} together with it`);
  const unnamed = picked.weights.filter((n) => !chosen.weights.some((shard) => shard.toLowerCase() === n.toLowerCase()));
  if (unnamed.length) throw new Error(`${unnamed.join(', ')} picked with ${indexName}, which does not name it: pick the shards it names (${chosen.weights.join(', ')}) and no other weights`);
  const weights: HFWeightsSource[] = chosen.weights.map((shard) => ({ file: shard, source: pickedSource(file(pickedAs(shard)!)) }));
  return { weights, index: chosen.index };
}
