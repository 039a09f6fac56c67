// Fused causal attention against a float64 reference: forward (with and without a decoding
// context), and the gradient of the packed qkv against finite differences; both kernel families
// (subgroup broadcasts where the adapter has 8-lane subgroups, and workgroup-memory tiles).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { causalAttention, noGrad, scope, tensor } from '../src/index.js';
import { setProfile } from '../src/kernels/profile.js';
import { checkGrad } from './gradcheck.js';
import { expectClose, fcParams, seededValues, setupDevice, toTensor } from './helpers.js';
import { causalAttentionRef, ref } from './reference.js';

beforeAll(setupDevice);

// T past 64 spans several query blocks and key tiles; odd head sizes exercise the vec4 padding.
const shapeArb = fc.record({
  B: fc.integer({ min: 1, max: 2 }),
  T: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(63, 64, 65, 130)),
  nHead: fc.integer({ min: 1, max: 3 }),
  HS: fc.constantFrom(1, 3, 4, 8, 32, 64),
});

describe.each(['auto', 'off'] as const)('causalAttention, subgroup kernels %s', (subgroups) => {
  beforeAll(() => setProfile(subgroups === 'off' ? { subgroupSharing: false } : null));
  afterAll(() => setProfile(null));

  it('forward matches the float64 reference', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb, fc.integer({ min: 1, max: 1000 }), async ({ B, T, nHead, HS }, seed) => {
        const qkv = ref([B, T, 3 * nHead * HS], seededValues(B * T * 3 * nHead * HS, seed, -2, 2));
        await scope(async () => {
          await expectClose(causalAttention(toTensor(qkv), nHead), causalAttentionRef(qkv, nHead), 2e-5, 1e-4, 'y');
        });
      }),
      fcParams(20),
    );
  });

  it('decoding: the last queries of a context attend to all of it', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb, fc.integer({ min: 1, max: 70 }), async ({ B, T: Tk, nHead, HS }, tq) => {
        const T = Math.min(tq, Tk);
        const C3 = 3 * nHead * HS;
        const context = ref([B, Tk, C3], seededValues(B * Tk * C3, Tk * 7 + T, -2, 2));
        const last = new Float64Array(B * T * C3);
        for (let b = 0; b < B; b++) last.set(context.data.subarray((b * Tk + Tk - T) * C3, (b + 1) * Tk * C3), b * T * C3);
        const qkv = ref([B, T, C3], last);
        await scope(async () => {
          const y = noGrad(() => causalAttention(toTensor(qkv), nHead, toTensor(context)));
          await expectClose(y, causalAttentionRef(qkv, nHead, context), 2e-5, 1e-4, 'y');
        });
      }),
      fcParams(12),
    );
  });

  it('d qkv matches finite differences', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ B: fc.integer({ min: 1, max: 2 }), T: fc.constantFrom(1, 2, 5, 9, 66), nHead: fc.integer({ min: 1, max: 2 }), HS: fc.constantFrom(1, 3, 4) }),
        async ({ B, T, nHead, HS }) => {
          const n = B * T * 3 * nHead * HS;
          await checkGrad({
            name: `attention B${B} T${T} NH${nHead} HS${HS}`,
            inputs: [ref([B, T, 3 * nHead * HS], seededValues(n, n, -2, 2))],
            engine: ([qkv]) => causalAttention(qkv!, nHead),
            reference: ([qkv]) => causalAttentionRef(qkv!, nHead),
          });
        },
      ),
      fcParams(10),
    );
  });

  it('rejects bad shapes and gradients through a cache, naming the op and shapes', () => {
    scope(() => {
      const qkv = tensor(new Float32Array(2 * 3 * 12), [2, 3, 12]);
      expect(() => causalAttention(qkv.reshape([6, 12]), 2)).toThrow(/causalAttention: qkv .*\[6, 12\].*expected qkv \[B, T, 3C\]/);
      expect(() => causalAttention(qkv, 3)).toThrow(/C = 4 must split into nHead heads/);
      expect(() => causalAttention(qkv, 2, tensor(new Float32Array(2 * 2 * 12), [2, 2, 12]))).toThrow(/expected context \[2, Tk >= 3, 12\]/);
      qkv.requiresGrad = true;
      expect(() => causalAttention(qkv, 2, qkv)).toThrow(/no gradient through a KV cache/);
    });
  });
});
