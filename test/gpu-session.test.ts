// bench/gpu-session.sh with stand-ins for the kit's bundles: a device session that is cut short
// (its time spent mid-step) must still hand back what the bench and parity runs had written, and
// their result files must name the engine's commit although the kit's tree has no .git; all five
// steps in one call must leave no more files in $OUT than the device tool hands back (8).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SCRIPT = resolve('bench/gpu-session.sh');

/** `gpt doctor`'s adapter lines (a GPU's, or lavapipe's with its fallback mark), or its no-adapter failure. */
const FEATURES = (f16: string, sgm: string) => `\\n  shader-f16: ${f16}, timestamp-query: yes, subgroups: yes, chromium-experimental-subgroup-matrix: ${sgm}`;
const DOCTOR = {
  gpu: `console.log("  device        NVIDIA H200\\n  description   NVIDIA: 580.95.05\\n  backend       dawn/vulkan${FEATURES('yes', 'yes')}");`,
  // NVIDIA's Vulkan driver as Dawn shows it without the engine's toggles
  gpuPlain: `console.log("  device        NVIDIA H200\\n  backend       dawn/vulkan${FEATURES('no', 'no')}");`,
  cpu: 'console.log("  device        llvmpipe\\n  backend       dawn/vulkan (fallback/software adapter)");',
  none: 'console.error("gpt doctor: no WebGPU adapter: requestAdapter() returned null"); process.exit(1);',
};

/** A kit laid out as run.sh leaves it: the unpacked tree (marked with its commit, with Dawn and a stand-in `gpt doctor`) and the bundles. */
function kit(adapter: keyof typeof DOCTOR = 'gpu') {
  const root = mkdtempSync(join(tmpdir(), 'gpu-session-'));
  const tree = join(root, 'main');
  const bundles = join(root, 'bundles');
  for (const dir of [join(tree, 'node_modules/webgpu/dist/linux-x64'), join(tree, 'bin'), join(bundles, 'node_modules/webgpu')]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(tree, '.unpacked-abc1234'), '');
  writeFileSync(join(tree, 'node_modules/webgpu/dist/linux-x64/dawn.node'), '');
  writeFileSync(join(bundles, 'node_modules/webgpu/package.json'), '{}');
  writeFileSync(join(tree, 'bin/gpt.js'), DOCTOR[adapter]);
  mkdirSync(join(bundles, 'bench/results'), { recursive: true });
  // each writes its result files as the real ones do (relative to the bundles or the tree), then runs on for STAND_IN_SECONDS (60)
  const stand = (...files: string[]) => `import { writeFileSync } from 'node:fs';
for (const file of ${JSON.stringify(files)}) writeFileSync('bench/results/' + file.replace('PID', process.pid), JSON.stringify({ commit: process.env.BENCH_ENGINE_COMMIT, pid: process.pid }));
setTimeout(() => {}, 1000 * Number(process.env.STAND_IN_SECONDS ?? 60));`;
  writeFileSync(join(bundles, 'bench.mjs'), stand('bench-stand-in-PID.json'));
  writeFileSync(join(bundles, 'parity.mjs'), stand('shakespeare-char-gpu.json', 'shakespeare-char-gpu.log.jsonl'));
  for (const dir of [join(tree, 'scripts'), join(tree, 'bench/results'), join(root, 'path')]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(tree, 'scripts/run-ts.mjs'), stand('host-step.json'));
  // the tests step's npx: a suite that fails (as a step that breaks)
  writeFileSync(join(root, 'path/npx'), '#!/bin/sh\necho " ❯ test/x.test.ts (3 tests | 1 failed) 20ms"; echo " Test Files  1 failed (1)"; exit 1\n', { mode: 0o755 });
  return { tree, bundles, out: join(root, 'out'), path: join(root, 'path') };
}

/** Runs the script to its end; its exit code and standard output. */
async function session(steps: string[], k: ReturnType<typeof kit>, env: Record<string, string> = {}) {
  const child = spawn('bash', [SCRIPT, ...steps], { cwd: k.tree, env: { ...process.env, OUT: k.out, GPU_KIT_BUNDLES: k.bundles, PATH: `${k.path}:${process.env.PATH}`, ...env } });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const code = await new Promise((r) => child.on('exit', r));
  return { code, stdout };
}

