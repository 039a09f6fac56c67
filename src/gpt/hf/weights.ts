// Hugging Face GPT-2's tensors and our GPT's parameters, both ways. The names are the same (ours
// follow GPT-2), except that:
// - HF's Conv1D layers (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj) store their weight as
//   [in, out], where our Linear holds [out, in]: those four are transposed;
// - a model saved from GPT2LMHeadModel prefixes every name with `transformer.`; the hub's gpt2 does not;
// - `lm_head.weight` is the token embedding (tied), written or not depending on how it was saved;
// - `attn.bias` / `attn.masked_bias` are HF's causal-mask buffers, not weights (older saves hold them);
// - GPT-2 has a bias in every Linear and LayerNorm: a model of ours without them exports zeros;
// - a big model's weights may be split over several files (shards, src/gpt/hf/shards.ts), read together.
import type { TensorData } from '../../nn/module.js';
import type { PendingTensor, Safetensors, SafetensorsTensor } from '../../io/safetensors.js';
import { nonFiniteProblem } from '../checkpoint.js';
import { blockLinearShapes, type GPTConfig } from '../model.js';

const PREFIX = 'transformer.';
/** GPT-2's LM head, tied to the token embedding: not a weight of ours. */
export const HEAD = 'lm_head.weight';
/** GPT-2's token embedding, which the head is tied to. */
export const EMBEDDING = 'wte.weight';
const CONV1D = /^h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$/;
const MASK_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;
/** Every tensor of GPT2LMHeadModel (without the prefix), buffers aside. */
const GPT2_TENSOR = /^(wte\.weight|wpe\.weight|ln_f\.(weight|bias)|h\.\d+\.(ln_1|ln_2|attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.(weight|bias)|lm_head\.weight)$/;
/** Weights whose layer has no bias in GPT-2: the embeddings. */
const NO_BIAS = [EMBEDDING, 'wpe.weight'];

type HostTensor = { shape: number[]; data: Float32Array };

/** One weights file of a GPT-2 model (model.safetensors, or a shard of a sharded one), as read. */
export interface HFWeightsFile extends Safetensors {
  /** Its name, for errors. */
  file: string;
}

/** A saved tensor's GPT-2 name: without GPT2LMHeadModel's prefix. */
export const unprefixed = (saved: string) => (saved.startsWith(PREFIX) ? saved.slice(PREFIX.length) : saved);

/** Whether a saved tensor is one of HF's causal-mask buffers, which are not weights (a reader may skip them unread). */
export const isMaskBuffer = (saved: string) => MASK_BUFFER.test(unprefixed(saved));

/**
 * Whether the tensors saved under `names` hold the tied LM head in place of the token embedding:
 * safetensors' save_model keeps the first, sorted, of tied names (lm_head.weight) and drops
 * transformer.wte.weight, which transformers loads as the same tensor.
 */
export function headIsEmbedding(names: Iterable<string>): boolean {
  const held = new Set(Array.from(names, unprefixed));
  return held.has(HEAD) && !held.has(EMBEDDING);
}

const isConv1DMatrix = (name: string, shape: readonly number[]) => CONV1D.test(name) && shape.length === 2;

/** The shape of our weight from GPT-2's tensor `name` (unprefixed) of `shape`, as weightsFromHF makes it: a Conv1D weight's transposed. */
export const hfWeightShape = (name: string, shape: number[]): number[] => (isConv1DMatrix(name, shape) ? [shape[1]!, shape[0]!] : shape);

/**
 * The first of our weights (named as GPT-2's, shaped as ours) whose shape is not the one `config`
 * (config.json's: dense, every block alike) gives it, with that shape; or null. The embeddings and
 * the number of blocks are configWeightsProblem's to check (a config of other widths is said once,
 * as such); a weight of a block `config` does not have, or one missing, loading's.
 */
export function gpt2ShapeProblem(config: GPTConfig, weights: ReadonlyMap<string, { shape: readonly number[] }>): { name: string; want: number[] } | null {
  const C = config.nEmbd;
  const want = new Map<string, number[]>([['ln_f.weight', [C]], ['ln_f.bias', [C]]]);
  blockLinearShapes(config).forEach(([layer, outputs, inputs], i) => {
    const block = `h.${Math.floor(i / 4)}.`; // four Linears a block
    want.set(`${block}${layer}.weight`, [outputs, inputs]).set(`${block}${layer}.bias`, [outputs]);
    for (const norm of ['ln_1', 'ln_2']) want.set(`${block}${norm}.weight`, [C]).set(`${block}${norm}.bias`, [C]);
  });
  for (const [name, { shape }] of weights) {
    const wanted = want.get(name);
    if (wanted && wanted.join() !== shape.join()) return { name, want: wanted };
  }
  return null;
}

/** The first `rows` rows of a matrix: the token embedding cut to the tokenizer's vocabulary (hfTokenizerAndModel's). */
export function firstRows({ shape, data }: HostTensor, rows: number): HostTensor {
  if (rows >= shape[0]!) return { shape, data };
  return { shape: [rows, ...shape.slice(1)], data: data.subarray(0, (data.length / shape[0]!) * rows) };
}

/** A [rows, cols] matrix as [cols, rows] (Conv1D's layout to Linear's and back). */
function transposed({ shape, data }: TensorData): HostTensor {
  const [rows, cols] = shape as [number, number];
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return { shape: [cols, rows], data: out };
}

/**
 * Our GPT's parameters from the tensors of a GPT-2 model's weights files (names and shapes are
 * checked when loaded into the model); `at` names a file in errors. A tensor GPT2LMHeadModel does
 * not have (another prefix, another model's head) and a head that is not the token embedding are
 * refused. `headAsEmbedding`: whether the head is read as the token embedding (headIsEmbedding of
 * every tensor of the model, where `files` hold only some). `vocabRows`: the token embedding's rows
 * kept (a padded vocabulary's cut, hfTokenizerAndModel's), where known.
 */
export function weightsFromHF(files: HFWeightsFile[], at: (file: string) => string, headAsEmbedding = headIsEmbedding(files.flatMap((f) => Object.keys(f.tensors))), vocabRows?: number): Map<string, HostTensor> {
  const decoder = new HFWeightsDecoder(at, headAsEmbedding, () => true, vocabRows);
  for (const { file, tensors } of files) for (const [saved, t] of Object.entries(tensors)) decoder.add(file, saved, t);
  return decoder.finish();
}

/**
 * weightsFromHF a tensor at a time, in file order: add() gives each as our weight, or throws its
 * problem as weightsFromHF would at it; finish() checks the tied head against the token embedding,
 * which it can only where `keep` keeps that (as weightsFromHF keeps every weight). `vocabRows`: the
 * token embedding's (and the head's) rows kept, a padded vocabulary's cut (hfTokenizerAndModel's);
 * `shapes` are as saved all the same (config.json's sizes are checked against them).
 */
export class HFWeightsDecoder {
  /** Our weights' shapes (the head left out), as weightsFromHF's weights hold them. */
  readonly shapes = new Map<string, { shape: number[] }>();
  private readonly weights = new Map<string, HostTensor>();
  private readonly fileOf = new Map<string, string>();
  private head: HostTensor | undefined;

  constructor(
    private readonly at: (file: string) => string,
    private readonly headAsEmbedding: boolean,
    private readonly keep: (name: string) => boolean,
    private readonly vocabRows?: number,
  ) {}

  /** The saved tensor `saved` of `file` as our weight, or null (a causal-mask buffer, the head). */
  add(file: string, saved: string, t: SafetensorsTensor): [string, HostTensor] | null {
    const error = (problem: string) => new Error(`${this.at(file)}: ${problem}`);
    const name = this.headAsEmbedding && unprefixed(saved) === HEAD ? EMBEDDING : unprefixed(saved);
    if (MASK_BUFFER.test(name)) return null;
    if (!GPT2_TENSOR.test(name)) throw error(`tensor '${saved}' is not one of GPT2LMHeadModel's (wte.weight, h.0.attn.c_attn.weight, ..., lm_head.weight, optionally prefixed '${PREFIX}')`);
    if (this.fileOf.has(name)) throw error(`tensor '${saved}' is GPT-2's ${name}, which ${this.fileOf.get(name)} holds already`);
    this.fileOf.set(name, file);
    if (!(t.data instanceof Float32Array)) throw error(`tensor '${saved}' has dtype ${t.dtype}, expected a float type`);
    const problem = nonFiniteProblem([[saved, t]]);
    if (problem) throw error(problem);
    const value = { shape: t.shape, data: t.data };
    const cut = (x: HostTensor) => (this.vocabRows === undefined ? x : firstRows(x, this.vocabRows));
    if (name === HEAD) {
      this.head = cut(value);
      return null;
    }
    const ours = isConv1DMatrix(name, t.shape) ? transposed(value) : value;
    this.shapes.set(name, { shape: ours.shape });
    const kept = name === EMBEDDING ? cut(ours) : ours;
    if (this.keep(name)) this.weights.set(name, kept);
    return [name, kept];
  }

  /** The weights kept, once a head saved beside the token embedding is found to be it (`wte`: the embedding's values, where not kept). */
  finish(wte = this.weights.get(EMBEDDING)): Map<string, HostTensor> {
    if (this.head && wte && !sameValues(this.head, wte)) throw new Error(`${this.at(this.fileOf.get(HEAD)!)}: ${HEAD} differs from ${EMBEDDING}; only a head tied to the token embedding is supported`);
    return this.weights;
  }
}

const sameValues = (a: TensorData, b: TensorData) => a.shape.join() === b.shape.join() && a.data.every((x, i) => x === b.data[i]);

/** One of our parameters by name: its shape, and its values read (back from the GPU) when asked. */
export interface PendingParam {
  shape: readonly number[];
  read(): Promise<Float32Array>;
}

/**
 * A GPT-2 model.safetensors's tensors (F32, named as GPT2LMHeadModel saves them, head left tied)
 * from our GPT's parameters by name, each read (and transposed) only when its turn comes: a
 * writer holds one at a time, not the model (gpt2-xl's 6.2 GB).
 */
export function weightsToHF(ours: Map<string, PendingParam>): PendingTensor[] {
  const out: PendingTensor[] = [];
  const put = (name: string, shape: readonly number[], read: () => Promise<Float32Array>) => out.push({ name: PREFIX + name, dtype: 'F32', shape: [...shape], read });
  for (const [name, { shape, read }] of ours) {
    if (name.endsWith('.bias')) continue; // placed after its weight, as PyTorch lists them
    if (CONV1D.test(name)) put(name, [shape[1]!, shape[0]!], async () => transposed({ shape: [...shape], data: await read() }).data);
    else put(name, shape, read);
    if (NO_BIAS.includes(name)) continue;
    const bias = name.replace(/\.weight$/, '.bias');
    const width = shape[0]!; // a Linear's weight is [out, in] here; a LayerNorm's is [C]
    const given = ours.get(bias);
    put(bias, given?.shape ?? [width], given?.read ?? (async () => new Float32Array(width)));
  }
  return out;
}
