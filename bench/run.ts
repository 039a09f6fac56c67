// The benchmark suite: our engine against TensorFlow.js (webgpu backend) and jax-js (webgpu
// device), all three on the same Dawn adapter in this process. Every benchmark first checks that
// each library computed the same numbers (a mismatch is reported as an error and not timed), then
// times it. Prints one table and writes bench/results/bench-<date>.json and, for a full run, latest.json.
//
//   npm run bench                      all benchmarks
//   npm run bench -- --smoke           small sizes, one repetition (a correctness run)
//   npm run bench -- --big             also the 2048 and 4096 matmuls (slow on a CPU adapter)
//   npm run bench -- --only matmul,op  some families: matmul, op, attention, train, generate,
//                                      train-gpu, gpt2 (GPU-sized steps, GPT-2 124M; skipped on CPU
//                                      adapters unless named)
//   npm run bench -- --samples 7 --warmup 2 --target-ms 150 --no-peers
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { device } from '../src/device/device.js';
import { formatTable, LIBS, speedup, value, type Context, type Row } from './harness.js';
import { openLibs } from './peers.js';
import { attentionSuite } from './suites/attention.js';
import { elementwiseSuite } from './suites/elementwise.js';
import { generateSuite } from './suites/generate.js';
import { matmulSuite } from './suites/matmul.js';
import { gpt2Suite } from './suites/gpt2.js';
import { trainGpuSuite } from './suites/train-gpu.js';
import { trainStepSuite } from './suites/train-step.js';

const FAMILIES = ['matmul', 'op', 'attention', 'train', 'train-gpu', 'gpt2', 'generate'] as const;
type Family = (typeof FAMILIES)[number];

const args = process.argv.slice(2);
const has = (flag: string) => args.includes(flag);
const opt = (flag: string) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const num = (flag: string, dflt: number) => {
  const v = opt(flag);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${flag} expects a non-negative number, got '${v}'`);
  return n;
};
const smoke = has('--smoke');
const only = (opt('--only')?.split(',') ?? [...FAMILIES]) as Family[];
for (const f of only) if (!FAMILIES.includes(f)) throw new Error(`--only: unknown family '${f}' (known: ${FAMILIES.join(', ')})`);

const ctx: Context = {
  timing: smoke
    ? { warmup: 1, samples: 1, targetMs: 0, maxIters: 1 }
    : { warmup: num('--warmup', 2), samples: num('--samples', 7), targetMs: num('--target-ms', 150), maxIters: 50 },
  log: (line) => console.log(line),
  smoke,
  big: has('--big'),
};

const t0 = performance.now();
const libs = await openLibs({ peers: !has('--no-peers') });
if (has('--no-peers')) libs.errors = { tfjs: 'skipped (--no-peers)', jax: 'skipped (--no-peers)' };
const info = device().info;
const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  platform: `${os.type()} ${os.release()} ${os.arch()}`,
  node: process.version,
  lpNumThreads: process.env.LP_NUM_THREADS,
};
const gitRev = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
})();
const ourVersion = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
console.log(`adapter: ${info.description} (${info.backend}, vendor ${info.vendor || '-'}, architecture ${info.architecture || '-'})`);
console.log(`machine: ${machine.cpus} x ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node}`);
console.log(`libraries: ours ${ourVersion}${gitRev ? ` (${gitRev})` : ''}, TF.js ${libs.versions.tfjs ?? libs.errors.tfjs}, jax-js ${libs.versions.jax ?? libs.errors.jax}`);
console.log(smoke ? 'mode: SMOKE (small sizes, 1 repetition: checks correctness, timings are not measurements)' : `timing: ${JSON.stringify(ctx.timing)}`);

// The train step runs first: our peak GPU bytes are the process's peak so far. Generation reuses
// its trained model.
const byFamily = new Map<Family, Row[]>();
let details: Record<string, unknown> = {};
if (only.includes('train') || only.includes('generate')) {
  const r = await trainStepSuite(libs, ctx);
  if (only.includes('train')) byFamily.set('train', r.rows);
  details = r.details;
  if (only.includes('generate')) byFamily.set('generate', await generateSuite(r.trainer.model, ctx));
}
const named = (family: Family) => opt('--only')?.split(',').includes(family) ?? false;
if (only.includes('train-gpu')) byFamily.set('train-gpu', await trainGpuSuite(ctx, named('train-gpu')));
if (only.includes('gpt2')) byFamily.set('gpt2', await gpt2Suite(ctx, named('gpt2')));
if (only.includes('matmul')) byFamily.set('matmul', await matmulSuite(libs, ctx));
if (only.includes('op')) byFamily.set('op', await elementwiseSuite(libs, ctx));
if (only.includes('attention')) byFamily.set('attention', await attentionSuite(libs, ctx));
const rows = FAMILIES.flatMap((f) => byFamily.get(f) ?? []);

const table = formatTable(rows);
console.log(`\n${table}\n`);
console.log('ratios are speedups (their time / our time): > 1 means ours is faster. ERROR = failed or computed different numbers (not timed).');
const seconds = (performance.now() - t0) / 1000;
console.log(`total ${seconds.toFixed(0)} s`);

const date = new Date().toISOString();
const result = {
  date,
  mode: smoke ? 'smoke' : 'full',
  command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`,
  adapter: info,
  machine,
  versions: { ours: ourVersion, oursCommit: gitRev, ...libs.versions },
  peerErrors: libs.errors,
  timing: ctx.timing,
  seconds,
  rows: rows.map((r) => ({
    ...r,
    values: Object.fromEntries(LIBS.map((l) => [l, value(r, r.cells[l]) ?? null])),
    speedupVsTfjs: speedup(r, 'tfjs') ?? null,
    speedupVsJax: speedup(r, 'jax') ?? null,
  })),
  trainStep: details,
  table,
};
mkdirSync('bench/results', { recursive: true });
const json = JSON.stringify(result, null, 2) + '\n';
const stamp = date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
const file = `bench/results/bench-${stamp}${smoke ? '-smoke' : ''}.json`;
writeFileSync(file, json);
// latest.json is the last full run (the README's table); an --only run keeps to its dated file
if (!opt('--only')) writeFileSync(smoke ? 'bench/results/latest-smoke.json' : 'bench/results/latest.json', json);
console.log(`wrote ${file}`);
// a peer's error is a result (it is in the table); our engine failing or mismatching is a failure
device().destroy();
process.exit(rows.some((r) => r.cells.ours.error) ? 1 : 0);
