// bench/gpu-session.sh with stand-ins for the kit's bundles: a device session that is cut short
// (its time spent mid-step) must still hand back what the bench and parity runs had written, and
// their result files must name the engine's commit although the kit's tree has no .git.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SCRIPT = resolve('bench/gpu-session.sh');

/** A kit laid out as run.sh leaves it: the unpacked tree (marked with its commit) and the bundles. */
function kit() {
  const root = mkdtempSync(join(tmpdir(), 'gpu-session-'));
  const tree = join(root, 'main');
  const bundles = join(root, 'bundles');
  mkdirSync(tree);
  writeFileSync(join(tree, '.unpacked-abc1234'), '');
  mkdirSync(join(bundles, 'bench/results'), { recursive: true });
  // each writes its result file as the real ones do (relative to the bundles), then runs on
  const stand = (file: string) => `import { writeFileSync } from 'node:fs';
writeFileSync('bench/results/${file}', JSON.stringify({ commit: process.env.BENCH_ENGINE_COMMIT, pid: process.pid }));
setTimeout(() => {}, 60_000);`;
  writeFileSync(join(bundles, 'bench.mjs'), stand('bench-stand-in.json'));
  writeFileSync(join(bundles, 'parity.mjs'), stand('shakespeare-char-gpu.json'));
  return { tree, bundles, out: join(root, 'out') };
}

describe('bench/gpu-session.sh', () => {
  it("a step's result file is in $OUT while the step still runs, with the kit's commit", async () => {
    const { tree, bundles, out } = kit();
    const child = spawn('bash', [SCRIPT, 'bench'], { cwd: tree, detached: true, stdio: 'ignore', env: { ...process.env, OUT: out, GPU_KIT_BUNDLES: bundles } });
    const file = join(out, 'bench-stand-in.json');
    try {
      for (let i = 0; i < 300 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
    } finally {
      process.kill(-child.pid!, 'SIGKILL'); // the session's time is up
    }
    expect(existsSync(file)).toBe(true);
    const written = JSON.parse(readFileSync(file, 'utf8')) as { commit: string; pid: number };
    process.kill(written.pid, 'SIGKILL'); // timeout runs it in a process group of its own
    expect(written.commit).toBe('abc1234');
  });

  it('refuses an unknown step before running any', async () => {
    const { tree, bundles, out } = kit();
    const child = spawn('bash', [SCRIPT, 'bench', 'parrity'], { cwd: tree, env: { ...process.env, OUT: out, GPU_KIT_BUNDLES: bundles } });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(2);
    expect(stdout.trim()).toBe("gpu-session: unknown step 'parrity' (doctor, tests, bench, host, parity)");
    expect(existsSync(join(out, 'bench.log'))).toBe(false);
  });
});
