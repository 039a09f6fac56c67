// The benchmark suite: our engine against TensorFlow.js (webgpu backend), jax-js (webgpu device)
// and webgpu-torch (praeclarum's), all four on the same Dawn adapter in this process. Every benchmark first checks that
// each library computed the same numbers (a mismatch is reported as an error and not timed), then
// times it. Prints one table and writes bench/results/bench-<start time>.json (after each family,
// "complete": false until the end) and, for a full run, latest.json.
//
//   npm run bench                      all benchmarks
//   npm run bench -- --smoke           small sizes, one repetition (a correctness run)
//   npm run bench -- --big             also the 2048 and 4096 matmuls (slow on a CPU adapter; 8192 on GPUs)
//   npm run bench -- --only matmul --matmul-square 4096,8192   only these square products
//                                      (with GPT_ROBUSTNESS=0: the figure of Dawn's robustness off)
//   npm run bench -- --only matmul,op  some families: matmul, op, attention, train, generate,
//                                      train-gpu, gpt2 (GPU-sized steps, GPT-2 124M; skipped on CPU
//                                      adapters unless named)
//   npm run bench -- --samples 7 --warmup 2 --target-ms 150 --no-peers
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { device } from '../src/device/device.js';
import { dawnToggles, envSetting } from '../src/device/platform.js';
import { FAMILIES, parseBenchArgs, type Family } from './args.js';
import { failure, formatTable, LIBS, PEERS, peersNa, speedup, value, type Context, type Row } from './harness.js';
import { openLibs } from './peers.js';
import { adapterName, engineCommit } from './provenance.js';
import { attentionSuite } from './suites/attention.js';
import { elementwiseSuite } from './suites/elementwise.js';
import { generateSuite } from './suites/generate.js';
import { matmulSuite } from './suites/matmul.js';
import { gpt2Suite } from './suites/gpt2.js';
import { trainGpuSuite } from './suites/train-gpu.js';
import { trainStepSuite } from './suites/train-step.js';

const args = process.argv.slice(2);
const { smoke, big, peers, only, named, timing, matmulSquare } = (() => {
  try {
    return parseBenchArgs(args);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
})();
const ctx: Context = { timing, log: (line) => console.log(line), smoke, big, matmulSquare };

const t0 = performance.now();
const libs = await openLibs({ peers });
if (!peers) libs.errors = Object.fromEntries(PEERS.map((l) => [l, 'skipped (--no-peers)']));
const info = device().info;
const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  platform: `${os.type()} ${os.release()} ${os.arch()}`,
  node: process.version,
  lpNumThreads: process.env.LP_NUM_THREADS,
};
const commit = engineCommit();
// GPT_ROBUSTNESS=0 and GPT_DAWN_SAFE=1 change what the kernels cost: a result names its flags
const dawnFlags = dawnToggles(envSetting);
const ourVersion = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
console.log(`adapter: ${adapterName(info)} (${info.backend}, vendor ${info.vendor || '-'}, architecture ${info.architecture || '-'})`);
console.log(`dawn flags: ${dawnFlags.join(' ')}`);
console.log(`machine: ${machine.cpus} x ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node}`);
console.log(`libraries: ours ${ourVersion} (${commit ?? 'commit unknown'}), TF.js ${libs.versions.tfjs ?? libs.errors.tfjs}, jax-js ${libs.versions.jax ?? libs.errors.jax}, webgpu-torch ${libs.versions.webgpuTorch ?? libs.errors.webgpuTorch}`);
console.log(smoke ? 'mode: SMOKE (small sizes, 1 repetition: checks correctness, timings are not measurements)' : `timing: ${JSON.stringify(ctx.timing)}`);

const date = new Date().toISOString();
const stamp = date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
const file = `bench/results/bench-${stamp}${smoke ? '-smoke' : ''}.json`;
mkdirSync('bench/results', { recursive: true });
const byFamily = new Map<Family, Row[]>();
let details: Record<string, unknown> = {};

