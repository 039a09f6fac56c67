// The device-start self-check (kernels/self-check.ts) on lavapipe, whose own profile uses no fast
// path (its matmul reads textures): the f16 register-tiled buffer kernel is forced onto the
// profile, checked for real against the float32 kernel, and broken on purpose through the test
// hook, which must turn it off with one warning, once; a kernel wrong only for batched products
// (an operand's batch stride ignored, C's batches misplaced) must be caught by the batched
// products. (The subgroup-matrix paths need tensor cores: their check's logic is the same, and is
// run by asking for it with the `paths` hook over the f16 kernels, as for int8 below; with
// software fragments, tensor-cores-emulated.test.ts checks the tensor-core kernels themselves.)
// The int8 tensor-core path's check is asked for explicitly (the `paths` hook): lavapipe has no
// subgroup matrices, so the forced path resolves to the float32-activation int8 kernels, which
// compute the same exact integer products; that exercises the check against the host's integer
// product, its tolerance and its turn-off logic, not the tensor-core kernel.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { device, scope, tensor } from '../src/index.js';
import { Kernel } from '../src/kernels/kernel.js';
import { forgetVerdicts, profile, setProfile, verdictsOf } from '../src/kernels/profile.js';
import { checkFastPaths, describeVerdicts } from '../src/kernels/self-check.js';
import { launchMatmul } from '../src/kernels/wgsl/matmul.js';
import type { MatmulPlan } from '../src/kernels/wgsl/matmul-tiled.js';
import { setupDevice } from './helpers.js';

/** What the device-start check judged, before these tests forget it. */
let atStart: [string, string][] = [];
/** Whether the profile at start was a CPU driver's (test/simulate-adapter.ts may make it a GPU's on lavapipe). */
let cpuProfile = false;
beforeAll(async () => {
  await setupDevice();
  atStart = [...verdictsOf(device().info)];
  const { tiled, subgroupMatrix, int8SubgroupMatrix } = profile().matmul;
  cpuProfile = tiled === 'texture' && !subgroupMatrix && !int8SubgroupMatrix;
  // float16 products now take the f16 buffer kernel, on any adapter (one with tensor cores too:
  // its device-start verdicts forgotten, its subgroup-matrix paths set aside)
  setProfile({ matmul: { tiled: 'buffer', subgroupMatrix: null, int8SubgroupMatrix: null } });
  forgetVerdicts(device().info);
});
afterAll(() => {
  setProfile(null);
  forgetVerdicts(device().info);
});

