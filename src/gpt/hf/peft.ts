// Hugging Face peft's LoRA adapter files for a GPT-2: adapter_config.json (LoraConfig as JSON) and
// adapter_model.safetensors (or older peft's torch.save adapter_model.bin, read), which hold the
// adapters only, named as PeftModel's state dict with the adapter's name taken out:
// base_model.model.transformer.h.0.attn.c_attn.lora_A.weight [r, in] and lora_B.weight [out, r];
// with LoraConfig.bias all or lora_only, the biases that trained too, under their PeftModel names
// (an adapted layer's `...c_attn.base_layer.bias`, another's `...c_proj.bias`, `...ln_1.bias`:
// peft's BaseTuner._get_learnable_bias_state_dict). GPT-2's layers are Conv1D (weight [in, out]: fan_in_fan_out), but
// peft's A and B are nn.Linear weights either way, so their shapes and W += (alpha/r)·B·A are our
// LoRA's (src/nn/lora.ts) in our [out, in] layout. target_modules (a pattern, names, with
// layers_to_transform) selects modules by peft's rule (peft-targets.ts). What a config asks that our
// LoRA cannot do (rsLoRA's scale, DoRA, per-layer ranks, other modules, some blocks and not others,
// a base changed by its initialisation, a field of a newer peft) is refused, not approximated. Platform free: text and bytes in and out; webgpu-gpt/node reads and writes the directory.
import { parseJSONText } from '../../io/json-text.js';
import { readableLine } from '../../io/readable-line.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsTensor } from '../../io/safetensors.js';
import { bytesSource } from '../../io/safetensors-source.js';
import { openTorchFile, torchStateDictReader } from '../../io/torch-file.js';
import { show } from '../../io/value-ranges.js';
import { isLoRAName } from '../../nn/lora.js';
import { tensor } from '../../tensor/create.js';
import type { Tensor } from '../../tensor/tensor.js';
import { nonFiniteProblem } from '../checkpoint.js';
import { blockLinearShapes, GPT, MAX_LAYERS, type GPTConfig } from '../model.js';
import { GPT_LORA_DEFAULTS, isTargeted, LORA_TARGETS, loraConfigProblem, loraRankProblem, trainsBias, type LoRAConfig, type LoRATarget } from '../lora.js';
import { hfLayoutProblem } from './config.js';
import { peftTargetRule, ruleTargets, type TargetRule } from './peft-targets.js';

/** The files of a peft adapter directory (save_pretrained's): its config, and its weights as safetensors or, from older peft (or safe_serialization=False), torch.save's. */
export const PEFT_FILES = { config: 'adapter_config.json', weights: 'adapter_model.safetensors', torchWeights: 'adapter_model.bin' } as const;

/** A peft adapter's files: adapter_config.json's text and its weights file's bytes. */
export interface PeftAdapterFiles {
  config: string;
  /** The weights file's bytes, or a function reading them, called once the config is accepted (a refused config reads no weights). */
  weights: Uint8Array | (() => Promise<Uint8Array>);
  /** The weights file's name: PEFT_FILES.weights (the default) or PEFT_FILES.torchWeights. */
  weightsFile?: string;
}

/** A peft LoRA adapter as read: its settings, the base model it names, A and B (and trained biases) by our parameter names (h.0.attn.c_attn.lora.A, h.0.ln_1.bias), and the file they came from (for errors). */
export interface PeftAdapter {
  lora: LoRAConfig;
  base: string | null;
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  weightsFile: string;
  /**
   * Where target_modules is a pattern, names modules in full, or comes with layers_to_transform:
   * peft's rule, and the prefix of the module names it was applied to ('transformer.', or '' where
   * the keys have none: GPT2Model's), checked again on the base's blocks (peftAdapterProblem).
   */
  modules?: { rule: TargetRule; prefix: string };
}

