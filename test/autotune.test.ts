// The autotuner's persistent cache (src/kernels/autotune.ts): a JSON file anyone can edit, so what
// it names is checked against the candidates before a kernel runs it; its winners are this
// adapter's and driver's, measured among today's candidates; a save adds its winner to the file as
// it is then. And every candidate computes the product the default does (float64 reference).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { device, matmul, scope } from '../src/index.js';
import { adapterKey, autotuneSettled, forgetWinners, setAutotune } from '../src/kernels/autotune.js';
import { matmulTilings, setProfile, SKINNY_KERNELS, splitCandidates, TILES, type TileName } from '../src/kernels/profile.js';
import { matmulRef, numel, ref, type Ref } from '../src/check/reference/index.js';
import { runGpt } from './cli-helpers.js';
import { autotuneCacheDir, expectClose, seededValues, setupDevice, toTensor, warningsOf } from './helpers.js';

beforeAll(setupDevice);
const run = promisify(execFile);
const cacheDir = autotuneCacheDir('gpt-autotune-');

const values = (shape: number[], seed: number): Ref => ref(shape, seededValues(numel(shape), seed).map(Math.fround));

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
  const tileKey = (M: number, adapter = adapterKey(device().info)) => `${adapter} matmul ${M}x${N}x${K}  vec4`;
  const file = join(cacheDir, 'autotune.json');
  type Entry = { winner: unknown; among: string };
  const cache = () => JSON.parse(readFileSync(file, 'utf8')) as Record<string, Entry>;
  const b = values([K, N], 2);
  beforeAll(() => {
    setProfile({ matmul: { tiled: 'buffer', tileCandidates: ['large', 'small'] } }); // a GPU's path and candidates
    process.env.GPT_CACHE_DIR = cacheDir;
    setAutotune(true);
  });

  /** Products of each M rows, checked against float64, twice with the measurements between: the cache loaded, each then measured or its winner taken. */
  const useTwice = (Ms: number[]) =>
    scope(async () => {
      for (let pass = 0; pass < 2; pass++) {
        for (const M of Ms) {
          const a = values([M, K], M);
          await expectClose(matmul(toTensor(a), toTensor(b)), matmulRef(a, b), 1e-4, 1e-4, `matmul ${M} rows`);
        }
        await autotuneSettled();
      }
    });

  it('one naming no candidate is ignored with a one-line warning, and measured again; the product stays right', async () => {
    await useTwice([40, 41, 42, 43, 44]);
    const measured = cache();
    const edited: Record<number, unknown> = {
      40: { tiles: 'small', splits: 1.5 }, // a fractional split: wrong sums
      41: { tiles: 'banana', splits: 1 }, // no such tiles: 'Cannot read properties of undefined'
      42: { tiles: 'small', splits: -3 },
      43: 'large',
    };
    for (const [M, winner] of Object.entries(edited)) measured[tileKey(Number(M))]!.winner = winner;
    writeFileSync(file, JSON.stringify(measured));
    forgetWinners();
    const lines = await warningsOf(() => useTwice([40, 41, 42, 43, 44]));
    for (const [M, given] of Object.entries(edited)) {
      expect(lines.filter((l) => l.includes(`'matmul ${M}x${N}x${K}  vec4' is none of its candidates: ${JSON.stringify(given)}; ignored`))).toHaveLength(1);
    }
    expect(lines.filter((l) => l.includes('matmul 44x'))).toEqual([]);
    expect(lines.every((l) => !l.includes('\n'))).toBe(true);
    const candidates = matmulTilings(K).map((c) => JSON.stringify(c));
    for (const M of Object.keys(edited)) expect(candidates, `the winner of ${M} rows, measured again`).toContain(JSON.stringify(cache()[tileKey(Number(M))]!.winner));
  });

  it('one measured among other candidates (an older version\'s, or its format) is measured again, without a warning', async () => {
    const before = cache();
    const among = before[tileKey(44)]!.among;
    before[tileKey(44)]!.among = 'deadbeef'; // measured among another set
    (before as Record<string, unknown>)[tileKey(45)] = { tiles: 'large', splits: 1 }; // the older format: the winner alone
    writeFileSync(file, JSON.stringify(before));
    forgetWinners();
    expect(await warningsOf(() => useTwice([44, 45]))).toEqual([]);
    expect([cache()[tileKey(44)]!.among, cache()[tileKey(45)]!.among]).toEqual([among, among]);
  });

  it("another driver's (or adapter's) winner is not this one's: measured here, and theirs kept", async () => {
    const entries = cache();
    const other = adapterKey({ ...device().info, description: `${device().info.description} (an older driver)` });
    entries[tileKey(46, other)] = { ...entries[tileKey(44)]!, winner: { tiles: 'large', splits: 1 } };
    writeFileSync(file, JSON.stringify(entries));
    forgetWinners();
    await useTwice([46]);
    expect(cache()[tileKey(46)]).toBeDefined();
    expect(cache()[tileKey(46, other)]).toEqual(entries[tileKey(46, other)]);
  });

  it('a save keeps the winners another process saved since this one loaded the cache', async () => {
    const others = { ...cache(), 'another process matmul 1x2x3': { winner: 'element', among: '01234567' } };
    writeFileSync(file, JSON.stringify(others));
    await useTwice([47]);
    expect(cache()['another process matmul 1x2x3']).toEqual(others['another process matmul 1x2x3']);
    expect(cache()[tileKey(47)]).toBeDefined();
  });

  it('a cache deleted while the program runs (to measure again) stays deleted but for the winners measured since', async () => {
    rmSync(file);
    await useTwice([48]);
    expect(Object.keys(cache())).toEqual([tileKey(48)]);
  });

  it('its measurements give back every scratch buffer: the live bytes are what they were', async () => {
    await useTwice([49]); // the kernels compiled, the pool warm
    const live = device().memory().liveBytes;
    await useTwice([50, 51]);
    expect(cache()[tileKey(51)]).toBeDefined();
    expect(device().memory().liveBytes).toBe(live);
  });

  it('gpt doctor names the cache and lists the winners it holds for this adapter and driver', async () => {
    const entries: Record<string, Entry> = { ...cache(), 'another adapter matmul 1x2x3': { winner: 'element', among: '01234567' } };
    const mine = Object.keys(entries).filter((k) => k.startsWith(`${adapterKey(device().info)} `));
    expect(mine).toHaveLength(4);
    // a winner alone, an older version's format (measured again at its next use): it was listed as 'undefined'
    writeFileSync(file, JSON.stringify({ ...entries, [tileKey(52)]: { tile: 'older' } }));
    const r = await runGpt(['doctor']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`  autotune      off (GPT_AUTOTUNE=0: every kernel the profile's default); cache ${file} (delete it to measure again): 4 winners for this adapter and driver, 1 of an older version (measured again), 1 for others\n`);
    expect(r.out).not.toMatch(/undefined|52x/);
    expect(r.out).toContain(`    matmul 48x${N}x${K}  vec4: ${JSON.stringify(entries[tileKey(48)]!.winner)}\n`);
  }, 120_000);

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
        "setAutotune(true); setProfile({ matmul: { tiled: 'buffer', tileCandidates: ['large', 'small'] } }); // a GPU's path and candidates",
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

