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
import { flagName, printNote, UsageError } from './flags.js';

/** What speculative decoding decodes without: the flags that set it, and how to leave it off. */
const NOT_WITH_DRAFT = [
  { keys: ['logitBias'], what: 'a logit bias', off: '' },
  { keys: ['repetitionPenalty', 'presencePenalty', 'frequencyPenalty'], what: 'penalties', off: 'leave the penalties at 1, 0, 0, or ' },
  { keys: ['noRepeatNgramSize'], what: 'n-gram bans', off: 'give 0, or ' },
] as const;

type DraftlessFlags = Record<(typeof NOT_WITH_DRAFT)[number]['keys'][number], string | number>;

/** With --draft, a one-line refusal of a flag set off its default (`defaults`) that speculative decoding cannot apply. */
export function checkDraftFlags(f: DraftlessFlags & { draft: string }, defaults: DraftlessFlags): void {
  if (!f.draft) return;
  for (const { keys, what, off } of NOT_WITH_DRAFT) {
    const set = keys.find((k) => f[k] !== defaults[k]);
    if (set) throw new UsageError(`flag --draft decodes without ${what}: ${flagName(set)} ${f[set]} cannot be applied with it (${off}sample without --draft)`);
  }
}

/** How many tokens the draft proposed and how many of them the target kept. */
export interface DraftTally {
  drafted: number;
  accepted: number;
}

/** A draft model opened, and why it drafts nothing for this generation (null where it drafts). */
export interface OpenedDraft {
  model: GPT;
  idle: string | null;
}

/**
 * Why generateSpeculative drafts nothing for a prompt of `promptTokens` and `maxNewTokens` new
 * tokens, with blocks `bt` (the target's) and `bd` (the draft's): a round's target forward reads the
 * context (its window: the last bt tokens) and the drafts, the draft's the context and all but the
 * last, and its last token is the target's own; null where a round drafts.
 */
function idleDraftReason(promptTokens: number, maxNewTokens: number, bt: number, bd: number): string | null {
  const context = Math.min(promptTokens, bt);
  if (context >= bt) return `the prompt (${promptTokens} tokens) fills the block size (${bt}) of the model sampled: no drafted token fits beside it`;
  if (context > bd) return `the prompt (${context} tokens) is longer than the draft's block size (${bd})`;
  if (maxNewTokens < 2) return `--max-new-tokens ${maxNewTokens}: a round's last token is the model's own, so drafting needs 2 or more`;
  return null;
}

/** The draft checkpoint at `path` on the device, once its tokenizer is the target's (`target`: the target's header) and it fits; a note says why where it will draft nothing. */
export async function openDraft(path: string, target: CheckpointHead, run: { dtype: TrainDtype; kvCache: boolean; promptTokens: number; maxNewTokens: number; numSamples: number }): Promise<OpenedDraft> {
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
  const bd = head.meta.model.blockSize;
  const idle = idleDraftReason(run.promptTokens, run.maxNewTokens, target.meta.model.blockSize, bd);
  if (idle) printNote(`--draft ${path}: ${idle}: nothing is drafted, the target samples alone`);
  const reach = generationExtent(bd, run.promptTokens, run.maxNewTokens);
  return { model: (await openModel(head, { dtype: run.dtype, kvCache: run.kvCache, ...reach, batch: 1, flag: '--draft' })).model, idle };
}

/** generateSpeculative's tokens as generateBatch's steps of one sequence; each round is counted in `tally`. */
export async function* draftedSteps(target: GPT, draft: GPT, prompt: ArrayLike<number>, opts: SpeculativeOptions, tally: DraftTally): AsyncGenerator<(number | null)[]> {
  const onRound = (drafted: number, accepted: number) => {
    tally.drafted += drafted;
    tally.accepted += accepted;
  };
  for await (const id of generateSpeculative(target, draft, prompt, { ...opts, onRound })) yield [id];
}

/** The closing line on the draft's tokens: how many the target kept, or, where it drafted nothing, why (`idle`: OpenedDraft's). */
export const acceptanceLine = ({ drafted, accepted }: DraftTally, idle: string | null): string =>
  idle ? `--- draft: nothing drafted: ${idle}\n` : `--- draft: ${accepted} of ${drafted} drafted tokens accepted (${drafted ? ((100 * accepted) / drafted).toFixed(1) : '0.0'}%)\n`;