/** PeftModel's prefix (PeftModel.base_model is the LoraModel, whose .model is the transformers model); GPT2LMHeadModel's `transformer.` follows. */
const PEFT_PREFIX = 'base_model.model.';
const GPT2_PREFIX = 'transformer.';
/** An adapter tensor's name after the prefixes: block, layer, A or B. */
const ADAPTER_TENSOR = /^(h\.\d+\.(?:attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj))\.lora_([AB])\.weight$/;

/**
 * A bias tensor's name after the prefixes: a block's Linear or LayerNorm, or ln_f. An adapted
 * Linear's is under its base_layer (peft >= 0.7 wraps the layer); peft before it saved it as the
 * layer's own, which is read too.
 */
const BIAS_TENSOR = /^(h\.\d+\.(?:(?:attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)(?:\.base_layer)?|ln_1|ln_2)|ln_f)\.bias$/;

/** Our parameter name (h.0.attn.c_attn.lora.A, h.0.attn.c_attn.bias) as peft's key; an adapted Linear of `lora` keeps its bias in its base_layer. */
function peftKey(name: string, lora?: LoRAConfig): string {
  const adaptedBias = lora && /^h\.\d+\.(.+)\.bias$/.exec(name)?.[1];
  const inner = adaptedBias && isTargeted(adaptedBias, lora.targets) ? name.replace(/\.bias$/, '.base_layer.bias') : name.replace(/\.lora\.([AB])$/, '.lora_$1.weight');
  return `${PEFT_PREFIX}${GPT2_PREFIX}${inner}`;
}

/** Absent (an older peft's config, before the field), null, false, [] or {}: a LoraConfig field left at its default. */
const isDefault = (v: unknown) => v === undefined || v === null || v === false || (Array.isArray(v) && !v.length) || (typeof v === 'object' && !Array.isArray(v) && !Object.keys(v as object).length);

/**
 * LoraConfig's (and PeftConfig's) fields that leave the saved adapter's merge, W += (lora_alpha/r)·B·A,
 * as it is whatever they hold: bookkeeping; runtime settings; fan_in_fan_out, which peft sets true
 * for GPT-2's Conv1D whatever the file says; and settings that apply only with a field that is
 * checked (layers_pattern with layers_to_transform, megatron_core with megatron_config, the
 * initialisations' configs with init_lora_weights). Every other field, a variant's (use_dora,
 * kasa_config, ...) or one of a newer peft this reader does not know, must be at its default: an
 * adapter it changes would be misread, so it is refused naming the field.
 */
const INERT = new Set([
  'base_model_name_or_path', 'revision', 'inference_mode', 'auto_mapping', 'peft_version', 'runtime_config', 'merge_weights', 'fan_in_fan_out',
  'layers_pattern', 'megatron_core', 'qalora_group_size', 'ensure_weight_tying', 'loftq_config', 'eva_config', 'corda_config', 'lora_ga_config',
]);
/** The fields read: their values are checked where read. */
const READ = new Set(['peft_type', 'task_type', 'r', 'lora_alpha', 'lora_dropout', 'target_modules', 'layers_to_transform', 'bias', 'init_lora_weights']);

/** init_lora_weights that draw A and B without touching the base (MiCA: from its SVD, the base kept); PiSSA, OLoRA, CorDA, LoRA-GA and LoftQ change the base weights the adapter is trained against. */
const BASE_KEEPING_INITS: unknown[] = [true, false, 'gaussian', 'eva', 'orthogonal', 'mica'];

/** Names peft matches (by the end of a module's dotted name) as one of our targets, which has a single spelling for the layer. */
const SAME_LAYER: Record<string, string> = { 'attn.c_attn': 'c_attn', 'mlp.c_fc': 'c_fc' };

/** peft's target_modules shorthand for every Linear and Conv1D but the output layer: GPT-2's block layers. */
const ALL_LINEAR = 'all-linear';

