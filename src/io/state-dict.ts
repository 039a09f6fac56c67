// A model's parameters by name (its state dict) as one safetensors file's bytes, and back: the same
// code in Node (webgpu-gpt/node writes and reads the file) and in a browser (a download, an upload).
// Names are kept as given (`h.0.attn.c_attn.weight`), values in their dtype: F32, F16 or I8.
import type { Tensor } from '../tensor/tensor.js';
import { checkBytes, parseSafetensors, readPendingTensors, serializeSafetensors, type PendingTensor, type Safetensors, type SafetensorsTensor } from './safetensors.js';

/** Parameters by name: a Map such as `module.stateDict()` returns, or the module itself. */
export type StateDictSource = Map<string, Tensor> | { stateDict(): Map<string, Tensor> };

/** The safetensors dtype a parameter is written as: its own (a float16 one read back exactly as float32, encoded as F16 again). */
const STORED_AS = { float32: 'F32', float16: 'F16', int8: 'I8' } as const;

/** Parameters as safetensors tensors to write, each read back from the GPU only when its turn comes. */
export function pendingTensors(state: Iterable<[string, Tensor]>): PendingTensor[] {
  return Array.from(state, ([name, t]) => {
    if (t.dtype === 'int32') throw new TypeError(`safetensors: parameter '${name}' is ${t.describe()}, expected float32, float16 or int8`);
    const read = async () => {
      // a save not awaited before model.dispose(): toArray's error would name neither
      if (t.isDisposed) throw new Error(`safetensors: parameter '${name}' ${t.describe()} was disposed before it was read back (await the save before disposing the model)`);
      return (await t.toArray()) as Float32Array | Int8Array;
    };
    return { name, dtype: STORED_AS[t.dtype], shape: [...t.shape], read };
  });
}

/** Parameter values read back from the GPU, by name, ready for safetensors. */
const safetensorsTensors = (state: Iterable<[string, Tensor]>): Promise<Record<string, SafetensorsTensor>> => readPendingTensors(pendingTensors(state));

/** The state dict as safetensors bytes (each parameter in its dtype), with optional string metadata. */
export async function stateDictToSafetensors(state: StateDictSource, metadata?: Record<string, string>): Promise<Uint8Array> {
  return serializeSafetensors(await stateDictTensors(state), metadata);
}

/** The state dict's parameters read back, as stateDictToSafetensors writes them (Node writes them to a file a tensor at a time). */
export const stateDictTensors = (state: StateDictSource) => safetensorsTensors(state instanceof Map ? state : state.stateDict());

/**
 * The tensors of safetensors bytes by name, for `module.loadStateDict(...)` (which checks every
 * name and shape); F16 and BF16 are widened to float32, I8 (an int8 layer's weight) stays int8.
 * Also returns the file's metadata.
 */
export function stateDictFromSafetensors(bytes: Uint8Array): StateDictRead {
  checkBytes('stateDictFromSafetensors', bytes);
  return stateDictOf(parseSafetensors(bytes));
}

/** A state dict and its file's metadata. */
export interface StateDictRead {
  state: Map<string, StateDictTensor>;
  metadata: Record<string, string>;
}

/** One parameter's values as read: float32, or int8 for an int8 layer's weight. */
export interface StateDictTensor {
  shape: number[];
  data: Float32Array | Int8Array;
}

/** stateDictFromSafetensors of a safetensors file already read (in Node, a tensor at a time). */
export function stateDictOf({ tensors, metadata }: Safetensors): StateDictRead {
  const state = new Map<string, StateDictTensor>();
  for (const [name, t] of Object.entries(tensors)) {
    if (!(t.data instanceof Float32Array || t.data instanceof Int8Array)) {
      throw new TypeError(`safetensors: tensor '${name}' has dtype ${t.dtype}; a state dict holds F32, F16, BF16 or I8 tensors (what stateDictToSafetensors writes)`);
    }
    state.set(name, { shape: t.shape, data: t.data });
  }
  return { state, metadata };
}
