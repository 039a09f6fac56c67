// The autotuner's persistent cache (src/kernels/autotune.ts): a JSON file anyone can edit, so what
// it names is checked against the candidates before a kernel runs it.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { device, matmul, scope } from '../src/index.js';
import { autotuneSettled, setAutotune } from '../src/kernels/autotune.js';
import { setProfile } from '../src/kernels/profile.js';
import { matmulRef, numel, ref, type Ref } from '../src/check/reference/index.js';
import { autotuneCacheDir, expectClose, seededValues, setupDevice, toTensor } from './helpers.js';

beforeAll(setupDevice);
const run = promisify(execFile);
const cacheDir = autotuneCacheDir('gpt-autotune-');

const values = (shape: number[], seed: number): Ref => ref(shape, seededValues(numel(shape), seed).map(Math.fround));
const adapterKey = () => {
  const i = device().info;
  return [i.vendor, i.architecture, i.device, i.description, i.backend].join('|');
};

describe('GPT_AUTOTUNE', () => {
  it('a value other than 0 or 1 fails initDevice naming it, not read as on', async () => {
    const script = join(cacheDir, 'env.ts');
    writeFileSync(script, [`import { initDevice } from ${JSON.stringify(resolve('src/index.js'))};`, 'await initDevice().catch((e) => console.log(e.message));'].join('\n'));
    for (const value of ['false', ' 1 ']) {
      const { stdout } = await run(process.execPath, ['scripts/run-ts.mjs', script], { env: { ...process.env, GPT_AUTOTUNE: value } });
      expect(stdout).toBe(`GPT_AUTOTUNE=${value}: expected 0 or 1\n`);
    }
  });
});

describe('cached winners', () => {
  // [M, K] · [K, N] products on the register-tiled kernel, whose tilings are tuned; K = 64 allows one split
  const [N, K] = [36, 64];
  const tileKey = (M: number) => `${adapterKey()} matmul ${M}x${N}x${K}  vec4`;
  beforeAll(() => {
    setProfile({ matmul: { tiled: 'buffer' } });
    writeFileSync(
      join(cacheDir, 'autotune.json'),
      JSON.stringify({
        [tileKey(40)]: { tiles: 'small', splits: 1.5 }, // a fractional split: wrong sums
        [tileKey(41)]: { tiles: 'banana', splits: 1 }, // no such tiles: 'Cannot read properties of undefined'
        [tileKey(42)]: { tiles: 'small', splits: -3 },
        [tileKey(43)]: 'large',
        [tileKey(44)]: { tiles: 'large', splits: 1 }, // a real candidate: used, no warning
      }),
    );
    process.env.GPT_CACHE_DIR = cacheDir;
    setAutotune(true);
  });

  it('one naming no candidate is ignored with a one-line warning; the product stays right', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const b = values([K, N], 2);
      await scope(async () => {
        await matmul(toTensor(values([40, K], 1)), toTensor(b)).toArray(); // loads the cache
        await autotuneSettled();
        for (const M of [40, 41, 42, 43, 44]) {
          const a = values([M, K], M);
          await expectClose(matmul(toTensor(a), toTensor(b)), matmulRef(a, b), 1e-4, 1e-4, `matmul ${M} rows, cached winner`);
        }
      });
      const lines = warn.mock.calls.map((c) => String(c[0]));
      for (const [M, given] of [[40, '{"tiles":"small","splits":1.5}'], [41, '{"tiles":"banana","splits":1}'], [42, '{"tiles":"small","splits":-3}'], [43, '"large"']] as const) {
        expect(lines.filter((l) => l.includes(`'matmul ${M}x${N}x${K}  vec4' is none of its candidates: ${given}; ignored`))).toHaveLength(1);
      }
      expect(lines.filter((l) => l.includes(`matmul 44x`))).toEqual([]);
      expect(lines.every((l) => !l.includes('\n'))).toBe(true);
    } finally {
      warn.mockRestore();
    }
  });

  it("a save keeps the winners another process saved since this one loaded the cache", async () => {
    await autotuneSettled(); // the measurements queued above are saved
    const file = join(cacheDir, 'autotune.json');
    const others = { ...JSON.parse(readFileSync(file, 'utf8')), 'another process matmul 1x2x3': 'element' };
    writeFileSync(file, JSON.stringify(others));
    await scope(async () => {
      await matmul(toTensor(values([45, K], 45)), toTensor(values([K, N], 2))).toArray(); // queues a measurement, saved when done
      await autotuneSettled();
    });
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(saved['another process matmul 1x2x3']).toBe('element');
    expect(saved[tileKey(45)]).toBeDefined();
  });

  it('a cache that is not a JSON object of winners is an empty one, with a warning: no crash', async () => {
    const script = join(cacheDir, 'damaged.ts');
    const src = (p: string) => JSON.stringify(resolve(p));
    writeFileSync(
      script,
      [
        `import { initDevice, matmul, tensor } from ${src('src/index.js')};`,
        `import { autotuneSettled, setAutotune } from ${src('src/kernels/autotune.js')};`,
        `import { setProfile } from ${src('src/kernels/profile.js')};`,
        'await initDevice();',
        "setAutotune(true); setProfile({ matmul: { tiled: 'buffer' } });",
        'const x = tensor(new Float32Array(40 * 64), [40, 64]);',
        'await matmul(x, x.transpose(0, 1)).toArray(); await autotuneSettled();',
        "console.log('done');",
      ].join('\n'),
    );
    for (const [text, shown] of [['null', '"null"'], ['[1, 2]', '"[1, 2]"'], ['{"a":', '"{\\"a\\":"'], ['', '""']]) {
      const dir = mkdtempSync(join(cacheDir, 'damaged-'));
      writeFileSync(join(dir, 'autotune.json'), text);
      const r = await run(process.execPath, ['scripts/run-ts.mjs', script], { env: { ...process.env, GPT_CACHE_DIR: dir } });
      expect(r.stdout).toBe('done\n');
      expect(r.stderr).toContain(`[webgpu-gpt] autotune: the cache is not a JSON object of winners: ${shown}; ignored`);
    }
  });
});
