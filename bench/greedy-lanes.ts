// Kernel lab: greedy sampleLogits (temperature 0; src/kernels/wgsl/sample.ts) at several lane
// counts a row, the profile's choice (greedyLanes) and the argmax reduction, over R rows of V
// logits. Each sample is `calls` calls, timed by timestamp queries (the kernels' own time: a busy
// machine's wall clock swung 0.6-2.4x between identical kernels here) or, with --wall, by the
// wall clock to a sync; every (shape, variant) once a round, in a fresh seeded order; medians
// reported. Each variant's ids are checked against a host first-index argmax first.
//   node scripts/run-ts.mjs bench/greedy-lanes.ts [--rounds 25] [--lanes 1,32] [--shapes 8x50257,1x50257,256x65,64x65,8x65] [--wall]
import { initDevice, device } from '../src/device/device.js';
import { argmax, sampleLogits, tensor } from '../src/ops/index.js';
import { scope } from '../src/tensor/scope.js';
import { Generator } from '../src/tensor/generator.js';
import { profile, setProfile, type ProfileOverrides } from '../src/kernels/profile.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { flag, median, pairsOf, randomFloats } from './harness.js';

const rounds = Number(flag('rounds', '25'));
const laneCounts = flag('lanes', '1,32').split(',').map(Number);
const shapes = pairsOf(flag('shapes', '8x50257,1x50257,256x65,64x65,8x65'));
const wall = process.argv.includes('--wall');

await initDevice();
if (!wall && !device().info.features.includes('timestamp-query')) throw new Error('greedy-lanes: this adapter has no timestamp queries; time with --wall');
const greedy = (l: Tensor, u: Tensor) => sampleLogits(l, u, { temperature: 0 });
const variants: { name: string; run: (l: Tensor, u: Tensor) => Tensor; overrides: ProfileOverrides }[] = [
  { name: 'argmax', run: (l) => argmax(l, -1), overrides: {} },
  { name: `profile ${JSON.stringify(profile().greedyLanes)}`, run: greedy, overrides: {} },
  ...laneCounts.map((lanes) => ({ name: `${lanes} lane${lanes === 1 ? '' : 's'}`, run: greedy, overrides: { greedyLanes: [{ lanes }] } })),
];

const inputs = shapes.map(([R, V], i) => {
  const data = Float32Array.from(randomFloats(R * V, i + 1, -4, 4), (x) => Math.round(x * 8) / 8); // ties
  const want = Array.from({ length: R }, (_, r) => data.subarray(r * V, (r + 1) * V).reduce((best, x, j, row) => (x > row[best]! ? j : best), 0));
  return { R, V, want, logits: tensor(data, [R, V]), u: tensor(new Float32Array(R)) };
});
// more calls for small shapes; a count of its own per shape, as the wait pacer (src/device/wait-pacer.ts)
// knows work by its pipelines and grids, which [8, 65] and [8, 50257] share at one lane count
const callsOf = (i: number) => (inputs[i]!.R * inputs[i]!.V > 1e5 ? 5 : 20) + i;

async function sample(i: number, v: (typeof variants)[number]): Promise<number> {
  const { logits, u } = inputs[i]!;
  setProfile(v.overrides);
  const calls = callsOf(i);
  if (!wall) {
    let ms = 0;
    for (let c = 0; c < calls; c++) ms += (await device().timeDispatches(() => scope(() => void v.run(logits, u))))!;
    return ms / calls;
  }
  const t0 = performance.now();
  for (let c = 0; c < calls; c++) scope(() => void v.run(logits, u));
  await device().sync();
  return (performance.now() - t0) / calls;
}

for (const [i, x] of inputs.entries()) {
  for (const v of variants) {
    setProfile(v.overrides);
    const got = [...(await scope(async () => v.run(x.logits, x.u).toArray()))];
    if (got.some((id, r) => id !== x.want[r])) throw new Error(`greedy-lanes: ${v.name} over [${x.R}, ${x.V}] is not the host argmax`);
    await sample(i, v); // compiles
  }
}
const jobs = inputs.flatMap((_, i) => variants.map((v) => [i, v] as const));
const times = new Map<string, number[]>();
const order = new Generator(1);
for (let r = 0; r < rounds; r++) {
  const shuffled = jobs.map((job) => [order.nextFloat(), job] as const).sort((a, b) => a[0] - b[0]);
  for (const [, [i, v]] of shuffled) times.set(`${i} ${v.name}`, [...(times.get(`${i} ${v.name}`) ?? []), await sample(i, v)]);
}
setProfile(null);
console.log(`${device().info.description}: ms a call, medians of ${rounds} rounds (${wall ? 'wall clock to a sync' : 'kernel time by timestamp queries'})`);
console.log(`| shape | ${variants.map((v) => v.name).join(' | ')} |`);
for (const [i, { R, V }] of inputs.entries()) console.log(`| [${R}, ${V}] | ${variants.map((v) => median(times.get(`${i} ${v.name}`)!).toFixed(3)).join(' | ')} |`);