describe('every candidate computes the product the default does (float64 reference)', () => {
  // run through the engine with the candidate forced, as a tuned winner runs
  const check = async (M: number, N: number, K: number, transB: boolean, what: string) => {
    const [a, b] = [values([M, K], M + K), values(transB ? [N, K] : [K, N], N)];
    await scope(async () => {
      const bt = toTensor(b);
      await expectClose(matmul(toTensor(a), transB ? bt.transpose(0, 1) : bt), matmulRef(a, b, false, transB), 1e-4, 1e-4, `[${M}, ${K}]·[${K}, ${N}] ${what}`);
    });
  };

  it.each([[70, 72, 4096], [33, 37, 1030]])('the register-tiled kernel: every tiling and split of M %i, N %i, K %i', async (M, N, K) => {
    try {
      // every tiling the family has, whether or not this adapter measures it (a GPU's large tiles on a CPU adapter)
      for (const { tiles, splits } of (Object.keys(TILES) as TileName[]).flatMap((tiles) => splitCandidates(K).map((splits) => ({ tiles, splits })))) {
        setProfile({ matmul: { tiled: 'buffer', skinnyRows: 0, tiles, splits } });
        await check(M, N, K, false, `${tiles} tiles, ${splits} splits`);
      }
    } finally {
      setProfile(null);
    }
  });

  it.each(SKINNY_KERNELS)('the skinny %s kernel, x · Wᵀ', async (skinny) => {
    try {
      setProfile({ matmul: { skinnyRows: 4, skinny } });
      await check(3, 72, 1028, true, skinny);
    } finally {
      setProfile(null);
    }
  });
});
