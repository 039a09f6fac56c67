/// <reference types="@webgpu/types" preserve="true" />
// Public API.
export { initDevice, device, DeviceLostError, type Device, type MemoryStats } from './device/device.js';
export type { DeviceInfo, DeviceOptions } from './device/adapter.js';
export { scope, keep } from './tensor/scope.js';
export * from './autograd/index.js';
// the ops users call: every op of the table but castCached (autocast's), the creation functions, ops
// of your own; the ops layer's plumbing that optim, nn and gpt use (the fused AdamW, clipping and
// loss-scaler updates, the LM head's work split, argument checks) is not the package's API
export {
  Tensor, tensor, full, zeros, ones, zerosLike, onesLike, arange, rand, randn,
  ops, neg, square, abs, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, gelu, geluTanh,
  add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, where, clamp,
  expand, sumTo, sum, mean, max, min, argmax, argmin, topk, topkValues, topkIndices, var, std,
  reshape, squeeze, unsqueeze, flatten, clone, permute, transpose, slice, split, chunk, concat, cat, stack, sliceAssign, cast,
  matmul, linear, embedding, dropout, softmax, logSoftmax, layerNorm, crossEntropy, linearCrossEntropy, distillLoss, causalAttention, biasGelu,
  penalizeLogits, banRepeatedNgrams, sampleLogits, speculativeSample, quantizeInt8, linearInt8, embeddingInt8, linearInt4,
  defineOp, gradcheck,
  type Axes, type DistillOptions, type DType, type MatmulOptions, type OpContext, type OpName, type OpSpec, type PenaltyOptions, type SamplingOptions, type Shape,
  type TensorOrScalar, type VarianceOptions, type GradcheckInput, type GradcheckOptions, type GradcheckResult,
} from './ops/index.js';
export * from './nn/index.js';
export * from './optim/index.js';
export * from './io/index.js';
export * from './gpt/index.js';
