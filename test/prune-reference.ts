// Float64 references for the pruning tests, independent of src/nn/prune.ts and src/gpt/prune.ts:
// global magnitude masks by sorting every weight, and a GPT forward in which a head's output or a
// neuron's activation can be zeroed (what removing it must compute), built from the op references.
import type { GPTConfig } from '../src/gpt/model.js';
import { causalAttentionRef, layerNormRef } from '../src/check/reference/nn.js';
import { gelu } from '../src/check/reference/math.js';
import { ref, type Ref } from '../src/check/reference/array.js';

/** Python's round(x) for x >= 0, as PyTorch's prune counts the weights to prune: a half goes to the even neighbour. */
export function pythonRound(x: number): number {
  const floor = Math.floor(x);
  const frac = x - floor;
  if (frac !== 0.5) return frac < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * 0/1 masks pruning the round(sparsity * total) (pythonRound) weights of smallest |w| over all `weights`; ties
 * broken by position (earlier array, then earlier element, first), as src/nn/prune.ts documents.
 * Weights that `before` (masks of an earlier pruning, 0 pruned) prunes go first, whatever their |w|.
 */
export function magnitudeMasksRef(weights: ArrayLike<number>[], sparsity: number, before?: ArrayLike<number>[]): number[][] {
  const all = weights.flatMap((w, a) => Array.from(w, (x, i) => ({ live: before?.[a]![i] === 0 ? 0 : 1, mag: Math.abs(x), a, i })));
  all.sort((x, y) => x.live - y.live || x.mag - y.mag || x.a - y.a || x.i - y.i);
  const masks = weights.map((w) => Array.from(w, () => 1));
  for (const { a, i } of all.slice(0, pythonRound(sparsity * all.length))) masks[a]![i] = 0;
  return masks;
}

type Weights = Map<string, { readonly shape: readonly number[]; readonly data: ArrayLike<number> }>;

/** x [T, I] · Wᵀ (+ b), W [O, I]. */
function linear(x: Ref, w: { readonly shape: readonly number[]; readonly data: ArrayLike<number> }, b?: { data: ArrayLike<number> }): Ref {
  const [T, I] = x.shape as [number, number];
  const O = w.shape[0]!;
  const y = new Float64Array(T * O);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < O; o++) {
      let acc = b ? b.data[o]! : 0;
      for (let i = 0; i < I; i++) acc += x.data[t * I + i]! * w.data[o * I + i]!;
      y[t * O + o] = acc;
    }
  }
  return { shape: [T, O], data: y };
}

/**
 * The logits [T, V] of one sequence through a GPT with the weights `w` (our layout) and config
 * `cfg` (nHeads / mlpWidths included), exact GELU; `zeroHeads[l]` and `zeroNeurons[l]` list the heads
 * whose attention output and the MLP neurons whose activation are set to zero in block l.
 */
export function gptLogitsRef(cfg: GPTConfig, w: Weights, ids: number[], zero: { heads?: number[][]; neurons?: number[][] } = {}): Ref {
  const C = cfg.nEmbd;
  const HS = C / cfg.nHead;
  const T = ids.length;
  const get = (n: string) => w.get(n)!;
  const wte = get('wte.weight').data;
  const wpe = get('wpe.weight').data;
  let x = ref([T, C], Array.from({ length: T * C }, (_, k) => wte[ids[Math.floor(k / C)]! * C + (k % C)]! + wpe[k]!));
  const norm = (name: string, v: Ref) => layerNormRef(v, ref([C], get(`${name}.weight`).data), w.has(`${name}.bias`) ? ref([C], get(`${name}.bias`).data) : null);
  const lin = (name: string, v: Ref) => linear(v, get(`${name}.weight`), w.get(`${name}.bias`));
  const add = (a: Ref, b: Ref) => ({ shape: a.shape, data: a.data.map((v, k) => v + b.data[k]!) });
  for (let l = 0; l < cfg.nLayer; l++) {
    const NH = cfg.nHeads?.[l] ?? cfg.nHead;
    const qkv = lin(`h.${l}.attn.c_attn`, norm(`h.${l}.ln_1`, x));
    const y = causalAttentionRef({ shape: [1, T, 3 * NH * HS], data: qkv.data }, NH);
    for (const h of zero.heads?.[l] ?? []) for (let t = 0; t < T; t++) y.data.fill(0, t * NH * HS + h * HS, t * NH * HS + (h + 1) * HS);
    x = add(x, lin(`h.${l}.attn.c_proj`, { shape: [T, NH * HS], data: y.data }));
    const hidden = lin(`h.${l}.mlp.c_fc`, norm(`h.${l}.ln_2`, x));
    const F = hidden.shape[1]!;
    hidden.data.forEach((v, k) => (hidden.data[k] = gelu(v)));
    for (const j of zero.neurons?.[l] ?? []) for (let t = 0; t < T; t++) hidden.data[t * F + j] = 0;
    x = add(x, lin(`h.${l}.mlp.c_proj`, hidden));
  }
  return linear(norm('ln_f', x), get('wte.weight'));
}
