import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { BufferPool, sizeClass } from '../src/device/pool.js';
import { Kernel, pieces } from '../src/kernels/kernel.js';
import { profile, setProfile } from '../src/kernels/profile.js';
import { device, scope, tensor } from '../src/index.js';
import { fcParams, setupDevice } from './helpers.js';

beforeAll(setupDevice);

describe('device layer', () => {
  it('names the adapter and requests its real limits', () => {
    const { info } = device();
    expect(info.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(device().gpu.limits.maxStorageBufferBindingSize).toBe(info.limits.maxStorageBufferBindingSize);
    expect(device().gpu.limits.maxComputeInvocationsPerWorkgroup).toBe(info.limits.maxComputeInvocationsPerWorkgroup);
  });

  it('subgroup kernels are chosen exactly on CPU adapters with 8-lane subgroups (llvmpipe: 8 with 256-bit vectors)', () => {
    const { info } = device();
    const llvmpipe = /llvmpipe|lavapipe/i.test(info.description);
    // Dawn reports llvmpipe's subgroup size; if it stopped, the subgroup kernels would silently go unused
    if (llvmpipe && info.features.includes('subgroups')) expect(info.subgroupSizes).not.toBeNull();
    if (llvmpipe && /256.bits/.test(info.device) && info.features.includes('subgroups')) expect(profile().subgroupSharing).toBe(true);
    if (!info.isFallbackAdapter) expect(profile().subgroupSharing).toBe(false); // GPUs keep their own kernels
    setProfile({ subgroupSharing: false });
    expect(profile().subgroupSharing).toBe(false);
    setProfile(null);
  });

  it('CPU adapters submit whole batches of 512 dispatches; GPUs start small after running dry (test/null-backend.test.ts)', async () => {
    const x = tensor(new Float32Array(64), [64]);
    await device().sync();
    const { submits } = device().stats;
    scope(() => {
      for (let i = 0; i < 100; i++) x.gelu();
    });
    expect(device().stats.submits - submits).toBe(device().info.isFallbackAdapter ? 0 : 2);
    await device().sync();
    x.dispose();
  });

  it('size classes waste at most 25% and are monotonic', () => {
    let prev = 0;
    for (let b = 1; b < 1 << 20; b = Math.ceil(b * 1.37)) {
      const c = sizeClass(b);
      expect(c).toBeGreaterThanOrEqual(b);
      expect(c).toBeLessThanOrEqual(Math.max(16, b * 1.25 + 4));
      expect(c).toBeGreaterThanOrEqual(prev);
      prev = c;
    }
  });

  it("a size class never rounds a request past the binding limit or the adapter's largest buffer", () => {
    const sizes: number[] = [];
    const gpu = {
      pushErrorScope: () => {},
      popErrorScope: async () => null,
      createBuffer: ({ size }: { size: number }) => (sizes.push(size), { size }),
    } as unknown as GPUDevice;
    const pool = new BufferPool(gpu, () => {}, 1000, 3000);
    for (const bytes of [40, 900, 1000, 1001, 2900, 3000]) pool.acquire(bytes, 'probe');
    // 900 and 1000 would be 1024, past the binding limit; 2900 and 3000 would be 3072, past the largest
    expect(sizes).toEqual([sizeClass(40), 900, 1000, sizeClass(1001), 3000, 3000]);
  });

  it('binding pieces cover n elements in order, each start aligned for both widths, each within the binding and `most`', () => {
    const align = profile().offsetAlignment; // what windows start at (a GPU's 256 where a test or simulateAdapter raises it)
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.constantFrom(2, 4, 8, 12, 48, 3072),
        fc.constantFrom(1, 2),
        fc.constantFrom(64, 1000, 4096, 2 ** 16),
        fc.oneof(fc.constant(Infinity), fc.integer({ min: 1, max: 3000 })),
        (n, bytes, narrowerBy, bindingLimit, most) => {
          const narrowest = bytes / narrowerBy;
          setProfile({ bindingLimit });
          try {
            const got = pieces(n, bytes, narrowest, most);
            // the smallest piece whose start and end land on an aligned offset of both widths
            const step = align / gcd(align, narrowest);
            let next = 0;
            for (const { start, count } of got) {
              expect(start).toBe(next);
              expect(count).toBeGreaterThan(0);
              expect((start * narrowest) % align).toBe(0);
              // within both limits, unless one is below a single aligned step (then one step)
              if (got.length > 1) expect(count).toBeLessThanOrEqual(Math.max(step, Math.min(Math.floor(bindingLimit / bytes), most)));
              next = start + count;
            }
            expect(next).toBe(n);
            if (got.length === 1) expect((n * bytes <= bindingLimit && n <= most) || n <= step).toBe(true);
          } finally {
            setProfile(null);
          }
        },
      ),
      fcParams(40),
    );
  });

  it('pools buffers: a freed buffer of the same class is reused', () => {
    const a = tensor(new Float32Array(1000));
    const buf = a.buffer();
    a.dispose();
    const b = tensor(new Float32Array(990));
    expect(b.buffer()).toBe(buf);
    b.dispose();
  });

  it('batches dispatches into one submit until a readback', () =>
    scope(async () => {
      const x = tensor([1, 2, 3]);
      await x.toArray();
      const { submits, dispatches } = { ...device().stats };
      let y = x;
      for (let i = 0; i < 20; i++) y = y.add(1);
      expect(device().stats.dispatches - dispatches).toBe(2 * 20); // each add: a scalar fill + the add
      expect(device().stats.submits).toBe(submits);
      expect([...(await y.toArray())]).toEqual([21, 22, 23]);
      expect(device().stats.submits).toBe(submits + 1);
      // reads started together share one submit
      const [a, b] = await Promise.all([y.sum().item(), x.mul(2).toArray()]);
      expect([a, [...b]]).toEqual([66, [2, 4, 6]]);
      expect(device().stats.submits).toBe(submits + 2);
    }));

  it('shader compile errors name the kernel, line:col and show the source', async () => {
    const bad = new Kernel({
      name: 'broken_kernel',
      write: { out: 'f32' },
      body: `@compute @workgroup_size(1)\nfn main() {\n  out[0] = undefined_name;\n}`,
    });
    const out = tensor([0]);
    bad.launch([out.buffer()], {}, [1, 1, 1]);
    const err = await out.toArray().then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/WGSL compile error in kernel 'broken_kernel'/);
    expect(err?.message).toMatch(/broken_kernel:\d+:\d+: .*undefined_name/);
    expect(err?.message).toMatch(/> +out\[0\] = undefined_name;/);
    out.dispose();
    // the device stays usable afterwards
    await scope(async () => expect([...(await tensor([1]).add(1).toArray())]).toEqual([2]));
  });

  it("refuses, when built, a var declared in a block without an initializer (Tint zeroes it once, not on each pass)", () => {
    const kernel = (body: string) => () => new Kernel({ name: 'stale_var', write: { out: 'f32' }, body: `@compute @workgroup_size(1)\nfn main() {\n${body}\n}` });
    const refusal = /^stale_var: 'var h' is declared in a block without an initializer, so Tint zeroes it once, not on each pass; write 'var h = T\(\);'$/;
    expect(kernel('  for (var i = 0u; i < 4u; i++) {\n    var h: array<f32, 2>;\n    out[i] = h[0];\n  }')).toThrow(refusal);
    expect(kernel('  if (out[0] > 0.0) {\n    var h: f32;\n    out[1] = h;\n  }')).toThrow(refusal);
    // on the line that opens its block, or a nested loop's own counter
    expect(kernel('  for (var i = 0u; i < 4u; i++) { var h: f32; h += 1.0; out[i] = h; }')).toThrow(refusal);
    expect(kernel('  for (var i = 0u; i < 4u; i++) {\n    for (var h: u32; h < 2u; h++) { out[i] += 1.0; }\n  }')).toThrow(refusal);
    // the function address space spelled out is the same variable
    expect(kernel('  for (var i = 0u; i < 4u; i++) { var<function> h: f32; h += 1.0; out[i] = h; }')).toThrow(refusal);
    // at the function's top, or with an initializer, it is zeroed where it is declared
    expect(kernel('  var h: array<f32, 2>;\n  for (var i = 0u; i < 4u; i++) {\n    var g = array<f32, 2>(); // not var x: f32;\n    out[i] = h[0] + g[1];\n  }')).not.toThrow();
  });

  it('refuses, when built, a store into one component of a workgroup vector through a computed index (FXC rewrites the whole vector: lanes race)', () => {
    const kernel = (store: string) => () => new Kernel({
      name: 'shared_component',
      write: { out: 'f32' },
      body: `var<workgroup> tile: array<vec4f, 4>;\n@compute @workgroup_size(16)\nfn main(@builtin(local_invocation_index) lane: u32) {\n  ${store}\n  workgroupBarrier();\n  out[lane] = tile[lane / 4u][lane % 4u];\n}`,
    });
    const refusal = (index: string) => new RegExp(`^shared_component: 'tile\\[lane / 4u\\]\\[${index}\\] =' stores one component of a workgroup vector through a computed index, .*; store it with a swizzle \\(\\.x, \\.y, \\.z, \\.w\\)$`);
    expect(kernel('tile[lane / 4u][lane % 4u] = 1.0;')).toThrow(refusal('lane % 4u'));
    expect(kernel('tile[lane / 4u] [ (lane + 1u) % 4u ] += 1.0;')).toThrow(refusal(' \\(lane \\+ 1u\\) % 4u '));
    // an increment or decrement stores too (of integer vectors; the check reads text, not types)
    expect(kernel('tile[lane / 4u][lane % 4u]++;')).toThrow(refusal('lane % 4u'));
    expect(kernel('tile[lane / 4u][lane % 4u] --;')).toThrow(refusal('lane % 4u'));
    // a swizzle, a literal component, the whole vector: one store each everywhere (and reads are free)
    expect(kernel('tile[lane / 4u].y = 1.0;')).not.toThrow();
    expect(kernel('tile[lane / 4u][2u] = 1.0;')).not.toThrow();
    expect(kernel('tile[lane % 4u] = vec4f(f32(lane));')).not.toThrow();
  });

  it('validation errors surface at the next readback naming the kernel', async () => {
    const k = new Kernel({
      name: 'needs_two_buffers',
      read: { a: 'f32' },
      write: { out: 'f32' },
      body: `@compute @workgroup_size(1)\nfn main() { out[0] = a[0]; }`,
    });
    const out = tensor([0]);
    k.launch([out.buffer()], {}, [1, 1, 1]); // one binding missing
    await expect(out.toArray()).rejects.toThrow(/needs_two_buffers/);
    out.dispose();
  });
});

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
