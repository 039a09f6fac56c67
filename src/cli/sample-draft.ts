// `gpt sample --draft DIR`: speculative decoding (src/gpt/speculative.ts) with a draft checkpoint
// proposing --draft-tokens tokens a round for the sampled one. The draft must read text as the
// target does: the same tokenizer, checked from both headers before any weights are read.
import { isDeepStrictEqual } from 'node:util';
import type { GPT } from '../gpt/model.js';
import { generateSpeculative, type SpeculativeOptions } from '../gpt/speculative.js';
import { tokenizerFromJSON } from '../gpt/tokenizer/index.js';
import type { TrainDtype } from '../gpt/trainer.js';
import { readCheckpointHead, type CheckpointHead } from '../node/checkpoint-head.js';
import { generationExtent } from './device-fit.js';
import { openModel } from './inference-model.js';
import { printNote, UsageError } from './flags.js';

/** How many tokens the draft proposed and how many of them the target kept. */
export interface DraftTally {
  drafted: number;
  accepted: number;
}

/** The draft checkpoint at `path` on the device, once its tokenizer is the target's (`target`: the target's header) and it fits. */
export async function openDraft(path: string, target: CheckpointHead, run: { dtype: TrainDtype; kvCache: boolean; promptTokens: number; maxNewTokens: number; numSamples: number }): Promise<GPT> {
  const { numSamples } = run;
  if (numSamples !== 1) throw new UsageError(`flag --draft decodes one sample at a time: --num-samples must be 1 with it, got ${numSamples}`);
  const head = await readCheckpointHead(path);
  if (!isDeepStrictEqual(head.meta.tokenizer, target.meta.tokenizer)) {
    const describe = (h: CheckpointHead) => {
      const t = tokenizerFromJSON(h.meta.tokenizer);
      return `${t.kind}, ${t.vocabSize} tokens`;
    };
    const [d, t] = [describe(head), describe(target)];
    throw new UsageError(`flag --draft ${path}: the draft's tokenizer (${d}) is not the target's (${t}${d === t ? ', other tokens' : ''}): a draft must share the target's tokenizer`);
  }
  // generateSpeculative drafts while the context fits the draft's block (the target's window)
  const [bd, context] = [head.meta.model.blockSize, Math.min(run.promptTokens, target.meta.model.blockSize)];
  if (context > bd) printNote(`--draft ${path}: the prompt (${context} tokens) is longer than the draft's block size (${bd}): nothing is drafted, the target samples alone`);
  const reach = generationExtent(bd, run.promptTokens, run.maxNewTokens);
  return (await openModel(head, { dtype: run.dtype, kvCache: run.kvCache, ...reach, batch: 1, flag: '--draft' })).model;
}

/** generateSpeculative's tokens as generateBatch's steps of one sequence; each round is counted in `tally`. */
export async function* draftedSteps(target: GPT, draft: GPT, prompt: ArrayLike<number>, opts: SpeculativeOptions, tally: DraftTally): AsyncGenerator<(number | null)[]> {
  const onRound = (drafted: number, accepted: number) => {
    tally.drafted += drafted;
    tally.accepted += accepted;
  };
  for await (const id of generateSpeculative(target, draft, prompt, { ...opts, onRound })) yield [id];
}

/** The closing line on the draft's tokens: how many the target kept. */
export const acceptanceLine = ({ drafted, accepted }: DraftTally): string =>
  `--- draft: ${accepted} of ${drafted} drafted tokens accepted (${drafted ? ((100 * accepted) / drafted).toFixed(1) : '0.0'}%)\n`;
