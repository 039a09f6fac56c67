// One benchmark case per library, built from inputs and a function of them: the timed iteration,
// the wait for the GPU, and the read-back used by the correctness check.
//   ours:   fn runs inside a scope (intermediates freed), waits with device().sync()
//   TF.js:  fn runs inside tf.tidy, waits by submitting and awaiting the queue
//   jax-js: fn is jit-compiled (its idiomatic fast path), waits with blockUntilReady
//   webgpu-torch: fn runs eagerly (each kernel its own submit), waits with onSubmittedWorkDone;
//           it has no dispose or tidy: the case destroys the buffers of the outputs and of the
//           intermediates fn names (`temp`) itself, as its user would (Tensor.storage.destroy())
import { device } from '../src/device/device.js';
import { scope } from '../src/tensor/scope.js';
import { type Tensor } from '../src/ops/index.js';
import type { LibCase } from './harness.js';
import { tfSync, torchGPUDevice, type Jax, type TF, type Torch } from './peers.js';

type TFTensor = import('@tensorflow/tfjs-core').Tensor;
type JaxArray = import('@jax-js/jax').Array;
type TorchTensor = import('webgpu-torch').Tensor;

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

/** A webgpu-torch tensor of `shape` holding `data`: its constructor takes nested arrays only (a typed array, which its typings allow, throws). */
export function torchTensor(torch: Torch, data: Float32Array, shape: readonly number[]): TorchTensor {
  const nest = (offset: number, dims: readonly number[]): unknown[] => {
    if (dims.length === 1) return Array.from(data.subarray(offset, offset + dims[0]!));
    const inner = dims.slice(1).reduce((a, b) => a * b, 1);
    return Array.from({ length: dims[0]! }, (_, i) => nest(offset + i * inner, dims.slice(1)));
  };
  return torch.tensor(nest(0, shape) as never);
}

/**
 * fn names each intermediate it makes with `temp`: their buffers are destroyed as soon as fn has
 * enqueued its kernels (WebGPU lets submitted work finish with them), the outputs' after the wait.
 */
export function torchCase(inputs: TorchTensor[], fn: (xs: TorchTensor[], temp: (t: TorchTensor) => TorchTensor) => TorchTensor[]): LibCase<TorchTensor[]> {
  const gpu = torchGPUDevice(inputs[0]!);
  const destroy = (ts: TorchTensor[]) => ts.forEach((t) => t.storage.destroy());
  const call = () => {
    const temps: TorchTensor[] = [];
    const outs = fn(inputs, (t) => (temps.push(t), t));
    destroy(temps);
    return outs;
  };
  return {
    iteration: call,
    async finish(outs) {
      await gpu.queue.onSubmittedWorkDone();
      destroy(outs.flat());
    },
    async outputs() {
      const outs = call();
      try {
        // toArrayAsync gives nested arrays, one level a dimension
        return await Promise.all(outs.map(async (t) => ((await t.toArrayAsync()) as unknown[]).flat(Infinity) as number[]));
      } finally {
        destroy(outs);
      }
    },
    dispose: () => destroy(inputs),
  };
}
