// A Hugging Face GPT-2 model as our checkpoint, and our GPT as one: the pair of files `config.json`
// + `model.safetensors` that transformers' GPT2LMHeadModel saves and loads (the hub's gpt2,
// gpt2-medium, ... and their fine-tunes). Platform free: bytes in, bytes out; webgpu-gpt/node reads
// and writes the directory.
import { parseSafetensors, serializeSafetensors } from '../../io/safetensors.js';
import type { TensorData } from '../../nn/module.js';
import { assertWeightsReadable, CHECKPOINT_FORMAT, CHECKPOINT_KEY, configWeightsProblem, type Checkpoint } from '../checkpoint.js';
import { GPT } from '../model.js';
import { describeValue } from '../../tensor/check.js';
import { BpeTokenizer, Gpt2Tokenizer, tokenizerFromHuggingFace, tokenizerFromJSON, toHuggingFaceJSON, type Tokenizer } from '../tokenizer/index.js';
import { gptConfigFromHF, hfConfigFromGPT, HF_NAMES } from './config.js';
import { weightsFromHF, weightsToHF } from './weights.js';

export { gptConfigFromHF, hfConfigFromGPT, hfLayoutProblem } from './config.js';

/** The file names of a Hugging Face model directory. */
export const HF_FILES = { config: 'config.json', weights: 'model.safetensors', tokenizer: 'tokenizer.json' } as const;

/** Where our tokenizer travels in an exported model.safetensors's metadata (transformers ignores it). */
const TOKENIZER_KEY = 'webgpu_gpt_tokenizer';

/** A Hugging Face GPT-2 model's files: config.json's text, model.safetensors's bytes, tokenizer.json's text when there is one. */
export interface HFModelFiles {
  config: string;
  weights: Uint8Array;
  tokenizer?: string;
}

/**
 * Our GPT as GPT-2's files. The tokenizer, when given, is kept exactly in the weights' metadata (so
 * that the directory samples here too, whatever its kind) and, when it has a Hugging Face form
 * (GPT-2's, byte-level BPE), also written as tokenizer.json. A model without biases gets zero ones:
 * GPT-2 has them everywhere.
 */
export async function encodeHF(model: GPT, tokenizer?: Tokenizer): Promise<HFModelFiles> {
  if (!(model instanceof GPT)) throw new TypeError(`encodeHF: argument 'model' must be a GPT, got ${describeValue(model)}`);
  if (model.config.quantization) {
    throw new Error(`a quantized (${model.config.quantization}) model has no Hugging Face GPT-2 form; export the float32 checkpoint it was made from`);
  }
  assertWeightsReadable();
  const params = new Map<string, TensorData>();
  // GPT-2's layout has no shared layers: a model with shareLayers is written expanded, each layer
  // with its group's weights (the same function; transformers loads it as an ordinary GPT-2)
  for (const [name, p] of model.layerParameters()) params.set(name, { shape: p.shape, data: (await p.toArray()) as Float32Array });
  // transformers refuses a safetensors file whose metadata lacks format 'pt'
  const metadata = { format: 'pt', ...(tokenizer && { [TOKENIZER_KEY]: JSON.stringify(tokenizer.toJSON()) }) };
  const hasHFForm = tokenizer instanceof Gpt2Tokenizer || tokenizer instanceof BpeTokenizer;
  const endOfText = tokenizer instanceof Gpt2Tokenizer ? (tokenizer.specialId('<|endoftext|>') ?? null) : null;
  return {
    config: JSON.stringify(hfConfigFromGPT(model.config, endOfText), null, 2) + '\n',
    weights: serializeSafetensors(weightsToHF(params), metadata),
    ...(hasHFForm && { tokenizer: JSON.stringify(toHuggingFaceJSON(tokenizer)) }),
  };
}

/**
 * A Hugging Face GPT-2 model as a checkpoint without training state (for sampling, evaluating,
 * fine-tuning). Its tokenizer: the one encodeHF kept in the weights' metadata, else tokenizer.json.
 * `source` names the directory in errors.
 */
export function decodeHF(files: HFModelFiles, source = 'model'): Checkpoint {
  const at = (file: string) => `${source}/${file}`;
  let json: unknown;
  try {
    json = JSON.parse(files.config);
  } catch (e) {
    throw new Error(`${at(HF_FILES.config)}: not valid JSON (${(e as Error).message})`);
  }
  const model = gptConfigFromHF(json, at(HF_FILES.config));
  let parsed;
  try {
    parsed = parseSafetensors(files.weights);
  } catch (e) {
    throw new Error(`${at(HF_FILES.weights)}: not a readable safetensors file (${(e as Error).message})`);
  }
  if (parsed.metadata[CHECKPOINT_KEY] !== undefined) {
    // its names are GPT-2's without the prefix: loading would fail only on the tensors it has more or less
    throw new Error(`${at(HF_FILES.weights)}: a webgpu-gpt checkpoint, not a Hugging Face model's weights: load it on its own, without ${HF_FILES.config}`);
  }
  const weights = weightsFromHF(parsed.tensors, at(HF_FILES.weights));
  const disagreement = configWeightsProblem(model, weights, (k) => HF_NAMES[k] ?? k, HF_FILES.weights);
  if (disagreement) throw new Error(`${at(HF_FILES.config)}: ${disagreement}`);
  const tokenizer = tokenizerOf(parsed.metadata[TOKENIZER_KEY], files.tokenizer, source);
  if (tokenizer.vocabSize !== model.vocabSize) {
    throw new Error(`${source}: the tokenizer has ${tokenizer.vocabSize} tokens, ${HF_FILES.config} says vocab_size ${model.vocabSize}`);
  }
  return { meta: { format: CHECKPOINT_FORMAT, model, tokenizer: tokenizer.toJSON() }, weights, source };
}

function tokenizerOf(kept: string | undefined, hfJson: string | undefined, source: string): Tokenizer {
  if (kept === undefined && hfJson === undefined) throw new Error(`${source}: no ${HF_FILES.tokenizer} (the model's tokenizer)`);
  try {
    return kept === undefined ? tokenizerFromHuggingFace(hfJson) : tokenizerFromJSON(kept);
  } catch (e) {
    const where = kept === undefined ? HF_FILES.tokenizer : `${HF_FILES.weights} (metadata ${TOKENIZER_KEY})`;
    throw new Error(`${source}/${where}: ${(e as Error).message}`);
  }
}
