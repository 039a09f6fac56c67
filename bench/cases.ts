// One benchmark case per library, built from inputs and a function of them: the timed iteration,
// the wait for the GPU, and the read-back used by the correctness check.
//   ours:   fn runs inside a scope (intermediates freed), waits with device().sync()
//   TF.js:  fn runs inside tf.tidy, waits by submitting and awaiting the queue
//   jax-js: fn is jit-compiled (its idiomatic fast path), waits with blockUntilReady
import { device } from '../src/device/device.js';
import { scope } from '../src/tensor/scope.js';
import { type Tensor } from '../src/ops/index.js';
import type { LibCase } from './harness.js';
import { tfSync, type Jax, type TF } from './peers.js';

type TFTensor = import('@tensorflow/tfjs-core').Tensor;
type JaxArray = import('@jax-js/jax').Array;

export function oursCase(inputs: Tensor[], fn: (xs: Tensor[]) => Tensor[]): LibCase<Tensor[]> {
  return {
    iteration: () => scope(() => fn(inputs)),
    async finish(outs) {
      await device().sync();
      for (const t of outs.flat()) t.dispose();
    },
    async outputs() {
      const outs = scope(() => fn(inputs));
      try {
        return await Promise.all(outs.map((t) => t.toArray()));
      } finally {
        for (const t of outs) t.dispose();
      }
    },
    dispose: () => inputs.forEach((t) => t.dispose()),
  };
}

export function tfCase(tf: TF, inputs: TFTensor[], fn: (xs: TFTensor[]) => TFTensor[]): LibCase<TFTensor[]> {
  return {
    iteration: () => tf.tidy(() => fn(inputs)),
    async finish(outs) {
      await tfSync(tf);
      tf.dispose(outs.flat());
    },
    async outputs() {
      const outs = tf.tidy(() => fn(inputs));
      try {
        return (await Promise.all(outs.map((t) => t.data()))) as ArrayLike<number>[];
      } finally {
        tf.dispose(outs);
      }
    },
    dispose: () => tf.dispose(inputs),
  };
}

/** fn follows jax-js's ownership rule: it consumes its arguments (use `.ref` to reuse one). */
export function jaxCase(jax: Jax, inputs: JaxArray[], fn: (...xs: JaxArray[]) => JaxArray[]): LibCase<JaxArray[]> {
  const f = jax.jit(fn);
  const call = () => f(...inputs.map((x) => x.ref));
  return {
    iteration: call,
    async finish(outs) {
      await jax.blockUntilReady(outs);
      for (const o of outs.flat()) o.dispose();
    },
    outputs: async () => Promise.all(call().map((o) => o.data())), // data() consumes the array
    dispose() {
      for (const x of inputs) x.dispose();
      f.dispose();
    },
  };
}
