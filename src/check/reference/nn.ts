// Float64 references for the fused ops of a transformer (softmax, logSoftmax, layerNorm,
// crossEntropy, causal attention, biasGelu): plain loops over last-axis rows, written for clarity,
// independent of the engine's kernels.
import { numel, ref, type Ref } from './array.js';
import { gelu } from './math.js';
import { attentionKeepRef } from './philox.js';

/** Applies f to each line of `a` along `axis` (same output shape); `line` is one array, refilled for each. */
function mapAlong(a: Ref, axis: number, f: (line: Float64Array) => ArrayLike<number>): Ref {
  const C = a.shape[axis]!;
  const inner = numel(a.shape.slice(axis + 1));
  const outer = numel(a.shape.slice(0, axis));
  const out = new Float64Array(a.data.length);
  const line = new Float64Array(C);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const first = o * C * inner + i; // element c of the line is at first + c * inner
      for (let c = 0; c < C; c++) line[c] = a.data[first + c * inner]!;
      const y = f(line);
      for (let c = 0; c < C; c++) out[first + c * inner] = y[c]!;
    }
  }
  return { shape: [...a.shape], data: out };
}

/** Applies f to each last-axis row of `a` (same output shape). */
const mapRows = (a: Ref, f: (row: Float64Array) => ArrayLike<number>): Ref => mapAlong(a, a.shape.length - 1, f);

/** log(sum(exp(row))), stable. */
function logSumExp(row: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i]!);
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i]! - m);
  return m + Math.log(s);
}

const softmaxRow = (row: Float64Array) => {
  const lse = logSumExp(row);
  return row.map((v) => Math.exp(v - lse));
};
const logSoftmaxRow = (row: Float64Array) => {
  const lse = logSumExp(row);
  return row.map((v) => v - lse);
};

/** softmax along `axis` (non-negative; the last by default). */
export const softmaxRef = (x: Ref, axis = x.shape.length - 1) => mapAlong(x, axis, softmaxRow);
export const logSoftmaxRef = (x: Ref, axis = x.shape.length - 1) => mapAlong(x, axis, logSoftmaxRow);

/** (x - mean) / sqrt(var + eps) * w + b per row, biased variance. */
export function layerNormRef(x: Ref, w: Ref, b: Ref | null, eps = 1e-5): Ref {
  const y = new Float64Array(x.shape.at(-1)!);
  return mapRows(x, (row) => {
    const C = row.length;
    let mu = 0;
    for (let j = 0; j < C; j++) mu += row[j]! / C;
    let vr = 0;
    for (let j = 0; j < C; j++) {
      const d = row[j]! - mu;
      vr += (d * d) / C;
    }
    const rstd = 1 / Math.sqrt(vr + eps);
    for (let j = 0; j < C; j++) y[j] = (row[j]! - mu) * rstd * w.data[j]! + (b ? b.data[j]! : 0);
    return y;
  });
}

/** The mean of rowLoss(r, target) over rows r whose target != ignoreIndex; 0 if none. */
function meanOverTargets(targets: ArrayLike<number>, ignoreIndex: number, rowLoss: (r: number, target: number) => number): Ref {
  let total = 0;
  let count = 0;
  for (let r = 0; r < targets.length; r++) {
    if (targets[r] === ignoreIndex) continue;
    total += rowLoss(r, targets[r]!);
    count++;
  }
  return ref([], [count ? total / count : 0]);
}

/** Mean over rows with target != ignoreIndex of logsumexp(row) - row[target]; 0 if none. */
export function crossEntropyRef(logits: Ref, targets: ArrayLike<number>, ignoreIndex = -100): Ref {
  const V = logits.shape.at(-1)!;
  return meanOverTargets(targets, ignoreIndex, (r, t) => {
    const row = logits.data.subarray(r * V, (r + 1) * V);
    return logSumExp(row) - row[t]!;
  });
}

/**
 * Mean over rows with target != ignoreIndex of alpha T² KL(softmax(t/T) || softmax(s/T))
 * + (1 - alpha)(logsumexp(s) - s[target]), KL = sum_j p_j (log p_j - log q_j); 0 if no row counts.
 */
export function distillLossRef(student: Ref, teacher: Ref, targets: ArrayLike<number>, temperature: number, alpha: number, ignoreIndex = -100): Ref {
  const V = student.shape.at(-1)!;
  return meanOverTargets(targets, ignoreIndex, (r, t) => {
    const s = student.data.subarray(r * V, (r + 1) * V);
    const logP = logSoftmaxRow(teacher.data.subarray(r * V, (r + 1) * V).map((v) => v / temperature));
    const logQ = logSoftmaxRow(s.map((v) => v / temperature));
    let kl = 0;
    for (let j = 0; j < V; j++) kl += Math.exp(logP[j]!) * (logP[j]! - logQ[j]!);
    return alpha * temperature ** 2 * kl + (1 - alpha) * (logSumExp(s) - s[t]!);
  });
}

