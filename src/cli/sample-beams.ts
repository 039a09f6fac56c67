// `gpt sample --num-beams N`: beam search (src/gpt/beam-search.ts), Hugging Face's generate(num_beams=N)
// without sampling. Its flags beside --num-beams; the flags of sampling refused with it (Hugging
// Face's beam sampling, do_sample with num_beams, is another mode, not this one); the sequences printed.
import { generateBeams, maxBeams, type BeamHypothesis } from '../gpt/beam-search.js';
import type { GPT } from '../gpt/model.js';
import { END_OF_TEXT, Gpt2Tokenizer, type Tokenizer } from '../gpt/tokenizer/index.js';
import { flagName, UsageError } from './flags.js';

/** The beam flags' settings, and the sampling flags they rule out. */
export interface BeamFlags {
  numBeams: number;
  lengthPenalty: number;
  earlyStopping: string;
  numReturnSequences: number;
  noRepeatNgramSize: number;
  kvCache: boolean;
}

/** What goes with beam search only, and what is sampling's only. */
const BEAM_ONLY = ['lengthPenalty', 'earlyStopping', 'numReturnSequences'] as const;
const SAMPLING_ONLY = ['temperature', 'topK', 'topP', 'minP', 'logitBias', 'repetitionPenalty', 'presencePenalty', 'frequencyPenalty', 'seed', 'numSamples', 'draft', 'draftTokens', 'stop'] as const;

/** One-line refusals of flags that do not go together with --num-beams (or without it); `given`: the flags set on the command line or in a config file. */
export function checkBeamFlags(f: BeamFlags, given: ReadonlySet<string>): void {
  if (f.numBeams === 1) {
    const beamOnly = BEAM_ONLY.find((k) => given.has(k));
    if (beamOnly) throw new UsageError(`flag ${flagName(beamOnly)} is a setting of beam search: give --num-beams N with N > 1 (1, the default, samples)`);
    return;
  }
  const sampling = SAMPLING_ONLY.find((k) => given.has(k));
  if (sampling) throw new UsageError(`flag --num-beams ${f.numBeams} runs beam search, which draws nothing: ${flagName(sampling)} is a setting of sampling (Hugging Face's beam sampling is another mode, not offered); leave it out, or sample without --num-beams`);
  if (!f.kvCache) throw new UsageError(`flag --num-beams ${f.numBeams} decodes with the KV cache: --kv-cache false is not offered with it`);
  if (f.numReturnSequences > f.numBeams) throw new UsageError(`flag --num-return-sequences ${f.numReturnSequences} must be at most --num-beams ${f.numBeams}`);
}

/** Refuses --num-beams past what the checkpoint's vocabulary of `vocabSize` allows, in one line naming the flag (before the model is loaded). */
export function checkNumBeams(numBeams: number, vocabSize: number): void {
  if (numBeams > maxBeams(vocabSize)) throw new UsageError(`flag --num-beams ${numBeams} is more than this checkpoint's vocabulary of ${vocabSize} tokens allows, ${maxBeams(vocabSize)} (its first step's 2·N candidates come from the prompt's one beam)`);
}

/** --early-stopping's word as generateBeams takes it. */
const earlyStoppingOf = (word: string): boolean | 'never' => (word === 'never' ? 'never' : word === 'true');

/** Beam search from `prompt`, the sequences printed to stdout (`shown`: the prompt's text), best first; the closing line's text returned. */
export async function printBeams(model: GPT, tokenizer: Tokenizer, prompt: ArrayLike<number>, shown: string, f: BeamFlags & { maxNewTokens: number }): Promise<string> {
  // GPT-2's <|endoftext|> ends a sequence, as its generation_config's eos_token_id in Hugging Face
  const eosTokenId = tokenizer instanceof Gpt2Tokenizer ? tokenizer.specialId(END_OF_TEXT) : undefined;
  const t0 = performance.now();
  const best: BeamHypothesis[] = await generateBeams(model, prompt, {
    numBeams: f.numBeams, maxNewTokens: f.maxNewTokens, lengthPenalty: f.lengthPenalty, earlyStopping: earlyStoppingOf(f.earlyStopping), numReturnSequences: f.numReturnSequences, eosTokenId, noRepeatNgramSize: f.noRepeatNgramSize,
  });
  const secs = (performance.now() - t0) / 1000;
  best.forEach(({ tokens, score }, i) => {
    if (best.length > 1) process.stdout.write(`${i ? '\n' : ''}--- sequence ${i + 1} of ${best.length} (score ${score.toFixed(4)})\n`);
    process.stdout.write(`${shown}${tokenizer.decode(tokens)}`);
  });
  process.stdout.write('\n');
  const longest = Math.max(...best.map((h) => h.tokens.length));
  return `--- beam search, ${f.numBeams} beams: ${best.length === 1 ? `score ${best[0]!.score.toFixed(4)}, ` : ''}up to ${longest} tokens in ${secs.toFixed(1)} s`;
}
