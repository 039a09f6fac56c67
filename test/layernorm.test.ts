// layerNorm beyond the op table's drawn calls (test/ops.test.ts): rows around a large offset, wide
// rows, constant rows, many rows (the weight gradient's chunks), more rows than a grid axis holds,
// determinism, memory and errors; every layout (CPU adapters': a lane per row, reading scalars or
// vec4s (profile().rowVec4), a lane per column of the weight gradient; GPUs': 64 lanes a row, the
// weight gradient's sums split, profile().splitSums).
// Tolerances, |got - want| <= atol + rtol |want|:
//   forward                      atol 1e-5, rtol 1e-4  (lavapipe's worst: 3.5e-7 (1 + |y|))
//   forward, mean ~1000, std ~1  atol 1e-3, rtol 1e-3  (the f32 mean is off by ~ulp(1000) = 6e-5,
//                                                       which xhat inherits; PyTorch's f32 path too)
//   gradients (x, weight, bias)  atol 1e-3, rtol 1e-2  against float64 central differences
import fc from 'fast-check';
import { beforeAll, describe, expect, it, afterAll } from 'vitest';
import { setProfile } from '../src/kernels/profile.js';
import { layerNorm, scope, tensor, type Tensor } from '../src/index.js';
import { checkGrad } from './gradcheck.js';
import { expectBuffersReturned, expectClose, fcParams, seededValues, setupDevice, toTensor, valuesArb } from './helpers.js';
import { layerNormRef, ref, type Ref } from '../src/check/reference/index.js';

beforeAll(setupDevice);

const cArb = fc.oneof(fc.integer({ min: 1, max: 70 }), fc.constantFrom(1, 2, 3, 5, 7, 13, 31, 61, 67));

/** Runs layerNorm on refs, bias optional. */
function run(x: Ref, w: Ref, b: Ref | null, eps?: number): Tensor {
  return layerNorm(toTensor(x), toTensor(w), b ? toTensor(b) : null, eps);
}

/** Per-row variance of a [..., C] array is at least `min` (keeps rstd, and so the gradients, tame). */
function varianceAtLeast(shape: number[], v: number[], min: number): boolean {
  const C = shape.at(-1)!;
  if (C === 1) return true;
  for (let r = 0; r < v.length / C; r++) {
    const row = v.slice(r * C, (r + 1) * C);
    const mu = row.reduce((a, b) => a + b, 0) / C;
    if (row.reduce((a, b) => a + (b - mu) ** 2, 0) / C < min) return false;
  }
  return true;
}

/** The finite differences of the fixed gradient cases, taken under the first layout and compared again under the others. */
const NUMERIC = { rows768: new Map<string, number>(), wide: new Map<string, number>() };

