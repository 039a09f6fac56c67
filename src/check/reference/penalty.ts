// Float64 reference of penalizeLogits and countTokens, from the rules as Hugging Face's
// RepetitionPenaltyLogitsProcessor (torch.where(score < 0, score * penalty, score / penalty) over
// the ids in input_ids) and vLLM's apply_penalties (repetition over prompt and output ids, then
// logits -= frequency * output counts, then -= presence * (output counts > 0)) state them.
import type { PenaltyOptions } from '../../ops/index.js';
import { ref, type Ref } from './array.js';

/** One logit `x` of an id generated `count` times so far, `inPrompt` whether the prompt holds it, penalized in float64. */
export function penalizedLogit(x: number, count: number, inPrompt: boolean, opts: PenaltyOptions): number {
  const { repetitionPenalty: rep = 1, presencePenalty = 0, frequencyPenalty = 0 } = opts;
  let y = x;
  if (inPrompt || count > 0) y = x < 0 ? x * rep : x / rep; // HF: score < 0 multiplied, else divided (0 / rep is 0 either way)
  y -= frequencyPenalty * count;
  return count > 0 ? y - presencePenalty : y;
}

/** penalizeLogits(logits, counts, prompt) in float64: logits' shape. */
export function penalizeRef(logits: Ref, counts: Ref, prompt: Ref, opts: PenaltyOptions): Ref {
  return ref([...logits.shape], logits.data.map((x, i) => penalizedLogit(x, counts.data[i]!, prompt.data[i]! !== 0, opts)));
}

/** countTokens(counts, ids) in float64: counts [..., V] with 1 added at each row's id in [0, V). */
export function countTokensRef(counts: Ref, ids: Ref): Ref {
  const V = counts.shape.at(-1)!;
  const data = Float64Array.from(counts.data);
  ids.data.forEach((id, row) => {
    if (id >= 0 && id < V) data[row * V + id]! += 1;
  });
  return { shape: [...counts.shape], data };
}
