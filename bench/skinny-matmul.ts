// Kernel lab: the skinny matmul kernels (src/kernels/wgsl/matmul-skinny.ts) and the tiled path of
// this adapter, on the products of decoding: M rows (a token for each of M sequences) times a
// Linear's weight [N, K] transposed, at GPT-2's shapes. Each product is timed as `calls` back to
// back (one readback at the end), the kernels interleaved round after round so that a busy machine
// slows them alike; medians reported. Each kernel's output is checked against a float64 host
// product on sampled entries first. Prints a table, writes bench/results/skinny-matmul.json.
//   node scripts/run-ts.mjs bench/skinny-matmul.ts [--rounds 5] [--rows 1,4,8] [--shapes 768x2304,3072x768]
import { mkdirSync, writeFileSync } from 'node:fs';
import { initDevice, device } from '../src/device/device.js';
import { matmul, tensor } from '../src/ops/index.js';
import { scope } from '../src/tensor/scope.js';
import { profile, setProfile, SKINNY_KERNELS, type ProfileOverrides } from '../src/kernels/profile.js';
import { flag, median, pairsOf, randomFloats } from './harness.js';

const rounds = Number(flag('rounds', '5'));
const rowCounts = flag('rows', '1,4,8').split(',').map(Number);
// c_attn, c_fc, the MLP's c_proj, the tied LM head (K x N: the weight is [N, K])
const shapes = pairsOf(flag('shapes', '768x2304,768x3072,3072x768,768x50257'));

await initDevice();
const tiled = profile().matmul.tiled;
const kernels: { name: string; overrides: ProfileOverrides }[] = [
  ...SKINNY_KERNELS.map((k) => ({ name: k, overrides: { matmul: { skinnyRows: Infinity, skinny: k } } })),
  { name: `${tiled} tiles`, overrides: { matmul: { skinnyRows: 0 } } },
];

interface Result { M: number; K: number; N: number; kernel: string; ms: number; weightGBs: number }
const results: Result[] = [];
for (const [K, N] of shapes) {
  for (const M of rowCounts) {
    const a = tensor(randomFloats(M * K, 1), [M, K]);
    const w = tensor(randomFloats(N * K, 2, -0.1, 0.1), [N, K]);
    const [x, wv] = [await a.toArray(), await w.toArray()];
    const calls = N * K > 1e7 ? 3 : 10;
    const times = new Map<string, number[]>(kernels.map((k) => [k.name, []]));
    for (const k of kernels) {
      setProfile(k.overrides);
      const got = (await scope(() => matmul(a, w, { transB: true }).toArray())) as Float32Array;
      for (let e = 0; e < got.length; e += Math.max(1, Math.floor(got.length / 97))) {
        const [m, n] = [Math.floor(e / N), e % N];
        let want = 0;
        for (let k = 0; k < K; k++) want += x[m * K + k]! * wv[n * K + k]!;
        if (Math.abs(got[e]! - want) > 1e-4 * Math.sqrt(K) + 1e-4 * Math.abs(want)) throw new Error(`${k.name}: C[${m}, ${n}] = ${got[e]}, want ${want}`);
      }
    }
    for (let r = 0; r < rounds; r++) {
      for (const k of kernels) {
        setProfile(k.overrides);
        const t0 = performance.now();
        await scope(async () => {
          let c = matmul(a, w, { transB: true });
          for (let i = 1; i < calls; i++) c = matmul(a, w, { transB: true });
          await c.toArray();
        });
        times.get(k.name)!.push((performance.now() - t0) / calls);
      }
    }
    setProfile(null);
    for (const [kernel, ts] of times) {
      const ms = median(ts);
      results.push({ M, K, N, kernel, ms, weightGBs: (4 * N * K) / ms / 1e6 });
    }
    const row = [...times.keys()].map((k) => `${k} ${median(times.get(k)!).toFixed(2)}`).join(' | ');
    console.log(`M ${M}, [${M}x${K}]·[${N}x${K}]^T, ms: ${row}`);
    a.dispose();
    w.dispose();
  }
}
const info = device().info;
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/skinny-matmul.json', JSON.stringify({ date: new Date().toISOString(), adapter: info.description || info.vendor, rounds, results }, null, 2) + '\n');
console.log('wrote bench/results/skinny-matmul.json');
