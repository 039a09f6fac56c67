// Fused causal attention beyond the op table's drawn calls (test/ops.test.ts, which holds forward,
// decoding with a context, and the qkv gradient to the float64 reference under every kernel
// variant): the errors.
import { beforeAll, describe, expect, it } from 'vitest';
import { causalAttention, scope, tensor } from '../src/index.js';
import { setupDevice } from './helpers.js';

beforeAll(setupDevice);

describe('causalAttention', () => {
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
