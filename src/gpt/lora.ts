// LoRA fine-tuning of a GPT (peft's get_peft_model with a LoraConfig): adapters (src/nn/lora.ts) on
// the Linear layers its targets name in every block, everything else frozen. The model's config
// records them (GPTConfig.lora), so that a checkpoint of an adapted model loads into one built
// alike; GPT.mergeLoRA folds them into the weights (inference, export). Targets match as peft
// matches target_modules: by the end of a layer's dotted name in its block ('c_proj' is both projections).
import { rangeProblem, show, POSITIVE, POSITIVE_INT, UNIT_INTERVAL } from '../io/value-ranges.js';
import type { Linear } from '../nn/layers.js';
import { LORA_DEFAULTS } from '../nn/lora.js';
import type { Block } from '../nn/transformer.js';

/** The block layers LoRA may adapt, as peft's target_modules name them. */
export const LORA_TARGETS = ['c_attn', 'c_proj', 'c_fc', 'attn.c_proj', 'mlp.c_proj'] as const;
/** One of LORA_TARGETS. */
export type LoRATarget = (typeof LORA_TARGETS)[number];

/**
 * Which biases a LoRA run trains beside its adapters, as peft's LoraConfig.bias: none; all (every
 * parameter named `bias`: the Linears' and the LayerNorms'); lora_only (the adapted Linears').
 */
export const LORA_BIASES = ['none', 'all', 'lora_only'] as const;
/** One of LORA_BIASES. */
export type LoRABias = (typeof LORA_BIASES)[number];

/** A GPT's adapters: peft's LoraConfig (r, lora_alpha, lora_dropout, target_modules, bias: absent is none, as in a checkpoint made before it). */
export interface LoRAConfig {
  rank: number;
  alpha: number;
  dropout: number;
  targets: LoRATarget[];
  bias?: LoRABias;
}

/** Whether the parameter `name` (dotted) is a bias as peft's bias 'all' tells them: named `bias`, or ending `.bias`. */
const isBiasName = (name: string) => name === 'bias' || name.endsWith('.bias');

/**
 * Whether a GPT adapted as `lora` trains its parameter `name` (h.0.attn.c_attn.bias, ln_f.bias)
 * beside the adapters, as peft's _mark_only_adapters_as_trainable: for bias all, every bias (the
 * Linears' and the LayerNorms'); for lora_only, an adapted Linear's.
 */
export function trainsBias(lora: LoRAConfig, name: string): boolean {
  if (lora.bias === 'all') return isBiasName(name);
  const layer = /^h\.\d+\.(.+)\.bias$/.exec(name)?.[1];
  return lora.bias === 'lora_only' && layer !== undefined && isTargeted(layer, lora.targets);
}

/** What GPT.addLoRA fills in when left out: peft's LoraConfig defaults (lora_alpha 8, lora_dropout 0) and its GPT-2 target_modules, c_attn. */
export const GPT_LORA_DEFAULTS: Readonly<Omit<LoRAConfig, 'rank' | 'targets'>> & { targets: readonly LoRATarget[] } = { ...LORA_DEFAULTS, targets: ['c_attn'] };

/** Whether two LoRA settings (undefined: none) make the same adapters: each field equal, the targets as a set (not by key or list order). */
export const sameLoRA = (a: LoRAConfig | undefined, b: LoRAConfig | undefined): boolean =>
  a === b ||
  (!!a && !!b && a.rank === b.rank && a.alpha === b.alpha && a.dropout === b.dropout && (a.bias ?? 'none') === (b.bias ?? 'none') &&
    show([...new Set(a.targets)].sort()) === show([...new Set(b.targets)].sort()));

/** A block's Linear layers as [name in the block, out features, in features]. */
export type LinearShape = [string, number, number];

/** Whether the block layer `name` (attn.c_proj) is one of `targets`: its name, or the end of it after a dot. */
export const isTargeted = (name: string, targets: readonly string[]) => targets.some((t) => name === t || name.endsWith(`.${t}`));

