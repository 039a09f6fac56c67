// Random compositions of ops, end to end: every parameter's gradient against finite differences
// of a float64 reference of the same network, written independently with plain loops.
import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import { crossEntropy, embedding, layerNorm, matmul, permute, softmax, tensor, where, arange, type Tensor } from '../src/index.js';
import { checkGrad } from './gradcheck.js';
import { fcParams, setupDevice, valuesArb } from './helpers.js';
import { causalAttentionRef, gelu, matmulRef, ref, type Ref } from '../src/check/reference/index.js';

beforeAll(setupDevice);

const vals = (n: number, scale = 1) => valuesArb(n, -scale, scale);

/** Row-wise helpers on [rows, C] float64 data. */
function layerNormRef(x: Ref, w: Ref, b: Ref): Ref {
  const C = x.shape.at(-1)!;
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < x.data.length / C; r++) {
    const row = x.data.subarray(r * C, (r + 1) * C);
    const mu = row.reduce((a, v) => a + v, 0) / C;
    const vr = row.reduce((a, v) => a + (v - mu) ** 2, 0) / C;
    row.forEach((v, j) => (out[r * C + j] = ((v - mu) / Math.sqrt(vr + 1e-5)) * w.data[j]! + b.data[j]!));
  }
  return { shape: [...x.shape], data: out };
}
const addBias = (x: Ref, b: Ref): Ref => ({ shape: [...x.shape], data: x.data.map((v, i) => v + b.data[i % b.data.length]!) });
const mapRef = (x: Ref, f: (v: number) => number): Ref => ({ shape: [...x.shape], data: x.data.map(f) });

describe('compositions', () => {
  it('2-layer MLP with layernorm and GELU: d every parameter', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 6 }), fc.integer({ min: 1, max: 7 })).chain(([N, C, H]) =>
          fc.tuple(fc.constant([N, C, H]), vals(N * C), vals(C), vals(C), vals(C * H), vals(H), vals(H * C), vals(C)),
        ),
        async ([[N, C, H], x, g, b, w1, b1, w2, b2]) => {
          await checkGrad({
            name: 'mlp',
            inputs: [ref([N, C], x), ref([C], g), ref([C], b), ref([C, H], w1), ref([H], b1), ref([H, C], w2), ref([C], b2)],
            engine: ([x, g, b, w1, b1, w2, b2]) => matmul(matmul(layerNorm(x!, g!, b!), w1!).add(b1!).gelu(), w2!).add(b2!),
            reference: ([x, g, b, w1, b1, w2, b2]) =>
              addBias(matmulRef(mapRef(addBias(matmulRef(layerNormRef(x!, g!, b!), w1!), b1!), gelu), w2!), b2!),
            atol: 2e-3,
          });
        },
      ),
      fcParams(6),
    );
  });

  it('causal multi-head attention from primitives: d x and every weight', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 })).chain(
          ([B, T, NH, HS]) => {
            const C = NH * HS;
            return fc.tuple(fc.constant([B, T, NH, HS]), vals(B * T * C), vals(C * C), vals(C * C), vals(C * C), vals(C * C));
          },
        ),
        async ([[B, T, NH, HS], x, wq, wk, wv, wo]) => {
          const C = NH * HS;
          const heads = (t: Tensor) => permute(t.reshape([B, T, NH, HS]), [0, 2, 1, 3]); // [B, NH, T, HS]
          await checkGrad({
            name: 'attention',
            inputs: [ref([B, T, C], x), ref([C, C], wq), ref([C, C], wk), ref([C, C], wv), ref([C, C], wo)],
            engine: ([x, wq, wk, wv, wo]) => {
              const [q, k, v] = [wq, wk, wv].map((w) => heads(matmul(x!, w!)));
              const scores = matmul(q!, k!, { transB: true }).mul(1 / Math.sqrt(HS)); // [B, NH, T, T]
              const mask = arange(T).reshape([T, 1]).astype('float32').ge(arange(T).reshape([1, T]).astype('float32'));
              const att = softmax(where(mask, scores, -1e9));
              const y = permute(matmul(att, v!), [0, 2, 1, 3]).reshape([B, T, C]);
              return matmul(y, wo!);
            },
            reference: ([x, wq, wk, wv, wo]) => {
              const [q, k, v] = [wq, wk, wv].map((w) => matmulRef(x!, w!));
              // pack q | k | v rows for the packed-qkv reference
              const qkv = new Float64Array(B * T * 3 * C);
              [q!, k!, v!].forEach((r, part) => {
                for (let row = 0; row < B * T; row++) qkv.set(r.data.subarray(row * C, (row + 1) * C), row * 3 * C + part * C);
              });
              const y = causalAttentionRef({ shape: [B, T, 3 * C], data: qkv }, NH);
              return matmulRef(y, wo!);
            },
            atol: 2e-3,
          });
        },
      ),
      fcParams(6),
    );
  });

  it('embedding -> linear -> cross-entropy: d table and weight, with repeated ids', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 8 })).chain(([V, C, N]) =>
          fc.tuple(
            fc.constant([V, C, N]),
            vals(V * C),
            vals(C * V),
            fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: N, maxLength: N }),
            fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: N, maxLength: N }),
          ),
        ),
        async ([[V, C, N], table, w, ids, targets]) => {
          await checkGrad({
            name: 'embedding-linear-ce',
            inputs: [ref([V, C], table), ref([C, V], w)],
            engine: ([t, wt]) => crossEntropy(matmul(embedding(t!, tensor(new Int32Array(ids))), wt!), tensor(new Int32Array(targets))),
            reference: ([t, wt]) => {
              const emb: Ref = { shape: [N, C], data: Float64Array.from(ids.flatMap((id) => [...t!.data.subarray(id * C, (id + 1) * C)])) };
              const logits = matmulRef(emb, wt!);
              let loss = 0;
              targets.forEach((tg, r) => {
                const row = [...logits.data.subarray(r * V, (r + 1) * V)];
                const m = Math.max(...row);
                loss += m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0)) - row[tg]!;
              });
              return ref([], [loss / N]);
            },
          });
        },
      ),
      fcParams(8),
    );
  });
});