/** The result file as it stands; written after every family, so a run stopped by a time limit keeps the families it finished. */
function save(done: boolean): { table: string; seconds: number } {
  const rows = FAMILIES.flatMap((f) => byFamily.get(f) ?? []);
  const table = formatTable(rows);
  const seconds = (performance.now() - t0) / 1000;
  const result = {
    date,
    mode: smoke ? 'smoke' : 'full',
    complete: done,
    familiesDone: FAMILIES.filter((f) => byFamily.has(f)),
    command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`,
    adapter: info,
    dawnFlags,
    machine,
    versions: { ours: ourVersion, oursCommit: commit, ...libs.versions },
    peerErrors: libs.errors,
    timing: ctx.timing,
    seconds,
    rows: rows.map((r) => ({
      ...r,
      values: Object.fromEntries(LIBS.map((l) => [l, value(r, r.cells[l]) ?? null])),
      speedupVsTfjs: speedup(r, 'tfjs') ?? null,
      speedupVsJax: speedup(r, 'jax') ?? null,
      speedupVsWebgpuTorch: speedup(r, 'webgpuTorch') ?? null,
    })),
    trainStep: details,
    table,
  };
  const json = JSON.stringify(result, null, 2) + '\n';
  writeFileSync(file, json);
  // latest.json is the last full run (the README's table); an --only run keeps to its dated file
  if (done && only.length === FAMILIES.length && !matmulSquare) writeFileSync(smoke ? 'bench/results/latest-smoke.json' : 'bench/results/latest.json', json);
  return { table, seconds };
}
/** A family that threw: one row saying why, so that the families after it still run and are saved. */
const stopped = (family: Family, e: unknown): Row[] => {
  const why = failure(e);
  console.log(`${family}: ERROR ${why}`);
  return [{ family, name: 'the family stopped', unit: 'info', cells: { ours: { error: why }, ...peersNa('not run') } }];
};
const run = async (family: Family, suite: () => Promise<Row[]>) => {
  if (!only.includes(family)) return;
  byFamily.set(family, await suite().catch((e: unknown) => stopped(family, e)));
  save(false);
};

save(false); // the adapter and flags, before a family that a time limit may cut

// The train step runs first: our peak GPU bytes are the process's peak so far. Generation reuses
// its trained model. The families the issues' GPU targets name come before op and attention (no
// target figures), which a time limit (a GPU session's) then cuts first; the table keeps FAMILIES' order.
if (only.includes('train') || only.includes('generate')) {
  // for generation alone, the trained model is all that is needed: no peers' steps
  const trained = await trainStepSuite(only.includes('train') ? libs : { ...libs, tf: null, jax: null, torch: null }, ctx).catch((e: unknown) => e as Error);
  const failed = trained instanceof Error;
  if (!failed) details = trained.details;
  await run('train', async () => (failed ? Promise.reject(trained) : trained.rows));
  await run('generate', async () => (failed ? Promise.reject(new Error(`needs the train step's model: ${trained.message}`)) : generateSuite(trained.trainer.model, ctx)));
}
await run('matmul', () => matmulSuite(libs, ctx));
await run('train-gpu', () => trainGpuSuite(ctx, named('train-gpu')));
await run('gpt2', () => gpt2Suite(ctx, named('gpt2')));
await run('op', () => elementwiseSuite(libs, ctx));
await run('attention', () => attentionSuite(libs, ctx));

const { table, seconds } = save(true);
console.log(`\n${table}\n`);
console.log('ratios are speedups (their time / our time): > 1 means ours is faster. ERROR = failed or computed different numbers (not timed).');
console.log(`total ${seconds.toFixed(0)} s`);
console.log(`wrote ${file}`);
// a peer's error is a result (it is in the table); our engine failing or mismatching is a failure
device().destroy();
process.exit([...byFamily.values()].flat().some((r) => r.cells.ours.error) ? 1 : 0);