/** A block's Linear layers by their names in it (attn.c_attn, ...). */
const blockLinears = (block: Block): [string, Linear][] => [
  ['attn.c_attn', block.attn.c_attn], ['attn.c_proj', block.attn.c_proj], ['mlp.c_fc', block.mlp.c_fc], ['mlp.c_proj', block.mlp.c_proj],
];

/** The Linear layers `targets` choose in `blocks`, each once (a block several layers share, shareLayers, gets one adapter). */
export function targetedLinears(blocks: readonly Block[], targets: readonly string[]): Linear[] {
  return [...new Set(blocks)].flatMap((block) => blockLinears(block).filter(([name]) => isTargeted(name, targets)).map(([, l]) => l));
}

/** What is wrong with LoRA settings, or null; `name` spells a key as the caller's user knows it (a flag, a metadata field). */
export function loraConfigProblem(lora: unknown, name: (key: keyof LoRAConfig) => string): string | null {
  if (lora === null || typeof lora !== 'object' || Array.isArray(lora)) return `the LoRA settings must be an object { rank, alpha, dropout, targets, bias? }, got ${show(lora)}`;
  const l = lora as Record<string, unknown>;
  const unknown = Object.keys(l).find((k) => !['rank', 'alpha', 'dropout', 'targets', 'bias'].includes(k));
  if (unknown !== undefined) return `the LoRA settings have an unknown key ${show(unknown)} (they are rank, alpha, dropout, targets, bias)`;
  if (l.bias !== undefined && !LORA_BIASES.includes(l.bias as LoRABias)) return `${name('bias')} must be one of ${LORA_BIASES.join(', ')}, got ${show(l.bias)}`;
  return rangeProblem(name('rank'), l.rank, POSITIVE_INT) ?? rangeProblem(name('alpha'), l.alpha, POSITIVE) ?? rangeProblem(name('dropout'), l.dropout, UNIT_INTERVAL) ?? targetsProblem(l.targets, name('targets'));
}

/** What is wrong with a list of targets, or null: a non-empty list of LORA_TARGETS, each once. */
function targetsProblem(targets: unknown, name: string): string | null {
  const allowed = `a non-empty list of ${LORA_TARGETS.join(', ')}`;
  if (!Array.isArray(targets) || !targets.length) return `${name} must be ${allowed}, got ${show(targets)}`;
  const bad = targets.find((t) => !LORA_TARGETS.includes(t as LoRATarget));
  if (bad !== undefined) return `${name} must be ${allowed}, got ${show(bad)}`;
  const twice = targets.find((t, i) => targets.indexOf(t) !== i);
  return twice === undefined ? null : `${name} names ${show(twice)} twice`;
}

/** A rank past what a targeted layer of `shapes` allows (min of its in and out features), said with both; or null. */
export function loraRankProblem(lora: LoRAConfig, shapes: readonly LinearShape[], name: string): string | null {
  for (const [layer, outF, inF] of shapes) {
    if (isTargeted(layer, lora.targets) && lora.rank > Math.min(inF, outF)) return `${name} ${lora.rank} exceeds ${Math.min(inF, outF)}, the smaller side of ${layer} [${outF}, ${inF}]: a rank is at most min(in, out)`;
  }
  return null;
}

/** peft's print_trainable_parameters line: "trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364". */
export function describeTrainable(trainable: number, all: number): string {
  const count = (n: number) => n.toLocaleString('en-US');
  return `trainable params: ${count(trainable)} || all params: ${count(all)} || trainable%: ${((100 * trainable) / Math.max(all, 1)).toFixed(4)}`;
}

/** A LoRA run's adapters and peft's trainable line, as `gpt train` prints it and the page shows it. */
export function describeAdapters({ rank, alpha, dropout, targets, bias = 'none' }: LoRAConfig, trainable: number, all: number): string {
  const biases = bias === 'none' ? '' : bias === 'all' ? ' and every bias' : " and the adapted layers' biases";
  return `LoRA: rank ${rank}, alpha ${alpha}, dropout ${dropout} on ${targets.join(', ')}${biases}, the rest frozen; ${describeTrainable(trainable, all)}`;
}