/** adapter_config.json for `lora`, as peft's LoraConfig.to_dict writes it for GPT-2 (Conv1D: fan_in_fan_out). */
function peftConfigJSON(lora: LoRAConfig, base: string | null, revision: string | null): Record<string, unknown> {
  return {
    peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: base, inference_mode: true,
    r: lora.rank, lora_alpha: lora.alpha, lora_dropout: lora.dropout, target_modules: [...lora.targets],
    fan_in_fan_out: true, bias: lora.bias ?? 'none', init_lora_weights: true, use_rslora: false, use_dora: false,
    modules_to_save: null, rank_pattern: {}, alpha_pattern: {}, layers_to_transform: null, layers_pattern: null, revision,
  };
}

/**
 * The adapters of a LoRA model (GPT.addLoRA's, trained or loaded), and the biases its lora.bias
 * trains (each layer's, as peft's save_pretrained writes them), as peft's adapter files, naming
 * `base` (base_model_name_or_path; null where unknown) at `revision` (the hub's branch, tag or
 * commit of it, which AutoPeftModelForCausalLM loads; null: its default). A model with shared layers is written
 * expanded, each layer with its group's adapter, as GPT-2's layout has none. Refused: a model
 * without adapters, adapters its config does not record, a layout GPT-2's cannot hold, values not finite.
 */
export async function encodePeftAdapter(model: GPT, base: string | null = null, revision: string | null = null, op = 'encodePeftAdapter'): Promise<PeftAdapterFiles & { weights: Uint8Array }> {
  if (!(model instanceof GPT)) throw new TypeError(`${op}: argument 'model' must be a GPT, got ${show(model)}`);
  const { lora } = model.config;
  if (!lora) throw new Error(`${op}: the model has no LoRA adapters to write (GPT.addLoRA, or a checkpoint of a --lora-rank run, has them)`);
  model.checkAdapters(op);
  const layout = hfLayoutProblem(model.config);
  if (layout) throw new Error(`${op}: ${layout}`);
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const [name, p] of model.layerParameters()) {
    if (!isLoRAName(name) && !trainsBias(lora, name)) continue;
    const data = (await p.toArray()) as Float32Array;
    const nonFinite = nonFiniteProblem([[name, { data }]]);
    if (nonFinite) throw new Error(`${op}: adapters not written: ${nonFinite}`);
    tensors[peftKey(name, lora)] = { dtype: 'F32', shape: [...p.shape], data };
  }
  return { config: JSON.stringify(peftConfigJSON(lora, base, revision), null, 2) + '\n', weights: serializeSafetensors(tensors, { format: 'pt' }) };
}

/**
 * A peft LoRA adapter of a GPT-2 from its files, checked in itself (that it fits a base model is
 * peftAdapterProblem's). `source` names the directory in errors. Refused in one line: another
 * peft_type or task, a LoraConfig field set that our LoRA cannot honour or this reader does not
 * know (not INERT), `bias` other than none, all, lora_only, an initialisation that changed the base
 * weights, target_modules (with layers_to_transform: peft's rule) selecting other modules than
 * GPT-2's block Linears, or some blocks' and not others', tensors other than their A and B and the
 * biases `bias` trains, shapes that disagree with r, values not finite.
 */
