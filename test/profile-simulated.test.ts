// simulateAdapter (src/kernels/profile.ts), what test/simulate-adapter.ts runs whole test files
// under (GPT_TEST_ADAPTER=h200): the profile an H200 gets, on this adapter, within what it can run.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { device } from '../src/index.js';
import { detectProfile, matmulTilings, profile, setProfile, simulateAdapter } from '../src/kernels/profile.js';
import { h200 } from './h200.js';
import { setupDevice } from './helpers.js';

beforeAll(setupDevice);
afterEach(() => {
  simulateAdapter(null);
  setProfile(null);
});

const withoutTensorCores = h200({ features: ['shader-f16', 'subgroups'], subgroupMatrixConfigs: [] });

describe('simulateAdapter', () => {
  it("gives the H200's choices within this adapter's limits; overrides apply over them and setProfile(null) comes back to them", () => {
    const own = detectProfile(device().info);
    simulateAdapter(withoutTensorCores);
    const want = detectProfile(withoutTensorCores);
    expect(profile()).toMatchObject({
      matmul: { ...want.matmul, textureReads: profile().matmul.textureReads },
      rowLanes: 64, rowVec4: false, splitSums: true, subgroupSharing: false, attentionKeys: 'auto',
      greedyLanes: [{ upTo: 2048, lanes: 32 }, { lanes: 256 }], // not a CPU adapter's lane a row
      bindingLimit: Math.min(2 ** 31, own.bindingLimit),
      bufferLimit: Math.min(2 ** 32, own.bufferLimit),
      offsetAlignment: Math.max(256, own.offsetAlignment),
    });
    expect(profile().matmul).toMatchObject({ tiled: 'buffer', skinny: 'auto', skinnyRows: 4, tiles: 'auto', splits: 'auto', subgroupMatrix: null });
    setProfile({ rowLanes: 1, greedyLanes: [{ lanes: 1 }] });
    expect([profile().rowLanes, profile().greedyLanes, profile().matmul.tiled]).toEqual([1, [{ lanes: 1 }], 'buffer']);
    setProfile(null);
    expect([profile().rowLanes, profile().greedyLanes]).toEqual([64, [{ upTo: 2048, lanes: 32 }, { lanes: 256 }]]);
    simulateAdapter(null);
    expect(profile()).toEqual(own);
  });

  it("keeps this adapter's limits where the simulated one's are larger, and the simulated one's where smaller", () => {
    simulateAdapter(h200({ features: ['shader-f16'], subgroupMatrixConfigs: [] }, { maxStorageBufferBindingSize: 2 ** 20, minStorageBufferOffsetAlignment: 16 }));
    expect(profile().bindingLimit).toBe(2 ** 20);
    expect(profile().offsetAlignment).toBe(Math.max(16, detectProfile(device().info).offsetAlignment));
  });

  it("runs the H200's tensor cores in software: its fragments, a K step whose workgroup fits here, float16 training under 'auto'", (ctx) => {
    if (!device().info.features.includes('shader-f16')) return ctx.skip();
    simulateAdapter(h200());
    expect(profile().matmul.subgroupMatrix).toEqual({ M: 16, N: 16, K: 16, lanes: 32, pinned: false, bk: 32, emulated: true });
    expect(profile().matmul.int8SubgroupMatrix).toEqual({ M: 16, N: 16, K: 32, lanes: 32, pinned: false, bk: 64, emulated: true });
    expect(profile().trainingDtype).toBe('float16');
  });
});

describe('the tilings the autotuner measures', () => {
  it("are the profile's tile candidates, the default's tiles first, fewest splits first", () => {
    simulateAdapter(withoutTensorCores);
    const names = (K: number, first?: 'large' | 'small') => matmulTilings(K, first).map((t) => `${t.tiles}/${t.splits}`);
    expect(names(1024, 'small')).toEqual(['small/1', 'small/2', 'small/4', 'large/1', 'large/2', 'large/4']);
    expect(names(512)).toEqual(['large/1', 'large/2', 'small/1', 'small/2']);
    setProfile({ matmul: { tileCandidates: ['small'] } }); // a CPU adapter's
    expect(names(512, 'large')).toEqual(['small/1', 'small/2']);
  });
});
