// The dynamic int8 quantization of activations (int8.ts `int8-quantize-rows`), which feeds the
// int8 tensor-core matmul in prompt processing, against a float64 host reference on lavapipe, in
// both row layouts (64 lanes and a tree reduction per row; a lane per row). The tensor-core
// product itself cannot run here (no subgroup matrices): subgroup-matrix.test.ts compiles it on
// Dawn's null backend and self-check.test.ts checks the device-start check's logic.
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { roundTiesEven } from '../src/check/reference/index.js';
import { device } from '../src/index.js';
import { setProfile } from '../src/kernels/profile.js';
import { launchQuantizeRows } from '../src/kernels/wgsl/int8.js';
import { fcParams, setupDevice, valuesArb } from './helpers.js';

beforeAll(setupDevice);
afterEach(() => setProfile(null));

/** The kernel's q (int8 [rows, K]) and xs ([rows]) for x [rows, K]. */
async function quantizeOnDevice(x: Float32Array, rows: number, K: number): Promise<{ q: Int8Array; xs: Float32Array }> {
  const dev = device();
  const buffers = [dev.alloc(Math.max(4, 4 * rows * K), 'test x'), dev.alloc(Math.max(4, rows * K), 'test q'), dev.alloc(Math.max(4, 4 * rows), 'test xs')];
  const [xb, qb, sb] = buffers as [GPUBuffer, GPUBuffer, GPUBuffer];
  try {
    dev.write(xb, x);
    launchQuantizeRows(xb, qb, sb, rows, K);
    return { q: new Int8Array(await dev.read(qb, rows * K)), xs: new Float32Array(await dev.read(sb, 4 * rows)) };
  } finally {
    buffers.forEach((b) => dev.release(b));
  }
}

/** Checks q and xs against float64: xs = max|x| / 127 (float32 rounding; 0 for zeros), q = round(x / xs) (either neighbour within float32 error of a tie), |x - q xs| <= xs / 2. */
function expectQuantized(x: Float32Array, rows: number, K: number, q: Int8Array, xs: Float32Array): void {
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * K, (r + 1) * K);
    const max = row.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const s = xs[r]!;
    // float32 rounding; a GPU may flush a subnormal scale (rows of tiny values) to zero
    expect(Math.abs(s - max / 127), `row ${r} scale`).toBeLessThanOrEqual(2 ** -21 * (max / 127) + 2 ** -126);
    for (let k = 0; k < K; k++) {
      const got = q[r * K + k]!;
      if (s === 0) {
        expect(got, `row ${r} of zeros (or of subnormals)`).toBe(0);
        continue;
      }
      const t = row[k]! / s; // float64 quotient by the scale the kernel stored
      const near = Math.abs(Math.abs(t - Math.floor(t)) - 0.5) < 1e-5 * Math.max(1, Math.abs(t));
      const want = Math.max(-127, Math.min(127, roundTiesEven(t))) + 0; // no -0: int8 has none
      if (near) expect([Math.floor(t), Math.ceil(t)].map((v) => Math.max(-127, Math.min(127, v))), `[${r}, ${k}] near a tie`).toContain(got);
      else expect(got, `[${r}, ${k}] = round(${row[k]} / ${s})`).toBe(want);
      expect(Math.abs(row[k]! - got * s), `[${r}, ${k}] error`).toBeLessThanOrEqual((s / 2) * (1 + 1e-5));
    }
  }
}

describe('int8 quantization of activations (int8-quantize-rows)', () => {
  const rowsArb = fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(13, 64, 257));
  const kArb = fc.constantFrom(4, 8, 12, 64, 68, 132);
  const layouts = [{ rowLanes: 64 as const }, { rowLanes: 1 as const }];

  it.each(layouts)('equals float64 per row (scale = max|x| / 127, q = round(x / scale)), rows of zeros and outliers, rowLanes $rowLanes', async (layout) => {
    setProfile(layout);
    const input = fc.tuple(rowsArb, kArb).chain(([rows, K]) =>
      fc.tuple(fc.constant([rows, K] as const), valuesArb(Math.min(rows * K, 2048), -4, 4), fc.integer({ min: 0, max: rows - 1 }), fc.float({ min: 1, max: 1e4, noNaN: true })),
    );
    await fc.assert(
      fc.asyncProperty(input, async ([[rows, K], values, special, outlier]) => {
        const x = Float32Array.from({ length: rows * K }, (_, i) => values[i % values.length]! * (1 + Math.floor(i / values.length)));
        x.fill(0, special * K, (special + 1) * K); // a row of zeros: scale 0, q 0
        if (rows > 1) x[((special + 1) % rows) * K] = -outlier; // a row with one large value
        const { q, xs } = await quantizeOnDevice(x, rows, K);
        expectQuantized(x, rows, K, q, xs);
      }),
      fcParams(8),
    );
  });

  it('rounds ties to even where the scale is exactly 1', async () => {
    const x = Float32Array.from([127, 2.5, -2.5, 3.5, 0.5, -0.5, 1.5, -126.5]);
    const { q, xs } = await quantizeOnDevice(x, 1, 8);
    expect(xs[0]).toBe(1);
    expect([...q]).toEqual([127, 2, -2, 4, 0, 0, 2, -126]);
  });

  // Told by the bits (WGSL may assume finite floats): a NaN was taken by neither max nor round and
  // quantized to -127 (lavapipe) under a finite scale, a silent finite output row of the product.
  it.each(layouts)('a row holding a NaN or Inf gets a NaN scale and zeros (its product row NaN, as float32\'s); other rows as float64, rowLanes $rowLanes', async (layout) => {
    setProfile(layout);
    const K = 8;
    const rows = [[1, -2, 3, 0.5, 0, 4, -1, 2], [1, NaN, 3, 0.5, 0, 4, -1, 2], [Infinity, 1, 0, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7, -Infinity], [0.25, 0.5, -0.75, 1, 0, 0, 0, 0.1]];
    const x = Float32Array.from(rows.flat());
    const { q, xs } = await quantizeOnDevice(x, rows.length, K);
    for (const r of [1, 2, 3]) {
      expect(xs[r], `row ${r} scale`).toBeNaN();
      expect([...q.subarray(r * K, (r + 1) * K)], `row ${r}`).toEqual(new Array(K).fill(0));
    }
    for (const r of [0, 4]) expectQuantized(x.subarray(r * K, (r + 1) * K), 1, K, q.subarray(r * K, (r + 1) * K), xs.subarray(r, r + 1));
  });

  it('refuses rows that are not whole words', () => {
    const b = device().alloc(64, 'test');
    expect(() => launchQuantizeRows(b, b, b, 2, 6)).toThrow(/int8-quantize-rows: rows of 6 values are not whole words \(K must be a multiple of 4\)/);
    device().release(b);
  });
});