export async function decodePeftAdapter(files: PeftAdapterFiles, source = 'adapter'): Promise<PeftAdapter> {
  const at = `${source}/${PEFT_FILES.config}`;
  const json = parseJSONText(files.config, (why) => {
    throw new Error(`${at}: ${why}`);
  });
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${at}: must hold a JSON object (peft's LoraConfig), got ${show(json)}`);
  const c = json as Record<string, unknown>;
  const { lora: settings, rule } = peftLoRAConfig(c, at);
  const weightsFile = files.weightsFile ?? PEFT_FILES.weights;
  const bytes = typeof files.weights === 'function' ? await files.weights() : files.weights;
  const saved = await weightsOf(bytes, `${source}/${weightsFile}`);
  const modules = rule && { rule, prefix: savedPrefix(Object.keys(saved)) };
  // a rule's targets on the blocks the tensors name (the base's are checked by peftAdapterProblem)
  const targets = modules ? ruleTargets(modules.rule, savedBlocks(Object.keys(saved), `${source}/${weightsFile}`), modules.prefix) : settings.targets;
  if (typeof targets === 'string') throw refuse(`${at}: ${targets}`);
  const lora = { ...settings, targets };
  const tensors = adapterTensors(saved, lora, `${source}/${weightsFile}`);
  const base = typeof c.base_model_name_or_path === 'string' ? c.base_model_name_or_path : null;
  return { lora, base, tensors, weightsFile, ...(modules && { modules }) };
}

/** The prefix of the module names in the tensor `keys`: GPT2Model's ('') where they all lack GPT2LMHeadModel's `transformer.`. */
const savedPrefix = (keys: string[]) => (keys.length && keys.every((k) => !k.startsWith(PEFT_PREFIX + GPT2_PREFIX)) ? '' : GPT2_PREFIX);

/**
 * How many blocks the tensor `keys` reach (1 + the highest h.N), at least 1; a key past MAX_LAYERS
 * refused (`at`: the file), as the rule is then resolved on a list of that many blocks.
 */
function savedBlocks(keys: string[], at: string): number {
  let blocks = 1;
  for (const key of keys) {
    const n = Number(/^base_model\.model\.(?:transformer\.)?h\.(\d+)\./.exec(key)?.[1] ?? -1);
    if (n >= MAX_LAYERS) throw refuse(`${at}: tensor '${key}' is of block h.${n}, past the ${MAX_LAYERS} blocks a GPT may have`);
    blocks = Math.max(blocks, n + 1);
  }
  return blocks;
}

/** The tensors of the adapter weights file `at` (its path): torch.save's state dict for a .bin, else safetensors. */
async function weightsOf(bytes: Uint8Array, at: string): Promise<Record<string, SafetensorsTensor>> {
  if (at.endsWith('.bin')) {
    const torch = await openTorchFile(bytesSource(bytes), at); // its errors begin with `at`
    return torchStateDictReader(torch, torch.root, at).readTensors();
  }
  try {
    return parseSafetensors(bytes).tensors;
  } catch (e) {
    throw new Error(`${at}: not a readable safetensors file (${(e as Error).message})`);
  }
}

/** An error about a hostile file, whose names and values may hold newlines or be megabytes long: one readable line. */
const refuse = (message: string) => new Error(readableLine(message));

/**
 * Our LoRA settings from LoraConfig's fields `c`, or a one-line refusal naming `at` and the field;
 * with peft's rule where target_modules names more than our targets do (peftTargets).
 */
function peftLoRAConfig(c: Record<string, unknown>, at: string): { lora: LoRAConfig; rule?: TargetRule } {
  if (c.peft_type !== 'LORA') throw refuse(`${at}: peft_type ${show(c.peft_type)} is not a LoRA adapter (allowed: "LORA")`);
  if ((c.task_type ?? 'CAUSAL_LM') !== 'CAUSAL_LM') throw refuse(`${at}: task_type ${show(c.task_type)} adapts another head than GPT-2's language model (allowed: "CAUSAL_LM" or null)`);
  const set = Object.keys(c).find((field) => !READ.has(field) && !INERT.has(field) && !isDefault(c[field]));
  if (set !== undefined) throw refuse(`${at}: ${set} ${show(c[set])} cannot be honoured here (plain LoRA only: leave it at its default)`);
  const init = c.init_lora_weights ?? true;
  if (!BASE_KEEPING_INITS.includes(init)) {
    throw refuse(`${at}: init_lora_weights ${show(init)} changes the base weights, and the adapter is trained against those, not the model given (allowed: ${BASE_KEEPING_INITS.map((v) => show(v)).join(', ')}; peft's save_pretrained(path_initial_model_for_weight_conversion=...) saves it as plain LoRA)`);
  }
  const targets = peftTargets(c, at);
  const bias = c.bias ?? 'none';
  const lora = { rank: c.r, alpha: c.lora_alpha, dropout: c.lora_dropout ?? 0, targets, ...(bias !== 'none' && { bias }) } as LoRAConfig;
  const names: Record<keyof LoRAConfig, string> = { rank: 'r', alpha: 'lora_alpha', dropout: 'lora_dropout', targets: 'target_modules', bias: 'bias' };
  // a rule's targets are known once the tensors name the blocks (decodePeftAdapter): the other fields are checked now, before any weight is read
  const problem = loraConfigProblem(Array.isArray(targets) ? lora : { ...lora, targets: [...GPT_LORA_DEFAULTS.targets] }, (k) => names[k]);
  if (problem) throw refuse(`${at}: ${problem}`);
  return Array.isArray(targets) ? { lora } : { lora: { ...lora, targets: [] }, rule: targets };
}

/**
 * LoraConfig's target_modules (with layers_to_transform, layers_pattern) as our targets where they
 * are: "all-linear", or a list of our targets' names (attn.c_attn and mlp.c_fc as peft matches them);
 * else peft's rule (peft-targets.ts), resolved on the blocks. One line naming the field for what
 * peft itself refuses (layers_to_transform or layers_pattern with a pattern) or is not a setting.
 */
function peftTargets(c: Record<string, unknown>, at: string): unknown[] | TargetRule {
  const [modules, layers, pattern] = [c.target_modules, c.layers_to_transform, c.layers_pattern];
  const indices = isDefault(layers) ? undefined : typeof layers === 'number' ? [layers] : layers;
  if (indices !== undefined && !(Array.isArray(indices) && indices.every((i) => Number.isSafeInteger(i) && i >= 0))) {
    throw refuse(`${at}: layers_to_transform ${show(layers)} must be a block index or a list of them (integers >= 0)`);
  }
  const patterns = isDefault(pattern) || indices === undefined ? undefined : typeof pattern === 'string' ? [pattern] : pattern;
  if (patterns !== undefined && !(Array.isArray(patterns) && patterns.every((p) => typeof p === 'string'))) throw refuse(`${at}: layers_pattern ${show(pattern)} must be a string or a list of strings`);
  if (typeof modules === 'string') {
    // peft's LoraConfig refuses a block subset with a pattern: the pattern says it all
    if (indices !== undefined) throw refuse(`${at}: layers_to_transform ${show(layers)} applies to a target_modules list, and target_modules ${show(modules)} is a string (peft refuses it too)`);
    if (modules.toLowerCase() === ALL_LINEAR) return ['c_attn', 'c_proj', 'c_fc'];
  } else if (!Array.isArray(modules) || !modules.length || !modules.every((t) => typeof t === 'string')) {
    throw refuse(`${at}: target_modules ${show(modules)} must be a pattern or a non-empty list of module names (ours: "${ALL_LINEAR}", or a list of ${LORA_TARGETS.join(', ')})`);
  } else if (indices === undefined && modules.every((t) => (LORA_TARGETS as readonly string[]).includes(t) || Object.hasOwn(SAME_LAYER, t))) {
    return [...new Set(modules.map((t) => (Object.hasOwn(SAME_LAYER, t) ? SAME_LAYER[t]! : (t as LoRATarget))))]; // a set, as peft's
  }
  const rule = peftTargetRule(modules, indices as number[] | undefined, patterns as string[] | undefined);
  if (typeof rule === 'string') throw refuse(`${at}: ${rule}`);
  return rule;
}

/**
 * The A and B tensors of a peft adapter file by our names, each checked against lora's rank, and
 * the biases its bias trains (h.0.ln_1.bias); one line naming `at` and the tensor for any other.
 */
function adapterTensors(saved: Record<string, SafetensorsTensor>, lora: LoRAConfig, at: string): PeftAdapter['tensors'] {
  const r = lora.rank;
  const out: PeftAdapter['tensors'] = new Map();
  for (const [key, t] of Object.entries(saved)) {
    const inner = key.startsWith(PEFT_PREFIX) ? key.slice(PEFT_PREFIX.length).replace(/^transformer\./, '') : null;
    const m = inner === null ? null : ADAPTER_TENSOR.exec(inner);
    const b = inner === null || m ? null : BIAS_TENSOR.exec(inner);
    if (!m && !b) throw refuse(`${at}: tensor '${key}' is not a LoRA A or B or a bias of a GPT-2 layer (${PEFT_PREFIX}transformer.h.N.attn.c_attn.lora_A.weight and the like); other modules cannot be honoured here`);
    const name = m ? `${m[1]}.lora.${m[2]}` : `${b![1]!.replace(/\.base_layer$/, '')}.bias`;
    if (out.has(name)) throw refuse(`${at}: two tensors name ${peftKey(name, lora)} (with and without the transformer. prefix, or the base_layer. infix)`);
    if (!(t.data instanceof Float32Array)) throw refuse(`${at}: tensor '${key}' has dtype ${t.dtype}, expected a float type`);
    const wrapped = b && /^h\.\d+\.(.+)\.base_layer$/.exec(b[1]!)?.[1]; // peft wraps only the layers it adapts: it would leave this key out
    if (wrapped && !isTargeted(wrapped, lora.targets)) throw refuse(`${at}: tensor '${key}' is a base_layer bias of ${wrapped}, a layer target_modules ${show(lora.targets)} do not adapt (peft's load leaves it out; an unadapted layer's bias is saved as ${wrapped}.bias)`);
    if (b && !trainsBias(lora, name)) throw refuse(`${at}: tensor '${key}' is a bias that bias ${show(lora.bias ?? 'none')} does not train (all: every bias; lora_only: the targeted layers')`);
    const rankAt = m?.[2] === 'A' ? 0 : 1;
    if (m && (t.shape.length !== 2 || t.shape[rankAt] !== r)) throw refuse(`${at}: tensor '${key}' has shape [${t.shape.join(', ')}], where r ${r} gives lora_${m[2]} ${m[2] === 'A' ? '[r, in]' : '[out, r]'}`);
    const nonFinite = nonFiniteProblem([[key, t as { data: Float32Array }]]);
    if (nonFinite) throw refuse(`${at}: ${nonFinite.replace(/a checkpoint/, 'an adapter')}`);
    out.set(name, { shape: t.shape, data: t.data });
  }
  return out;
}

/**
 * What keeps `adapter` (from `source`) off a base model of `config`, or null: a base that is not
 * GPT-2's plain float32 layout (int8, shared layers, structurally pruned, or pruned by magnitude:
 * `mask` names its first pruning mask; its own LoRA adapters are merged before), a rank past a
 * layer's min(in, out), and any adapter tensor missing, extra or of another shape than the base's
 * layer gives it. From the config and tensor names alone: before any weight is read.
 */
export function peftAdapterProblem(config: GPTConfig, adapter: PeftAdapter, source: string, mask?: string): string | null {
  const at = `${source}/${adapter.weightsFile}`;
  if (config.quantization) return `${source}: a LoRA adapter cannot be merged into ${config.quantization} weights (allowed: a float32 base model)`;
  if (mask !== undefined) return `${source}: a LoRA adapter cannot be merged into a pruned model (${mask}), whose masks keep its pruned weights zero (allowed: a dense float32 base model)`;
  if ((config.shareLayers ?? 1) > 1) return `${source}: a LoRA adapter cannot be merged into a model whose blocks share weights (shareLayers ${config.shareLayers}): its layers would need one adapter each`;
  const layout = hfLayoutProblem(config);
  if (layout) return `${source}: ${layout}`;
  const { lora } = adapter;
  const targets = adapter.modules && ruleTargets(adapter.modules.rule, config.nLayer, adapter.modules.prefix);
  if (typeof targets === 'string') return readableLine(`${source}/${PEFT_FILES.config}: ${targets}`);
  const rank = loraRankProblem(lora, blockLinearShapes(config), `${source}/${PEFT_FILES.config}: r`);
  if (rank) return rank;
  const want = new Map<string, number[]>();
  // the biases bias trains, each kept from the base where the file has none (peft loads them
  // with strict=False; its lora_only saved none before its fix, peft #3457)
  const biases = new Map<string, number[]>();
  const shapes = blockLinearShapes(config); // four a block, nLayer blocks (no sharing)
  const C = [config.nEmbd];
  for (let l = 0; l < config.nLayer; l++) {
    for (const [layer, outF, inF] of shapes.slice(4 * l, 4 * l + 4)) {
      biases.set(`h.${l}.${layer}.bias`, [outF]);
      if (!isTargeted(layer, lora.targets)) continue;
      want.set(`h.${l}.${layer}.lora.A`, [lora.rank, inF]);
      want.set(`h.${l}.${layer}.lora.B`, [outF, lora.rank]);
    }
    for (const ln of ['ln_1', 'ln_2']) biases.set(`h.${l}.${ln}.bias`, C);
  }
  biases.set('ln_f.bias', C);
  for (const [name, shape] of want) {
    const has = adapter.tensors.get(name)?.shape;
    if (!has) return `${at}: no tensor ${peftKey(name)}, which target_modules ${show(lora.targets)} on the base's ${config.nLayer} layers need`;
    if (show(has) !== show(shape)) return `${at}: tensor ${peftKey(name)} has shape [${has.join(', ')}], where the base model's layer gives it [${shape.join(', ')}] (an adapter of another base model?)`;
  }
  for (const [name, { shape: has }] of adapter.tensors) {
    if (want.has(name)) continue;
    const shape = biases.get(name);
    if (!shape) return readableLine(`${at}: tensor ${peftKey(name, lora)} ${trainsBias(lora, name) ? 'is a bias of a layer the base does not have' : `adapts a layer that target_modules ${show(lora.targets)} on the base's ${config.nLayer} layers do not select`}`);
    if (!config.bias) return `${at}: tensor ${peftKey(name, lora)} is a bias, and the base model has none (bias false)`;
    if (show(has) !== show(shape)) return `${at}: tensor ${peftKey(name, lora)} has shape [${has.join(', ')}], where the base model's layer gives it [${shape.join(', ')}] (an adapter of another base model?)`;
  }
  return null;
}

/**
 * Attaches `adapter` to `model` (GPT.addLoRA with its settings, then A and B set to its tensors, and
 * the biases it holds), as peft's PeftModel.from_pretrained: the base frozen, the adapters (and the biases its bias names) trainable. GPT.mergeLoRA then
 * folds them into the weights. Refused (peftAdapterProblem) before the model changes.
 */
export function attachPeftAdapter(model: GPT, adapter: PeftAdapter, source = 'adapter'): void {
  if (model.config.lora) throw new Error(`${source}: the model has LoRA adapters already; merge them first (GPT.mergeLoRA)`);
  const problem = peftAdapterProblem(model.config, adapter, source, model.prunedMask());
  if (problem) throw new Error(problem);
  // uploaded before the model changes: a failed allocation leaves it as it was
  const uploaded = new Map<string, Tensor>();
  const rngState = model.rng.getState();
  try {
    for (const [name, t] of adapter.tensors) uploaded.set(name, tensor(t.data, t.shape));
    model.addLoRA(adapter.lora);
    // A and B, and the trained biases the file has (they replace the base's, as peft's load_state_dict)
    for (const [name, p] of model.namedParameters()) if (uploaded.has(name)) p.assign(uploaded.get(name)!);
    model.rng.setState(rngState); // the A addLoRA drew is replaced: a run from here draws its dropout as it would without the adapter
  } finally {
    for (const t of uploaded.values()) t.dispose();
  }
}