// Every layout (src/kernels/wgsl/row.ts, layernorm.ts), whichever this adapter would pick: a lane
// per row reads rows of whole vec4s (C a multiple of 4) a vec4 at a time where rowVec4 says.
const LAYOUTS = [
  { lanes: 1, vec4: false, title: 'a lane per row (scalar reads), a lane per column sum' },
  { lanes: 1, vec4: true, title: 'a lane per row (vec4 reads where C % 4 = 0), a lane per column sum' },
  { lanes: 64, vec4: false, title: '64 lanes per row, split column sums' },
] as const;
for (const { lanes, vec4, title } of LAYOUTS) {
  describe(title, () => {
    beforeAll(() => setProfile({ rowLanes: lanes, rowVec4: vec4, splitSums: lanes === 64 }));
    afterAll(() => setProfile(null));

    describe('layerNorm forward', () => {
      it('rows around a large common offset, std >= 0.5 (two-pass variance: no catastrophic cancellation)', async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.tuple(fc.integer({ min: 1, max: 6 }), cArb.filter((c) => c > 1)).chain(([r, C]) =>
              fc.tuple(fc.constant([r, C] as number[]), valuesArb(r * C, -3, 3), fc.constantFrom(100, -1000, 1000)),
            ).filter(([s, v]) => varianceAtLeast(s, v, 0.25)), // std >= 0.5: well conditioned, but E[x^2] - E[x]^2 would fail
            ([shape, v, off]) =>
              scope(async () => {
                const C = shape[1]!;
                const x = ref(shape, v.map((a) => Math.fround(a + off)));
                const w = ref([C], seededValues(C, C, 0.5, 1.5));
                const b = ref([C], seededValues(C, C + 1));
                await expectClose(run(x, w, b), layerNormRef(x, w, b), 1e-3, 1e-3, `layerNorm offset ${off}`);
              }),
          ),
          fcParams(15),
        );
      });

      // 3000 ± 0.01 (mean / std ~ 5e5): the f32 mean's error δ (>= ulp(3000) / 2) shifts each row's y
      // by δ rstd (PyTorch's f32 path too: not tested here) and, in a plain Σd², scales it by
      // 1 - δ² / 2σ² (2.4e-3 measured on lavapipe, 8e-9 after); the corrected two-pass Σd² - (Σd)² / C takes the scale's
      // error out. y's spread (its float64 population std, which the shift leaves alone) against
      // sqrt(var / (var + eps)) from float64: relative 1e-5.
      it('scales rows around a large offset with a small spread by their float64 variance', () =>
        scope(async () => {
          const [R, C, eps] = [4, 768, 1e-9];
          const x = ref([R, C], seededValues(R * C, 11, -0.01, 0.01).map((v) => Math.fround(3000 + v)));
          const w = ref([C], new Array<number>(C).fill(1));
          const y = [...(await run(x, w, null, eps).toArray())];
          const spread = (row: number[]) => {
            const mean = row.reduce((a, b) => a + b, 0) / C;
            return row.reduce((a, b) => a + (b - mean) ** 2, 0) / C;
          };
          for (let r = 0; r < R; r++) {
            const xVar = spread([...x.data.slice(r * C, (r + 1) * C)]);
            const want = Math.sqrt(xVar / (xVar + eps));
            expect(Math.abs(Math.sqrt(spread(y.slice(r * C, (r + 1) * C))) - want) / want).toBeLessThan(1e-5);
          }
        }));

      it('handles wide rows (C = 1000, 4099)', () =>
        scope(async () => {
          for (const C of [1000, 4099]) {
            const x = ref([3, C], seededValues(3 * C, C, -10, 10).map(Math.fround));
            const w = ref([C], seededValues(C, 2 * C, -2, 2).map(Math.fround));
            const b = ref([C], seededValues(C, 3 * C, -2, 2).map(Math.fround));
            await expectClose(run(x, w, b), layerNormRef(x, w, b), 1e-5, 1e-4, `layerNorm C=${C}`);
          }
        }));

      it('maps a constant row to the bias (zero variance: xhat = 0)', () =>
        scope(async () => {
          const x = ref([2, 5], [3, 3, 3, 3, 3, -7, -7, -7, -7, -7]);
          const w = ref([5], [1, 2, 3, 4, 5]);
          const b = ref([5], [0.5, -1, 2, 0, 9]);
          await expectClose(run(x, w, b), ref([2, 5], [...b.data, ...b.data]), 1e-6, 0, 'constant rows');
        }));
    });

    describe('layerNorm backward', () => {
      it('many rows (summed in chunks, the last one partial): weight and bias gradients match finite differences', async () => {
        await fc.assert(
          fc.asyncProperty(fc.constantFrom(65, 130, 1031), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 1000 }), (R, C, seed) =>
            checkGrad({
              name: `layerNorm [${R}, ${C}] dweight, dbias`,
              inputs: [ref([R, C], seededValues(R * C, seed, -3, 3)), ref([C], seededValues(C, seed + 1, -2, 2)), ref([C], seededValues(C, seed + 2, -2, 2))],
              differentiable: [false, true, true],
              engine: ([x, wt, bs]) => layerNorm(x!, wt!, bs!),
              reference: ([x, wt, bs]) => layerNormRef(x!, wt!, bs!),
            }),
          ),
          fcParams(6),
        );
      });

      it('768 rows of 130 (several chunks and several column workgroups): weight and bias gradients', () =>
        checkGrad({
          name: 'layerNorm [768, 130] dweight, dbias',
          inputs: [ref([768, 130], seededValues(768 * 130, 21, -3, 3)), ref([130], seededValues(130, 22, -2, 2)), ref([130], seededValues(130, 23, -2, 2))],
          differentiable: [false, true, true],
          engine: ([x, wt, bs]) => layerNorm(x!, wt!, bs!),
          reference: ([x, wt, bs]) => layerNormRef(x!, wt!, bs!),
          numeric: NUMERIC.rows768,
        }));

      it('wide rows (C = 1000): gradients of all three inputs', () =>
        checkGrad({
          name: 'layerNorm C=1000',
          inputs: [ref([2, 1000], seededValues(2000, 5, -2, 2)), ref([1000], seededValues(1000, 6, -2, 2)), ref([1000], seededValues(1000, 7))],
          engine: ([x, w, b]) => layerNorm(x!, w!, b!),
          reference: ([x, w, b]) => layerNormRef(x!, w!, b!),
          numeric: NUMERIC.wide,
        }));

      it('more rows than one grid axis holds (66000 rows): dx, dweight, dbias', () =>
        scope(async () => {
          const [R, C] = [66_000, 2];
          // rows (a, -a): xhat = (1, -1) (up to eps), so with dy = 1: dw = (R, -R), db = (R, R) and
          // dx = rstd (w - mean(w) - xhat mean(w xhat)) = 0 for w = (2, 3)
          const xs = new Float32Array(R * C);
          for (let r = 0; r < R; r++) [xs[2 * r], xs[2 * r + 1]] = [1 + (r % 5), -1 - (r % 5)];
          const x = tensor(xs, [R, C]);
          const w = tensor([2, 3]);
          const b = tensor([0, 1]);
          for (const t of [x, w, b]) t.requiresGrad = true;
          const y = layerNorm(x, w, b);
          y.sum().backward();
          const yv = await y.toArray();
          expect([yv[0], yv[1], yv[2 * R - 2], yv[2 * R - 1]].map((v) => +v.toFixed(4))).toEqual([2, -2, 2, -2]);
          await expectClose(b.grad!, ref([2], [R, R]), 0, 0, 'dbias');
          await expectClose(w.grad!, ref([2], [R, -R]), 0, 1e-4, 'dweight'); // 66000 f32 adds in one lane
          const dx = await x.grad!.toArray();
          expect(Array.from(dx).reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeLessThan(1e-5);
        }));

      it('dweight and dbias are deterministic (bitwise equal across runs)', () =>
        scope(async () => {
          const grads = async () => {
            const x = toTensor(ref([300, 37], seededValues(300 * 37, 11)));
            const w = toTensor(ref([37], seededValues(37, 12)));
            const b = toTensor(ref([37], seededValues(37, 13)));
            w.requiresGrad = b.requiresGrad = true;
            layerNorm(x, w, b).mul(toTensor(ref([300, 37], seededValues(300 * 37, 14)))).sum().backward();
            return [...(await w.grad!.toArray()), ...(await b.grad!.toArray())];
          };
          expect(await grads()).toEqual(await grads());
        }));

      it('returns every buffer after forward and backward', () =>
        expectBuffersReturned(async () => {
          const x = toTensor(ref([4, 6], seededValues(24, 1)));
          const w = toTensor(ref([6], seededValues(6, 2)));
          for (const t of [x, w]) t.requiresGrad = true;
          x.layerNorm(w).sum().backward();
          await x.grad!.toArray();
        }));
    });

    describe('layerNorm errors name the op', () => {
      it('rejects bad dtypes, shapes and eps', () =>
        scope(() => {
          const x = tensor([[1, 2, 3]]);
          const w = tensor([1, 1, 1]);
          expect(() => layerNorm(x, tensor([1, 1]))).toThrow(/^layerNorm: weight must have shape \[3\], got float32\[2\]/);
          expect(() => layerNorm(x, tensor([[1, 1, 1]]))).toThrow(/^layerNorm: weight must have shape \[3\], got float32\[1, 3\]/);
          expect(() => layerNorm(x, w, tensor([0, 0, 0, 0]))).toThrow(/^layerNorm: bias must have shape \[3\], got float32\[4\]/);
          expect(() => layerNorm(tensor(new Int32Array([1, 2, 3]), [1, 3]), w)).toThrow(/^layerNorm: argument 'input' must be a float32 or float16 tensor, got int32\[1, 3\]$/);
          expect(() => layerNorm(x, tensor(new Int32Array([1, 1, 1])))).toThrow(/^layerNorm: argument 'weight' must be a float32 or float16 tensor, got int32\[3\]$/);
          expect(() => layerNorm(tensor(2), tensor([1]))).toThrow(/^layerNorm: input must have rank >= 1, got float32\[\]$/);
          expect(() => layerNorm(x, w, null, -1)).toThrow(/^layerNorm: eps must be a finite number >= 0, got -1/);
          expect(() => layerNorm(x, w, null, 1e39)).toThrow(/^layerNorm: argument 'eps' must be within float32's range \(\|x\| < 3\.4e38: a kernel takes it as float32\), got number 1e\+39$/); // the kernel's float32 uniform
        }));
    });
  });
}
