// Cases of the in-place updates: AdamW over more parameters than one dispatch binds (some without
// a gradient; its gradient scale a 0-d multiplier or a GradScaler's control, skipping the step or
// correcting the bias of the steps taken), a GradScaler's update from finite and non-finite norms
// (clipping on or off, the scale growing, shrinking or at its bounds; a divergence watch's status
// absent, clean or already marked), the global gradient norm
// (one gradient now and then past a workgroup's slice) with clipping active, inactive or off (maxNorm Infinity:
// the factor must be exactly 1), the non-finite watch from a clean or an already-set status, and
// masking in place over more tensors than one dispatch binds (NaN and Inf among the masked values),
// and casts into other tensors over more than one dispatch binds, between float32 and float16 each
// way, written or added, against the host's float16 rounding (ties, overflow, subnormals), some
// tensors past a 4 KiB binding; a slice of a tensor assigned in place along any axis (float32 or
// int32, empty slices too); token counts of a step's drawn ids (-1 among them), over rows past a binding.
import type { UpdateName } from '../../ops/index.js';
import { bool, float, grid, largeShape, pick, shape, values } from '../draw.js';
import { ref, type Ref } from '../reference/array.js';
import { castRef } from '../reference/indexing.js';
import { countTokensRef } from '../reference/penalty.js';
import { profile } from '../../kernels/profile.js';
import type { PlainDType } from '../../tensor/tensor.js';
import type { Random } from '../random.js';
import { adamwStepRef, gradNormRef, gradScalerUpdateRef, nonFiniteWatchRef } from '../reference/optim.js';
import { MAX_SCALE, MIN_SCALE } from '../../ops/index.js';
import { EXACT, floatInput, intInput, type UpdateCase, type Written } from '../sample.js';

/** Offsets of each array in the concatenation of all. */
const offsets = (sizes: number[]) => sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));

const adamw: UpdateCase<'adamw'> = {
  draw(r) {
    const count = r.int(1, 10);
    // half the time every size a multiple of 4, as a GPT's are: the kernel's vec4 form
    const aligned = bool(r);
    const params = Array.from({ length: count }, () => values(r, aligned ? [r.int(1, 5), 4 * r.int(1, 10)] : shape(r, 0, 3, 200)));
    const hasGrad = params.map(() => r.int(0, 4) > 0);
    const grads = params.flatMap((p, i) => (hasGrad[i] ? [values(r, p.shape, -1, 1)] : []));
    const total = params.reduce((n, p) => n + p.data.length, 0);
    // moments as a run in progress has them: v >= 0 and not vanishing next to m
    const m = values(r, [total], -0.1, 0.1);
    const v = values(r, [total], 0.01, 0.1);
    const decay = params.map(() => bool(r));
    const hyper = {
      lr: float(r, 1e-4, 1e-2), beta1: float(r, 0.8, 0.95), beta2: float(r, 0.95, 0.999), eps: float(r, 1e-8, 1e-6), weightDecay: float(r, 0.01, 0.1),
      step: pick(r, [1, 2, r.int(1, 1000)]),
    };
    const multiplier = bool(r) ? 1 : float(r, 0.1, 1);
    // a GradScaler's control: [multiplier, skip, steps skipped so far (< step), its own count]
    const control = bool(r) ? [multiplier, +(r.int(0, 3) === 0), pick(r, [0, r.int(0, hyper.step - 1)]), r.int(0, 9)] : null;
    const gradScale = control ? ref([4], control) : ref([], [multiplier]);
    const [skip, taken] = control ? [control[1] === 1, hyper.step - control[2]!] : [false, hyper.step];
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
          if (gradIndex[i]! < 0 || skip) return;
          const at = (a: Ref) => a.data.subarray(starts[i]!, starts[i]! + p.data.length);
          const step = adamwStepRef(xs[i]!.data, xs[gradIndex[i]!]!.data, at(xs[mi]!), at(xs[vi]!), xs[si]!.data[0]!, { ...hyper, step: taken, weightDecay: decay[i] ? hyper.weightDecay : 0 });
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
    // now and then a gradient past one workgroup's slice (65,536 elements), summed by several:
    // spikes at the slices' edges weigh in the norm, so an element lost there shows
    const big = r.int(0, 3) === 0;
    const grads = Array.from({ length: r.int(1, 10) }, (_, i) => {
      const mag = pick(r, [1e-3, 0.1, 1, 30, 100]);
      const g = values(r, big && i === 0 ? [r.int(65_537, 140_000)] : shape(r), -mag, mag);
      if (big && i === 0) for (const j of [0, 65_535, 65_536, g.data.length - 1]) g.data[j] = 30 * mag;
      return g;
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
        const close = { atol: 1e-7, rtol: big ? 1e-5 : 2e-6 }; // float32 sums of up to 140k squares
        return [
          { input: n, want: ref([], [want.norm]), tol: close },
          { input: n + 1, want: ref([], [want.scale]), tol: mode === 0 ? close : EXACT },
        ];
      },
    };
  },
};

