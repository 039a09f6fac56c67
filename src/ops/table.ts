// The op table: every op of the engine, one entry each (name, the dtypes its tensor arguments
// take, shape rule, forward launch, backward rule or NOT_DIFFERENTIABLE; see src/autograd/op.ts),
// and the in-place updates (src/ops/update.ts). src/check/cases must give each entry a float64
// reference and a way to draw valid arguments, or the build fails; test/ops.test.ts and
// `gpt doctor --check` run them all. Adding an op is an entry in its family's file, a line here,
// its kernel file and its case.
import type { Op } from '../autograd/op.js';
import { adamw } from './adamw.js';
import { causalAttention } from './attention.js';
import { biasGelu } from './bias-gelu.js';
import { expand, sumTo } from './broadcast.js';
import { cast, castCached } from './cast.js';
import { castInto } from './cast-into.js';
import { clamp } from './clamp.js';
import { crossEntropy } from './cross-entropy.js';
import { distillLoss } from './distill-loss.js';
import { dropout } from './dropout.js';
import {
  abs, add, div, eq, exp, ge, gelu, geluTanh, gt, le, log, lt, maximum, minimum, mul, ne, neg, pow, relu, rsqrt, sigmoid, sqrt, square, sub, tanh, where,
} from './elementwise.js';
import { watchNonFinite } from './finite.js';
import { embedding } from './gather.js';
import { gradNorm } from './grad-norm.js';
import { gradScalerUpdate } from './grad-scaler.js';
import { linearInt4 } from './int4.js';
import { embeddingInt8, linearInt8 } from './int8.js';
import { layerNorm } from './layernorm.js';
import { linear } from './linear.js';
import { linearCrossEntropy } from './linear-cross-entropy.js';
import { maskInPlace } from './mask.js';
import { matmul } from './matmul.js';
import { argmax, argmin, max, mean, min, sum } from './reduce.js';
import { banRepeatedNgrams } from './ngram.js';
import { countTokens, penalizeLogits } from './penalty.js';
import { sampleLogits } from './sample.js';
import { speculativeSample } from './speculative.js';
import { clone, concat, flatten, permute, reshape, slice, sliceAssign, squeeze, stack, unsqueeze } from './shape.js';
import { logSoftmax, softmax } from './softmax.js';
import { topkIndices, topkValues } from './topk.js';
import { std, variance } from './variance.js';
import type { Update } from './update.js';

// `any`: each entry keeps its own argument types (OPS.add takes what `add` takes)
type AnyOp = Op<any, any>;
type AnyUpdate = Update<any>;

export const OPS = {
  // elementwise (src/ops/elementwise.ts)
  neg, square, abs, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, gelu, geluTanh,
  add, sub, mul, div, pow, maximum, minimum,
  eq, ne, lt, le, gt, ge,
  where,
  clamp, // (clamp.ts)
  // broadcasting (broadcast.ts), reductions (reduce.ts, variance.ts), shapes (shape.ts)
  expand, sumTo,
  sum, mean, max, min, argmax, argmin, var: variance, std,
  topkValues, topkIndices, // topk's two results (topk.ts)
  reshape, squeeze, unsqueeze, flatten, clone, permute, slice, concat, stack,
  cast, castCached,
  // linear algebra and the fused ops of a transformer
  matmul, linear, embedding, dropout, softmax, logSoftmax, layerNorm, crossEntropy, linearCrossEntropy, distillLoss, causalAttention, biasGelu,
  // generation: penalties and n-gram bans on the logits, a token per row of them, a round of speculative sampling
  penalizeLogits, banRepeatedNgrams, sampleLogits, speculativeSample,
  // int8 and int4 weights, inference only (int8.ts, int4.ts)
  linearInt8, embeddingInt8, linearInt4,
} satisfies Record<string, AnyOp>;

export const UPDATES = { adamw, gradNorm, gradScalerUpdate, watchNonFinite, maskInPlace, castInto, sliceAssign, countTokens } satisfies Record<string, AnyUpdate>;

export type OpName = keyof typeof OPS;
export type UpdateName = keyof typeof UPDATES;