describe('bench/gpu-session.sh', () => {
  it("a step's result file is in $OUT while the step still runs, with the kit's commit", async () => {
    const { tree, bundles, out } = kit();
    const child = spawn('bash', [SCRIPT, 'bench'], { cwd: tree, detached: true, stdio: 'ignore', env: { ...process.env, OUT: out, GPU_KIT_BUNDLES: bundles } });
    const written = () => (existsSync(out) ? readdirSync(out) : []).filter((f) => f.startsWith('bench-stand-in-'));
    try {
      for (let i = 0; i < 300 && !written().length; i++) await new Promise((r) => setTimeout(r, 100));
    } finally {
      process.kill(-child.pid!, 'SIGKILL'); // the session's time is up
    }
    expect(written()).toHaveLength(1);
    const result = JSON.parse(readFileSync(join(out, written()[0]!), 'utf8')) as { commit: string; pid: number };
    process.kill(result.pid, 'SIGKILL'); // timeout runs it in a process group of its own
    expect(result.commit).toBe('abc1234');
  });

  it('refuses an unknown step, or a budget past a device call\'s 10 minutes, before running any', async () => {
    const k = kit();
    const { code, stdout } = await session(['bench', 'parrity'], k);
    expect(code).toBe(2);
    expect(stdout.trim()).toBe("gpu-session: unknown step 'parrity' (doctor, tests, bench, host, parity)");
    expect(readdirSync(k.out)).toEqual([]);
    for (const seconds of ['600', '6m', '0']) {
      const bad = await session(['bench'], k, { GPU_SESSION_SECONDS: seconds });
      expect(bad.code).toBe(2);
      expect(bad.stdout.trim()).toBe(`gpu-session: GPU_SESSION_SECONDS must be whole seconds from 1 to 570 (a device call's 600 s less run.sh's), got '${seconds}'`);
    }
    expect(readdirSync(k.out)).toEqual([]);
  });

  it('stops loudly before any step when Dawn finds no adapter, or the kit has no Dawn', async () => {
    const none = kit('none');
    const a = await session(['doctor', 'bench'], none);
    expect(a.code).toBe(3);
    expect(a.stdout.trim()).toBe('gpu-session: Dawn found no adapter or gpt doctor failed (exit 1): gpt doctor: no WebGPU adapter: requestAdapter() returned null; stopping before any step');
    expect(readFileSync(join(none.out, 'session.log'), 'utf8')).not.toMatch(/== doctor/);
    const noDawn = kit();
    rmSync(join(noDawn.tree, 'node_modules/webgpu'), { recursive: true });
    const b = await session(['bench'], noDawn);
    expect(b.code).toBe(3);
    expect(b.stdout).toMatch(/^gpu-session: the kit has no .*\/main\/node_modules\/webgpu\/dist\/linux-x64\/dawn.node \(repack it/);
  });

  it('names the adapter, and says loudly when it is a CPU adapter', async () => {
    const gpu = await session([], kit('gpu'));
    expect(gpu.code).toBe(0);
    expect(gpu.stdout).toMatch(/^ {3}device {8}NVIDIA H200\n {3}description {3}NVIDIA: 580.95.05\n/);
    expect(gpu.stdout).not.toMatch(/WARNING/);
    const cpu = await session([], kit('cpu'));
    expect(cpu.stdout).toMatch(/\ngpu-session: WARNING: the adapter is a CPU \(software\) adapter, not a GPU: these are not GPU figures\n/);
    // NVIDIA's driver hides both from Dawn without the engine's toggles: the tensor-core rows would be n/a
    const plain = await session([], kit('gpuPlain'));
    expect(plain.stdout).toMatch(/\n {3}shader-f16: no, .* chromium-experimental-subgroup-matrix: no\ngpu-session: WARNING: this GPU's adapter lacks shader-f16 or chromium-experimental-subgroup-matrix .*: no float16 tensor-core figures\n/);
  });

  it("the tests step takes TypeScript's lib.dom.d.ts (the tests' corpus, left out of the kit) from the files the device call carried into GPU_KIT_ORIGIN", async () => {
    const k = kit();
    const origin = join(k.out, '..', 'origin');
    mkdirSync(join(origin, 'node_modules/typescript/lib'), { recursive: true });
    writeFileSync(join(origin, 'node_modules/typescript/package.json'), '{"name":"typescript"}');
    writeFileSync(join(origin, 'node_modules/typescript/lib/lib.dom.d.ts'), '/** the corpus */');
    const { stdout } = await session(['tests'], k, { GPU_KIT_ORIGIN: origin });
    expect(stdout).toMatch(/\n== tests /);
    expect(stdout).not.toMatch(/WARNING/);
    expect(readFileSync(join(k.tree, 'node_modules/typescript/lib/lib.dom.d.ts'), 'utf8')).toBe('/** the corpus */');
    expect(readFileSync(join(k.tree, 'node_modules/typescript/package.json'), 'utf8')).toBe('{"name":"typescript"}');
  });

  it('runs every step in one call though one fails, and leaves no more than 8 files in $OUT (what the device tool hands back)', async () => {
    const k = kit();
    const { code, stdout } = await session(['doctor', 'tests', 'bench', 'host', 'parity'], k, { STAND_IN_SECONDS: '0' });
    expect(code).toBe(0);
    // the kit without TypeScript's lib.dom.d.ts (the tests' corpus) is said before the suite, the failed files after it
    expect(stdout).toMatch(/\ngpu-session: WARNING: no node_modules\/typescript\/lib\/lib.dom.d.ts .*\n== tests /);
    expect(stdout).toMatch(/\n {3}tests: exit 1 after \d+s\n {3}last lines:\n {4}❯ test\/x.test.ts \(3 tests \| 1 failed\) 20ms\n {4}Test Files {2}1 failed \(1\)\n {3}failed: test\/x.test.ts \(3 tests \| 1 failed\) 20ms\n {3}\(left out: .*\n== bench /);
    const files = readdirSync(k.out).sort();
    expect(files.length).toBeLessThanOrEqual(8);
    expect(files.filter((f) => !f.startsWith('bench-stand-in-'))).toEqual(['host-step.json', 'session.log', 'shakespeare-char-gpu.json', 'shakespeare-char-gpu.log.jsonl']);
    expect(files.filter((f) => f.startsWith('bench-stand-in-'))).toHaveLength(2); // the suite and the robustness-off run
    const log = readFileSync(join(k.out, 'session.log'), 'utf8');
    for (const s of ['doctor', 'tests', 'bench', 'bench-robustness-off', 'host', 'parity']) expect(log).toMatch(new RegExp(`\n== ${s} \\(at most \\d+s\\): .*\n(.*\n)* {3}${s}: exit \\d+ after \\d+s\n`));
  });

  it("keeps the robustness-off run's minute (#13's figure) when the bench would take all that is left", async () => {
    const { stdout } = await session(['bench'], kit(), { GPU_SESSION_SECONDS: '90', STAND_IN_SECONDS: '0' });
    expect(stdout).toMatch(/\n== bench \(at most (29|30)s\): .*\n(.*\n)*== bench-robustness-off \(at most 60s\): /);
    const short = await session(['bench'], kit(), { GPU_SESSION_SECONDS: '70', STAND_IN_SECONDS: '0' });
    expect(short.stdout).toMatch(/\n== bench: skipped, (69|70)s left \(60s of them kept for the step after it\)\n== bench-robustness-off \(at most 60s\): /);
  });

  it("hands back no host-step.json but the host step's own (the tree's committed one is another machine's)", async () => {
    const k = kit();
    mkdirSync(join(k.tree, 'bench/results'), { recursive: true });
    writeFileSync(join(k.tree, 'bench/results/host-step.json'), '{"stale":true}');
    const { stdout } = await session(['host'], k, { GPU_SESSION_SECONDS: '5' });
    expect(stdout).toMatch(/\ngpu-session: the steps' limits add up to 60s, [45]s are left: a step runs in what those before it leave, and is skipped under 20s\n/);
    expect(stdout).toMatch(/== host: skipped, \d+s left/);
    expect(existsSync(join(k.out, 'host-step.json'))).toBe(false);
  });
});