const gradScalerUpdate: UpdateCase<'gradScalerUpdate'> = {
  draw(r) {
    // at its floor (a skip marks the watch), just above it (a skip reaches the floor, marks nothing), ...
    const scale = pick(r, [MIN_SCALE, 2 * MIN_SCALE, MAX_SCALE, 2 ** r.int(-10, 20), float(r, 0.5, 70000)]);
    const unscaled = pick(r, [0, float(r, 1e-4, 10), float(r, 10, 1000)]);
    const norm = pick(r, [unscaled * scale, unscaled * scale, NaN, Infinity]);
    const settings = {
      maxNorm: pick(r, [null, float(r, 0.1, 5)]),
      growthFactor: pick(r, [2, float(r, 1, 4)]),
      backoffFactor: pick(r, [0.5, float(r, 0.1, 0.9)]),
      growthInterval: pick(r, [1, r.int(1, 5), 2000]),
    };
    // the clean-step count just below the interval grows the scale; any other does not
    const control = [float(r, 0, 1), r.int(0, 1), r.int(0, 100), pick(r, [0, settings.growthInterval - 1, r.int(0, settings.growthInterval - 1)])];
    // a divergence watch's status (clean or marked before), the bits a skip at MIN_SCALE sets and the step
    const status = pick(r, [null, [0, 0], [r.int(1, 15), r.int(0, 1000)]]);
    const mark = { flag: pick(r, [4, r.int(1, 2 ** 31 - 1)]), step: r.int(0, 2 ** 31 - 1) };
    return {
      inputs: [...[ref([], [norm]), ref([], [scale]), ref([4], control)].map((x) => floatInput(x, false)), ...(status ? [intInput(ref([2], status))] : [])],
      args: ([n, s, c, st]) => (st ? [n!, s!, c!, st, settings, mark] : [n!, s!, c!, null, settings]),
      reference([n, s, c, st]) {
        const watch = st && { status: [st.data[0]!, st.data[1]!] as const, ...mark };
        const want = gradScalerUpdateRef(n!.data[0]!, s!.data[0]!, Array.from(c!.data), settings, { min: MIN_SCALE, max: MAX_SCALE }, watch);
        const close = { atol: 0, rtol: 2e-6 };
        return [
          { input: 0, want: ref([], [want.norm]), tol: Number.isFinite(want.norm) ? close : EXACT },
          { input: 1, want: ref([], [want.scale]), tol: close },
          { input: 2, want: ref([4], want.control), tol: close },
          ...(want.status ? [{ input: 3, want: ref([2], want.status), tol: EXACT }] : []),
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

/**
 * Values of a shape where float16 conversions go wrong: past its largest finite value (overflow to
 * +-Infinity), subnormals, exact ties of its rounding (multiples of 2^-12 around 1), plain ones.
 */
const halfEdges = (r: Random, s: number[]): Ref =>
  pick(r, [() => values(r, s, -7e4, 7e4), () => values(r, s, -1e-4, 1e-4), () => grid(r, s, -4, 4, 2 ** -12), () => values(r, s)])();

const castInto: UpdateCase<'castInto'> = {
  draw(r) {
    const count = r.int(1, 12);
    const dtypes: PlainDType[] = ['float32', ...(profile().f16 ? ['float16' as const] : [])];
    const vec4 = bool(r); // every size a multiple of 4: the kernel's vec4 path
    const members = Array.from({ length: count }, () => {
      const s = vec4 ? [4 * r.int(0, 625)] : bool(r) ? shape(r, 0, 3, 300) : largeShape(r, 1100, 2500, 2);
      return { from: pick(r, dtypes), to: pick(r, dtypes), add: bool(r), source: halfEdges(r, s), target: halfEdges(r, s) };
    });
    const input = (x: Ref, dtype: PlainDType) => ({ ...floatInput(x, false), dtype });
    return {
      inputs: [...members.map((m) => input(m.source, m.from)), ...members.map((m) => input(m.target, m.to))],
      args: (ts) => [ts.slice(0, count), ts.slice(count), members.map((m) => m.add)],
      // xs hold what the tensors hold (each rounded to its dtype); the cast is added in float32, then stored
      reference: (xs) =>
        members.map((m, i) => {
          const [cast, dst] = [castRef(xs[i]!, m.to), xs[count + i]!];
          const value = m.add ? ref(cast.shape, cast.data.map((v, j) => Math.fround(dst.data[j]! + v))) : cast;
          return { input: count + i, want: castRef(value, m.to), tol: EXACT };
        }),
    };
  },
};

const sliceAssign: UpdateCase<'sliceAssign'> = {
  draw(r) {
    const dims = shape(r, 1, 4, 400);
    const axis = r.int(0, dims.length - 1);
    const len = r.int(0, dims[axis]!);
    const start = r.int(0, dims[axis]! - len);
    const dst = values(r, dims);
    const src = values(r, dims.map((d, i) => (i === axis ? len : d)));
    const int = bool(r);
    const axisArg = pick(r, [axis, axis - dims.length]); // a negative axis counts from the end
    const input = (x: Ref) => (int ? intInput(ref(x.shape, x.data.map(Math.round))) : floatInput(x, false));
    return {
      inputs: [input(dst), input(src)],
      args: ([d, s]) => [d!, s!, axisArg, start],
      reference: ([d, s]) => {
        // dst's element at index (o, j, k) of [outer, n, inner] around the axis comes from src's (o, j - start, k) inside the slice
        const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
        const n = dims[axis]!;
        const want = d!.data.map((x, flat) => {
          const j = Math.floor(flat / inner) % n;
          if (j < start || j >= start + len) return x;
          const o = Math.floor(flat / (inner * n));
          return s!.data[(o * len + j - start) * inner + (flat % inner)]!;
        });
        return [{ input: 0, want: ref(dims, want), tol: EXACT }];
      },
    };
  },
};

const countTokens: UpdateCase<'countTokens'> = {
  draw(r) {
    const V = r.int(1, 70);
    const lead = bool(r) ? shape(r, 0, 2, 40) : [r.int(30, 80)]; // up to 80 x 70: chunks of rows under 4 KiB bindings
    const counts = ref([...lead, V], Array.from({ length: lead.reduce((a, b) => a * b, 1) * V }, () => r.int(0, 3)));
    const ids = ref(lead, Array.from({ length: counts.data.length / V }, () => (r.int(0, 5) === 0 ? -1 : r.int(0, V - 1)))); // -1: sampleLogits' no token
    return {
      inputs: [floatInput(counts, false), intInput(ids)],
      args: ([c, i]) => [c!, i!],
      reference: ([c, i]) => [{ input: 0, want: countTokensRef(c!, i!), tol: EXACT }],
    };
  },
};

export const UPDATE_CASES = { adamw, gradNorm, gradScalerUpdate, watchNonFinite, maskInPlace, castInto, sliceAssign, countTokens } satisfies { [K in UpdateName]: UpdateCase<K> };