describe('device-start self-check', () => {
  it('has nothing to check in the adapter profile of a CPU driver (start-up does no work there)', () => {
    if (cpuProfile) expect(atStart).toEqual([]);
  });

  it('a wrong result turns the path off with one one-line warning, and it is not checked again', async () => {
    const warnings: string[] = [];
    let calls = 0;
    const tamper = (_path: string, r: Uint16Array | Float32Array) => {
      calls++;
      r[17] ^= 0x0400; // one element's exponent: a different number
    };
    expect(profile().f16).toBe(true);
    await checkFastPaths(launchMatmul, { tamper, warn: (l) => warnings.push(l) });
    expect(verdictsOf(device().info).get('f16-buffer')).toBe('off');
    expect(profile().f16).toBe(false); // the f16 kernels were wrong: no float16 tensors
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^webgpu-gpt: the float16 register-tiled matmul disagrees with the float32 kernel on this adapter \(1 of \d+ elements of .* differ, the first at \[0, 17\].*\); turned off: float16 tensors are unavailable$/);
    await checkFastPaths(launchMatmul, { tamper, warn: (l) => warnings.push(l) });
    expect(calls).toBe(1);
    expect(warnings).toHaveLength(1);
    expect(describeVerdicts()).toMatch(/float16 register-tiled matmul WRONG, turned off/);
  });

  it('the real f16 buffer kernel matches the float32 kernel: verified, nothing turned off, no warning', async () => {
    forgetVerdicts(device().info);
    const warnings: string[] = [];
    await checkFastPaths(launchMatmul, { warn: (l) => warnings.push(l) });
    expect(warnings).toEqual([]);
    expect(verdictsOf(device().info).get('f16-buffer')).toBe('verified');
    expect(profile().f16).toBe(true);
    expect(describeVerdicts()).toMatch(/float16 register-tiled matmul verified/);
  });

  it('a path that throws is turned off too, with the first line of the error', async () => {
    forgetVerdicts(device().info);
    const warnings: string[] = [];
    const broken = () => {
      throw new Error('no such kernel\nsecond line');
    };
    await checkFastPaths(broken, { warn: (l) => warnings.push(l) });
    expect(warnings).toEqual([expect.stringMatching(/\(it failed: no such kernel\); turned off/)]);
    expect(profile().f16).toBe(false);
  });

  it("a path whose kernel the driver refuses (a compile error, a pipeline past the adapter's limits) is turned off, the warning naming why; the next read is clean", async () => {
    const refused = (name: string, body: string) => new Kernel({ name, write: { c: 'f32' }, params: { n: 'u32' }, body });
    const cases = [
      [refused('self-check-compile', '@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { c[g.x] = no_such_value; }'), /it failed: WGSL compile error in kernel 'self-check-compile': self-check-compile:\d+:\d+: .*no_such_value/],
      [refused('self-check-pipeline', `@compute @workgroup_size(${device().info.limits.maxComputeInvocationsPerWorkgroup}, 2) fn main() { c[0] = 1.0; }`), /it failed: .*invocations/],
    ] as const;
    for (const [kernel, why] of cases) {
      forgetVerdicts(device().info);
      const warnings: string[] = [];
      const launch: typeof launchMatmul = (a, b, c, plan) => (plan.float === 'f16' ? kernel.launch([c], { n: 1 }, [1, 1, 1]) : launchMatmul(a, b, c, plan));
      await checkFastPaths(launch, { warn: (l) => warnings.push(l) });
      expect(verdictsOf(device().info).get('f16-buffer')).toBe('off');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(why);
      expect(warnings[0]).not.toContain('\n');
      await scope(async () => expect(Array.from(await tensor(new Float32Array([1, 2]), [2]).mul(2).toArray())).toEqual([2, 4]));
    }
  });

  /** launchMatmul with float16 products' plans changed by `bug` (the float32 kernel it is compared with stays right). */
  const brokenF16 = (bug: (plan: MatmulPlan) => MatmulPlan): typeof launchMatmul => (a, b, c, plan) => launchMatmul(a, b, c, plan.float === 'f16' ? bug(plan) : plan);

  it("a kernel that ignores an operand's batch strides is turned off by the batched products (the unbatched ones pass)", async () => {
    forgetVerdicts(device().info);
    const warnings: string[] = [];
    const oneMatrixOfB = brokenF16((plan) => ({ ...plan, bStrides: plan.bStrides.map(() => 0) }));
    await checkFastPaths(oneMatrixOfB, { warn: (l) => warnings.push(l) });
    expect(verdictsOf(device().info).get('f16-buffer')).toBe('off');
    expect(profile().f16).toBe(false);
    // B [1, 3] is broadcast along the first batch dim only: batch [0, 0] is right, [0, 1] is not
    expect(warnings).toEqual([
      expect.stringMatching(/^webgpu-gpt: the float16 register-tiled matmul disagrees with the float32 kernel on this adapter \(\d+ of 8640 elements of \[2, 3\] · \[1, 3\] batches of 40x22 · 22x36ᵀ differ, the first at \[0, 1, \d+, \d+\] .*\); turned off: float16 tensors are unavailable$/),
    ]);
  });

  it("the subgroup-matrix path's check (asked for here): a kernel that puts every batch's C in the first is turned off", async () => {
    forgetVerdicts(device().info);
    const warnings: string[] = [];
    // C's batches all written at batch 0's place: computed from the right operands, stored wrong
    const firstBatchOnly = brokenF16((plan) => (plan.batchShape.length ? { ...plan, batchShape: [1], aStrides: [0], bStrides: [0] } : plan));
    await checkFastPaths(firstBatchOnly, { paths: ['subgroup-matrix'], warn: (l) => warnings.push(l) });
    expect(verdictsOf(device().info).get('subgroup-matrix')).toBe('off');
    expect(profile().matmul.subgroupMatrix).toBeNull();
    expect(warnings).toEqual([
      expect.stringMatching(/^webgpu-gpt: the subgroup-matrix \(tensor-core\) matmul disagrees with the float32 kernel on this adapter \(\d+ of 8640 elements of \[2, 3\] · \[1, 3\] batches .* differ, the first at \[0, 1, \d+, \d+\] .*\); turned off: float16 products take the float32 products' kernels$/),
    ]);
    expect(describeVerdicts()).toMatch(/subgroup-matrix \(tensor-core\) matmul WRONG, turned off/);
  });

  it('the int8 path: verified against the host integer product, and a sum off by one turns it off with one warning', async () => {
    forgetVerdicts(device().info);
    const warnings: string[] = [];
    await checkFastPaths(launchMatmul, { paths: ['int8-subgroup-matrix'], warn: (l) => warnings.push(l) });
    expect(warnings).toEqual([]);
    expect(verdictsOf(device().info).get('int8-subgroup-matrix')).toBe('verified');
    expect(describeVerdicts()).toMatch(/int8 subgroup-matrix \(tensor-core\) matmul verified/);
    forgetVerdicts(device().info);
    // element [1, 5]: column 5's weight scale is 2^-2, so one unit of the integer sum is 0.25
    const offByOne = (_path: string, r: Uint16Array | Float32Array) => (r[1 * 132 + 5] += 0.25);
    await checkFastPaths(launchMatmul, { paths: ['int8-subgroup-matrix'], tamper: offByOne, warn: (l) => warnings.push(l) });
    expect(verdictsOf(device().info).get('int8-subgroup-matrix')).toBe('off');
    expect(warnings).toEqual([
      expect.stringMatching(/^webgpu-gpt: the int8 subgroup-matrix \(tensor-core\) matmul disagrees with the host's integer product on this adapter \(1 of 17952 elements of 136x40 · \(132x40\)ᵀ int8 differ, the first at \[1, 5\] .*\); turned off: int8 weights take the float32-activation kernels$/),
    ]);
    expect(profile().matmul.int8SubgroupMatrix).toBeNull();
    forgetVerdicts(device().info);
  });
});
