// Commands that change a model (train, prune, export) need its float32 weights: a quantized
// checkpoint is for inference only, refused as bad usage before the device opens.
import type { Checkpoint } from '../gpt/checkpoint.js';
import { UsageError } from './flags.js';

/** `ckpt` (read from `path`), unless it is quantized; `instead` says what to do with the float32 checkpoint it was made from. */
export function floatCheckpoint<C extends Pick<Checkpoint, 'meta'>>(ckpt: C, path: string, instead: string): C {
  const q = ckpt.meta.model.quantization;
  if (q) throw new UsageError(`${path} is a quantized (${q}) checkpoint, for inference only: ${instead} the float32 checkpoint it was made from`);
  return ckpt;
}
