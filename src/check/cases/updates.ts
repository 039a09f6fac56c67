// Cases of the in-place updates: AdamW over more parameters than one dispatch binds (some without
// a gradient), the global gradient norm with clipping active, inactive or off (maxNorm Infinity:
// the factor must be exactly 1), the non-finite watch from a clean or an already-set status, and
// masking in place over more tensors than one dispatch binds (NaN and Inf among the masked values).
import type { UpdateName } from '../../ops/index.js';
import { bool, float, pick, shape, values } from '../draw.js';
import { ref, type Ref } from '../reference/array.js';
import { adamwStepRef, gradNormRef, nonFiniteWatchRef } from '../reference/optim.js';
import { EXACT, floatInput, intInput, type UpdateCase, type Written } from '../sample.js';

/** Offsets of each array in the concatenation of all. */
const offsets = (sizes: number[]) => sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));

const adamw: UpdateCase<'adamw'> = {
  draw(r) {
    const count = r.int(1, 10);
    const params = Array.from({ length: count }, () => values(r, shape(r, 0, 3, 200)));
    const hasGrad = params.map(() => r.int(0, 4) > 0);
    const grads = params.flatMap((p, i) => (hasGrad[i] ? [values(r, p.shape, -1, 1)] : []));
    const total = params.reduce((n, p) => n + p.data.length, 0);
    // moments as a run in progress has them: v >= 0 and not vanishing next to m
    const m = values(r, [total], -0.1, 0.1);
    const v = values(r, [total], 0.01, 0.1);
    const gradScale = ref([], [bool(r) ? 1 : float(r, 0.1, 1)]);
    const decay = params.map(() => bool(r));
    const hyper = {
      lr: float(r, 1e-4, 1e-2), beta1: float(r, 0.8, 0.95), beta2: float(r, 0.95, 0.999), eps: float(r, 1e-8, 1e-6), weightDecay: float(r, 0.01, 0.1),
      step: pick(r, [1, 2, r.int(1, 1000)]),
    };
    // inputs: params, the gradients there are, m, v, gradScale
    const inputs = [...params, ...grads, m, v, gradScale].map((x) => floatInput(x, false));
    const gradIndex = hasGrad.map((has, i) => (has ? count + hasGrad.slice(0, i).filter(Boolean).length : -1));
    const [mi, vi, si] = [count + grads.length, count + grads.length + 1, count + grads.length + 2];
    return {
      inputs,
      args: (ts) => [ts.slice(0, count), gradIndex.map((k) => (k < 0 ? null : ts[k]!)), ts[mi]!, ts[vi]!, ts[si]!, decay, hyper],
      reference(xs) {
        const [mNew, vNew] = [Float64Array.from(xs[mi]!.data), Float64Array.from(xs[vi]!.data)];
        const starts = offsets(params.map((p) => p.data.length));
        const written: Written[] = [];
        params.forEach((p, i) => {
          if (gradIndex[i]! < 0) return;
          const at = (a: Ref) => a.data.subarray(starts[i]!, starts[i]! + p.data.length);
          const step = adamwStepRef(xs[i]!.data, xs[gradIndex[i]!]!.data, at(xs[mi]!), at(xs[vi]!), xs[si]!.data[0]!, { ...hyper, weightDecay: decay[i] ? hyper.weightDecay : 0 });
          mNew.set(step.m, starts[i]!);
          vNew.set(step.v, starts[i]!);
          written.push({ input: i, want: { shape: p.shape, data: step.p }, tol: { atol: 1e-6, rtol: 1e-5 } });
        });
        const tol = { atol: 1e-7, rtol: 1e-5 };
        return [...written, { input: mi, want: ref([total], mNew), tol }, { input: vi, want: ref([total], vNew), tol }];
      },
    };
  },
};

const gradNorm: UpdateCase<'gradNorm'> = {
  draw(r) {
    const grads = Array.from({ length: r.int(1, 10) }, () => {
      const mag = pick(r, [1e-3, 0.1, 1, 30, 100]);
      return values(r, shape(r), -mag, mag);
    });
    const { norm } = gradNormRef(grads.map((g) => g.data), Infinity);
    const frac = float(r, 0.05, 0.95);
    // clipping active (a fraction of the norm), inactive (above it), or off; the last two give exactly 1
    const mode = norm > 1e-3 ? r.int(0, 2) : r.int(1, 2);
    const maxNorm = [frac * norm, norm / frac + 1e-3, Infinity][mode]!;
    const n = grads.length;
    // inputs: the gradients, then norm and scale (0-d, overwritten)
    const inputs = [...grads, values(r, []), values(r, [])].map((x) => floatInput(x, false));
    return {
      inputs,
      args: (ts) => [ts.slice(0, n), maxNorm, ts[n]!, ts[n + 1]!],
      reference(xs) {
        const want = gradNormRef(xs.slice(0, n).map((g) => g.data), maxNorm);
        const close = { atol: 1e-7, rtol: 2e-6 };
        return [
          { input: n, want: ref([], [want.norm]), tol: close },
          { input: n + 1, want: ref([], [want.scale]), tol: mode === 0 ? close : EXACT },
        ];
      },
    };
  },
};

const watchNonFinite: UpdateCase<'watchNonFinite'> = {
  draw(r) {
    const count = r.int(1, 4);
    const vals = Array.from({ length: count }, () => (bool(r) ? float(r, -1e30, 1e30) : pick(r, [NaN, Infinity, -Infinity])));
    const status = bool(r) ? [0, 0] : [r.int(1, 15), r.int(0, 1000)];
    const step = pick(r, [0, r.int(0, 2 ** 31 - 1)]);
    return {
      inputs: [intInput(ref([2], status)), ...vals.map((v) => floatInput(ref([], [v]), false))],
      args: ([s, ...vs]) => [s!, vs, step],
      reference: ([s, ...vs]) => [{ input: 0, want: ref([2], nonFiniteWatchRef([s!.data[0]!, s!.data[1]!], vs.map((v) => v.data[0]!), step)), tol: EXACT }],
    };
  },
};

const maskInPlace: UpdateCase<'maskInPlace'> = {
  draw(r) {
    const count = r.int(1, 12);
    const targets = Array.from({ length: count }, () => {
      const t = values(r, shape(r, 0, 3, 300));
      if (t.data.length && bool(r)) t.data[r.int(0, t.data.length - 1)] = pick(r, [NaN, Infinity, -Infinity]);
      return t;
    });
    const density = float(r, 0, 1);
    const masks = targets.map((t) => ref(t.shape, Array.from(t.data, () => +(float(r, 0, 1) < density))));
    return {
      inputs: [...targets, ...masks].map((x) => floatInput(x, false)),
      args: (ts) => [ts.slice(0, count), ts.slice(count)],
      reference: (xs) =>
        targets.map((t, i) => ({ input: i, want: ref(t.shape, xs[i]!.data.map((x, j) => (xs[count + i]!.data[j] === 0 ? 0 : x))), tol: EXACT })),
    };
  },
};

export const UPDATE_CASES = { adamw, gradNorm, watchNonFinite, maskInPlace } satisfies { [K in UpdateName]: UpdateCase<K> };

