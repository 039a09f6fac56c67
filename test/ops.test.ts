// Every entry of the op table (src/ops/table.ts) under every kernel variant this adapter runs:
// fast-check draws calls from the entry's case (src/check/cases/), and src/check's runner compares
// the result with the float64 reference and, for a differentiable op, the gradients with finite
// differences of it. An op added to the table is tested here without a line changed (and cannot
// be added without a case); every op that takes float16 is checked again in float16 (on adapters
// with shader-f16, as lavapipe has), and every op again with dims of 0
// now and then (src/check/run.ts EMPTY_CHECKS). Under a lowered binding limit, every dispatch of an op that
// splits tensors larger than a binding must bind no more than the limit. The per-op test files
// keep what a drawn call cannot express.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { availableChecks, EMPTY_CHECKS, formatChecks, runChecks, type Check } from '../src/check/index.js';
import { device } from '../src/index.js';
import { profileVariants, setProfile } from '../src/kernels/profile.js';
import { COLD_COMPILE_MS, fcParams, randomFromGen, setupDevice, widestBinding } from './helpers.js';

await setupDevice();

/**
 * Calls per entry and variant; each variant draws other ones (its own seed). The float16 pass draws
 * a quarter as many (its kernels are the float32 ones specialised; 10 calls an op over the variants),
 * the empty-dims pass half as many (a dim of 0 in a third to a half of its calls).
 */
const SAMPLES = 8;
const CHECKS = availableChecks();
const samplesOf = (c: Check) => (c.dtype === 'float16' ? SAMPLES / 4 : EMPTY_CHECKS.includes(c) ? SAMPLES / 2 : SAMPLES);

/**
 * Ops whose kernels still bind a tensor larger than a binding whole: they work up to the adapter's
 * own limit (past it the device's error names the kernel). Every other op must keep each binding
 * within a lowered limit.
 */
const BINDS_WHOLE = new Set(['matmul', 'embedding', 'layerNorm', 'causalAttention', 'embeddingInt8']);

describe.each(profileVariants().map((v, k) => ({ ...v, k })))('kernel variant $name', ({ name: variant, overrides, k }) => {
  let liveBuffers = 0;
  beforeAll(() => {
    setProfile(overrides);
    liveBuffers = device().memory().liveBuffers;
  });
  afterAll(() => setProfile(null));

  // cold, causalAttention took 100-115 s in the adapter's variant (head size 64); the rest keep the default
  for (const c of [...CHECKS, ...EMPTY_CHECKS]) {
    const { name, check } = c;
    it(`'${name}' matches its float64 reference`, name.startsWith('causalAttention') ? { timeout: COLD_COMPILE_MS } : {}, async () => {
      const params = { ...fcParams(samplesOf(c)), seed: fcParams().seed! + k };
      const [run, widest] = await widestBinding(() => fc.check(
        fc.asyncProperty(fc.gen(), async (g) => {
          const result = await check(randomFromGen(g));
          if (result.failure) throw new Error(`${variant} variant: ${result.what}: ${result.failure}`);
        }),
        params,
      ));
      // the runner's message rather than fast-check's, which would print every drawn value
      if (run.failed) throw new Error(`${(run.errorInstance as Error).message}\n(sample ${run.numRuns} of seed ${params.seed}: FC_SEED=${params.seed - k} replays it)`);
      if (overrides.bindingLimit !== undefined && !BINDS_WHOLE.has(name.replace(/ \(.*\)$/, ''))) {
        expect(widest, `${name} bound a range larger than the ${overrides.bindingLimit}-byte binding limit`).toBeLessThanOrEqual(overrides.bindingLimit);
      }
    });
  }

  it('leaves no tensor behind', () => expect(device().memory().liveBuffers).toBe(liveBuffers));
  it('checks every op that takes float16 in float16 too, where the adapter has shader-f16', () =>
    expect(CHECKS.some((c) => c.dtype === 'float16')).toBe(device().info.features.includes('shader-f16')));
});

describe('gpt doctor --check', () => {
  it('runs every entry under every variant from a seed: a row each, printed as a table', { timeout: COLD_COMPILE_MS }, async () => {
    const rows = await runChecks({ samples: 1, seed: 7 });
    expect(rows.length).toBe(CHECKS.length * profileVariants().length);
    expect(rows.filter((r) => !r.ok)).toEqual([]);
    const lines = formatChecks(rows);
    expect(lines[0]).toMatch(/^op +adapter/);
    expect(lines).toContainEqual(expect.stringMatching(/^matmul +\d\.\d{3}/));
    expect(lines.at(-1)).toBe(`all ${rows.length} checks passed (${CHECKS.length} ops and updates x ${profileVariants().length} variants)`);
  });

  it('marks a failure in its cell and prints the call that failed', () => {
    const lines = formatChecks([
      { op: 'add', variant: 'gpu', samples: 2, worstError: 0.25, ok: true },
      { op: 'add', variant: 'cpu', samples: 1, worstError: 3, ok: false, error: 'add(float32[2], float32[]): result element 1 is 2, expected 3' },
    ]);
    expect(lines).toEqual([
      'op   gpu     cpu',
      'add  0.250   FAIL',
      'FAIL add (cpu): add(float32[2], float32[]): result element 1 is 2, expected 3',
      '1 of 2 checks failed',
    ]);
  });
});