/**
 * The dropout factors [BH, T, Tk] of a dropout argument (NaN: not drawn yet), kept while it lives: a
 * gradient check calls the reference dozens of times with one, and the draws are most of its work.
 */
const drawnFactors = new WeakMap<object, { dims: string; factors: Float64Array }>();
function factorsOf(dropout: object, BH: number, T: number, Tk: number): Float64Array {
  const dims = `${BH}, ${T}, ${Tk}`;
  let drawn = drawnFactors.get(dropout);
  if (drawn?.dims !== dims) drawnFactors.set(dropout, (drawn = { dims, factors: new Float64Array(BH * T * Tk).fill(NaN) }));
  return drawn.factors;
}

/**
 * Causal self-attention over packed qkv [B, T, 3C] (q | k | v, head h at columns h*HS..):
 * y [B, T, C]. With `context` [B, Tk, 3C], keys/values come from it and the queries are its last T positions.
 * With `starts` [B], row b is left-padded: its keys before slot starts[b] are left out.
 * With `dropout`, each weight is kept (scaled by 1 / (1 - p)) or dropped by attentionKeepRef.
 */
export function causalAttentionRef(qkv: Ref, nHead: number, context: Ref = qkv, starts?: Ref, dropout?: { p: number; seed: number }): Ref {
  const [B, T, C3] = qkv.shape as [number, number, number];
  const C = C3 / 3;
  const HS = C / nHead;
  const Tk = context.shape[1]!;
  const y = new Float64Array(B * T * C);
  // dropout: a kept weight scaled by 1 / (1 - p), a dropped one 0, each drawn once per dropout argument
  const factors = dropout && factorsOf(dropout, B * nHead, T, Tk);
  const keep = (bh: number, i: number, j: number) => {
    if (!dropout) return 1;
    const at = (bh * T + i) * Tk + j;
    if (Number.isNaN(factors![at])) factors![at] = attentionKeepRef(bh, i, j, dropout.p, dropout.seed) ? 1 / (1 - dropout.p) : 0;
    return factors![at]!;
  };
  const weights = new Float64Array(Tk); // of the keys query i sees, scores first
  for (let b = 0; b < B; b++)
    for (let h = 0; h < nHead; h++)
      for (let i = 0; i < T; i++) {
        const q = (b * T + i) * C3 + h * HS; // query i's row of head h
        const kv = (j: number, part: number) => (b * Tk + j) * C3 + part * C + h * HS; // key (1) or value (2) j's row of head h
        const slot = Tk - T + i;
        // left padding: keys before the row's first real slot are skipped; a padding query sees only itself
        const first = starts ? Math.min(Math.max(starts.data[b]!, 0), slot) : 0;
        let m = -Infinity;
        for (let j = first; j <= slot; j++) {
          let dot = 0;
          for (let d = 0; d < HS; d++) dot += qkv.data[q + d]! * context.data[kv(j, 1) + d]!;
          weights[j] = dot / Math.sqrt(HS);
          m = Math.max(m, weights[j]!);
        }
        let z = 0;
        for (let j = first; j <= slot; j++) z += weights[j] = Math.exp(weights[j]! - m);
        // each weight with its dropout factor, drawn once per key
        for (let j = first; j <= slot; j++) weights[j] = (weights[j]! / z) * keep(b * nHead + h, i, j);
        for (let d = 0; d < HS; d++) {
          let acc = 0;
          for (let j = first; j <= slot; j++) acc += weights[j]! * context.data[kv(j, 2) + d]!;
          y[(b * T + i) * C + h * HS + d] = acc;
        }
      }
  return { shape: [B, T, C], data: y };
}

/** x · wᵀ + b for x [..., K], w [N, K], b [N] (a Linear layer). */
export function linearRef(x: Ref, w: Ref, b: Ref | null): Ref {
  const [N, K] = w.shape as [number, number];
  const rows = numel(x.shape.slice(0, -1)); // not x.data.length / K: NaN where K = 0
  const y = new Float64Array(rows * N);
  for (let r = 0; r < rows; r++)
    for (let n = 0; n < N; n++) {
      let acc = b ? b.data[n]! : 0;
      for (let k = 0; k < K; k++) acc += x.data[r * K + k]! * w.data[n * K + k]!;
      y[r * N + n] = acc;
    }
  return { shape: [...x.shape.slice(0, -1), N], data: y };
}

/** gelu(x + b), b broadcast along the last axis. */
export function biasGeluRef(x: Ref, b: Ref): Ref {
  const C = b.data.length;
  return { shape: [...x.shape], data: x.data.map((v, i) => gelu(v + b.data[i % C]!)) };
}
