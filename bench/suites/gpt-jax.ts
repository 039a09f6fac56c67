// The GPT-2 training step in jax-js: the same forward as src/gpt/model.ts, differentiated with
// valueAndGrad, and the whole step (forward, backward, clipping, AdamW) compiled with jit, the
// way a JAX user writes it. jax-js's ownership rule applies throughout: a function consumes the
// arrays passed to it, so an array used twice is passed as `.ref` the first time.
import type { GPTConfig } from '../../src/gpt/model.js';
import type { Jax } from '../peers.js';
import { LN_EPS, type PeerTrainer, type StepHyper, type Weights } from './gpt-peer.js';

type JArray = import('@jax-js/jax').Array;
type Tree = Record<string, JArray>;

export function jaxTrainer(jax: Jax, cfg: GPTConfig, B: number, w: Weights, h: StepHyper): PeerTrainer {
  const { numpy: np, nn } = jax;
  const { nLayer: L, nHead: NH, nEmbd: C, blockSize: T, vocabSize: V } = cfg;
  const HS = C / NH;

  const layerNorm = (x: JArray, g: JArray) => {
    const xc = x.ref.sub(np.mean(x, -1, { keepdims: true }));
    const variance = np.mean(np.square(xc.ref), -1, { keepdims: true });
    return xc.mul(np.reciprocal(np.sqrt(variance.add(LN_EPS)))).mul(g);
  };
  const linear = (x: JArray, weight: JArray) => np.matmul(x, np.transpose(weight)); // [N, in] · [out, in]ᵀ
  const heads = (x: JArray) => np.transpose(x.reshape([B, T, NH, HS]), [0, 2, 1, 3]); // [B, NH, T, HS]

  function loss(p: Tree, idx: JArray, targets: JArray): JArray {
    let x = np.take(p['wte.weight']!.ref, idx, 0).add(p['wpe.weight']!).reshape([B * T, C]); // [B*T, C]
    for (let l = 0; l < L; l++) {
      const qkv = linear(layerNorm(x.ref, p[`h.${l}.ln_1.weight`]!), p[`h.${l}.attn.c_attn.weight`]!); // [B*T, 3C]
      const [q, k, v] = np.split(qkv, 3, -1).map(heads) as [JArray, JArray, JArray];
      const scores = np.matmul(q, np.swapaxes(k, -1, -2)).mul(1 / Math.sqrt(HS)); // [B, NH, T, T]
      const mask = np.greaterEqual(np.arange(T).reshape([T, 1]), np.arange(T).reshape([1, T]));
      const y = np.matmul(nn.softmax(np.where(mask, scores, -1e9), -1), v); // [B, NH, T, HS]
      const merged = np.transpose(y, [0, 2, 1, 3]).reshape([B * T, C]);
      x = x.ref.add(linear(merged, p[`h.${l}.attn.c_proj.weight`]!));
      const hidden = nn.gelu(linear(layerNorm(x.ref, p[`h.${l}.ln_2.weight`]!), p[`h.${l}.mlp.c_fc.weight`]!), { approximate: false });
      x = x.ref.add(linear(hidden, p[`h.${l}.mlp.c_proj.weight`]!));
    }
    const logits = linear(layerNorm(x, p['ln_f.weight']!), p['wte.weight']!); // [B*T, V], tied head
    return np.mean(np.sum(nn.logSoftmax(logits, -1).mul(nn.oneHot(targets, V)), -1)).neg();
  }

  // valueAndGrad consumes its arguments, so it gets references and the update keeps the originals
  const step = jax.jit((p: Tree, m: Tree, v: Tree, idx: JArray, targets: JArray, lr: JArray, bc1: JArray, bc2: JArray) => {
    const refs: Tree = {};
    for (const name of w.names) refs[name] = p[name]!.ref;
    const [value, grads] = jax.valueAndGrad(loss)(refs, idx, targets) as [JArray, Tree];
    let total: JArray | null = null;
    for (const name of w.names) {
      const s = np.sum(np.square(grads[name]!.ref));
      total = total ? total.add(s) : s;
    }
    const norm = np.sqrt(total!);
    const scale = np.divide(h.gradClip, np.maximum(norm.ref.add(1e-6), h.gradClip));
    const p1: Tree = {};
    const m1: Tree = {};
    const v1: Tree = {};
    for (const name of w.names) {
      const g = grads[name]!.mul(scale.ref);
      const mm = m[name]!.mul(h.beta1).add(g.ref.mul(1 - h.beta1));
      const vv = v[name]!.mul(h.beta2).add(g.ref.mul(g).mul(1 - h.beta2));
      const update = mm.ref.div(bc1.ref).div(np.sqrt(vv.ref.div(bc2.ref)).add(h.eps));
      const wd = w.shapes.get(name)!.length >= 2 ? h.weightDecay : 0;
      const param = p[name]!;
      p1[name] = param.ref.sub(update.add(param.mul(wd)).mul(lr.ref));
      m1[name] = mm;
      v1[name] = vv;
    }
    for (const a of [scale, lr, bc1, bc2]) a.dispose();
    return [value, norm, p1, m1, v1] as const;
  });

  let params: Tree = {};
  let m: Tree = {};
  let v: Tree = {};
  for (const name of w.names) {
    const shape = w.shapes.get(name)!;
    params[name] = np.array(w.data.get(name)!).reshape(shape);
    m[name] = np.zeros(shape);
    v[name] = np.zeros(shape);
  }
  let t = 0;

  return {
    async step(xs, ys, lr) {
      t++;
      const idx = np.array(xs, { dtype: np.int32 }).reshape([B, T]);
      const targets = np.array(ys, { dtype: np.int32 });
      const scalar = (x: number) => np.array(Float32Array.of(x)).reshape([]);
      const [value, norm, p1, m1, v1] = step(params, m, v, idx, targets, scalar(lr), scalar(1 - h.beta1 ** t), scalar(1 - h.beta2 ** t));
      params = p1;
      m = m1;
      v = v1;
      const [lossData, normData] = await Promise.all([value.data(), norm.data()]);
      return { loss: lossData[0]!, gradNorm: normData[0]! };
    },
    dispose() {
      for (const tree of [params, m, v]) for (const a of Object.values(tree)) a.dispose();
      step.dispose();
    },
  };
}
