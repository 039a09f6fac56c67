// The GPT-2 training step in TF.js: the same forward as src/gpt/model.ts (token + position
// embedding, pre-LN blocks with causal self-attention and an exact (erf) GELU MLP, final LayerNorm, LM head
// tied to the token embedding, mean cross-entropy), gradients by tf.variableGrads, then clipping
// and AdamW written with tf ops (TF.js's own Adam has no decoupled weight decay).
import type { GPTConfig } from '../../src/gpt/model.js';
import type { TF } from '../peers.js';
import { LN_EPS, type PeerTrainer, type StepHyper, type Weights } from './gpt-peer.js';

type Tensor = import('@tensorflow/tfjs-core').Tensor;
type Variable = import('@tensorflow/tfjs-core').Variable;

let instances = 0; // TF.js variable names are global

export function tfjsTrainer(tf: TF, cfg: GPTConfig, B: number, w: Weights, h: StepHyper): PeerTrainer {
  const { nLayer: L, nHead: NH, nEmbd: C, blockSize: T, vocabSize: V } = cfg;
  const HS = C / NH;
  const prefix = `gpt${instances++}/`;
  const params = new Map<string, Variable>();
  const m = new Map<string, Variable>();
  const v = new Map<string, Variable>();
  for (const name of w.names) {
    const shape = w.shapes.get(name)!;
    params.set(name, tf.variable(tf.tensor(w.data.get(name)!, shape), true, prefix + name));
    m.set(name, tf.variable(tf.zeros(shape), false, `${prefix}m/${name}`));
    v.set(name, tf.variable(tf.zeros(shape), false, `${prefix}v/${name}`));
  }
  const p = (name: string) => params.get(name)!;
  const mask = tf.greaterEqual(tf.reshape(tf.range(0, T), [T, 1]), tf.reshape(tf.range(0, T), [1, T])); // [T, T] query >= key
  const negInf = tf.scalar(-1e9);
  let t = 0;

  const layerNorm = (x: Tensor, g: Tensor) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, LN_EPS))), g);
  };
  const linear = (x: Tensor, weight: Tensor) => tf.matMul(x, weight, false, true); // [N, in] · [out, in]ᵀ
  const gelu = (x: Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)); // exact GELU, as ours and nanoGPT
  const heads = (x: Tensor) => tf.transpose(tf.reshape(x, [B, T, NH, HS]), [0, 2, 1, 3]); // [B, NH, T, HS]

  function loss(idx: Tensor, targets: Tensor): Tensor {
    let x = tf.reshape(tf.add(tf.gather(p('wte.weight'), idx), p('wpe.weight')), [B * T, C]); // [B*T, C]
    for (let l = 0; l < L; l++) {
      const qkv = linear(layerNorm(x, p(`h.${l}.ln_1.weight`)), p(`h.${l}.attn.c_attn.weight`)); // [B*T, 3C]
      const [q, k, vv] = tf.split(qkv, 3, -1).map(heads) as [Tensor, Tensor, Tensor];
      const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(HS)); // [B, NH, T, T]
      const y = tf.matMul(tf.softmax(tf.where(mask, scores, negInf)), vv); // [B, NH, T, HS]
      const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B * T, C]);
      x = tf.add(x, linear(merged, p(`h.${l}.attn.c_proj.weight`)));
      const hidden = gelu(linear(layerNorm(x, p(`h.${l}.ln_2.weight`)), p(`h.${l}.mlp.c_fc.weight`))); // [B*T, 4C]
      x = tf.add(x, linear(hidden, p(`h.${l}.mlp.c_proj.weight`)));
    }
    const logits = linear(layerNorm(x, p('ln_f.weight')), p('wte.weight')); // [B*T, V], tied head
    const onehot = tf.cast(tf.oneHot(targets as import('@tensorflow/tfjs-core').Tensor1D, V), 'float32');
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), onehot), -1)));
  }

  return {
    async step(xs, ys, lr) {
      t++;
      const idx = tf.tensor(xs, [B, T], 'int32');
      const targets = tf.tensor(ys, [B * T], 'int32');
      const { value, grads } = tf.variableGrads(() => loss(idx, targets) as import('@tensorflow/tfjs-core').Scalar, [...params.values()]);
      const norm = tf.tidy(() => {
        const g = (name: string) => grads[prefix + name]!;
        // a running sum: tf.addN over all parameters would bind more storage buffers than this
        // adapter allows per shader stage (8)
        const norm = tf.sqrt(w.names.map((n) => tf.sum(tf.square(g(n)))).reduce((a, b) => tf.add(a, b)));
        const scale = tf.div(h.gradClip, tf.maximum(tf.add(norm, 1e-6), h.gradClip));
        const bc1 = 1 - h.beta1 ** t;
        const bc2 = 1 - h.beta2 ** t;
        for (const name of w.names) {
          const gr = tf.mul(g(name), scale);
          const m1 = tf.add(tf.mul(m.get(name)!, h.beta1), tf.mul(gr, 1 - h.beta1));
          const v1 = tf.add(tf.mul(v.get(name)!, h.beta2), tf.mul(tf.square(gr), 1 - h.beta2));
          m.get(name)!.assign(m1);
          v.get(name)!.assign(v1);
          const update = tf.div(tf.div(m1, bc1), tf.add(tf.sqrt(tf.div(v1, bc2)), h.eps));
          const wd = w.shapes.get(name)!.length >= 2 ? h.weightDecay : 0;
          p(name).assign(tf.sub(p(name), tf.mul(tf.add(update, tf.mul(p(name), wd)), lr)));
        }
        return norm;
      });
      const [lossData, normData] = await Promise.all([value.data(), norm.data()]);
      tf.dispose([idx, targets, value, norm, ...Object.values(grads)]);
      return { loss: lossData[0]!, gradNorm: normData[0]! };
    },
    dispose() {
      tf.dispose([...params.values(), ...m.values(), ...v.values(), mask, negInf]);
    },
  };
}
