// Speculative decoding's rows of the generate family (src/gpt/speculative.ts): tok/s of the target
// alone (generate, KV cache) and with a draft proposing 4 tokens a round, seeded at temperature 1,
// and the draft's acceptance rate. The drafts: the target itself (every token kept: the rule's
// sanity, and the round's overhead with nothing rejected) and its int8 copy (close to it, so most
// tokens are kept; as large as the target, so no speedup is expected from it: a real draft is a
// smaller model, e.g. one distilled from the target with `gpt train --teacher`).
import { generate } from '../../src/gpt/generate.js';
import type { GPT } from '../../src/gpt/model.js';
import { generateSpeculative } from '../../src/gpt/speculative.js';
import { peersNa, time, type Cell, type Context, type Row } from '../harness.js';

const NOT_PEERS = 'generation is benchmarked for our engine only';
const DRAFT_TOKENS = 4;

/** Rows of `target` alone and with each draft (named by its label): tok/s, and the share of drafted tokens kept. */
export async function speculativeRows(target: GPT, drafts: [string, GPT][], ctx: Context): Promise<Row[]> {
  const { blockSize } = target.config;
  const newTokens = ctx.smoke ? 16 : blockSize - 1; // prompt of 1 token: the whole window
  const opts = { maxNewTokens: newTokens, temperature: 1, seed: 7 };
  const timing = { ...ctx.timing, targetMs: 0, maxIters: 1, samples: ctx.smoke ? 1 : 3 };
  const timed = async (run: () => Promise<unknown>): Promise<Cell> => {
    const t = await time({ iteration: run, finish: async () => {} }, timing);
    return { ms: t.ms, samplesMs: t.samplesMs, itersPerSample: 1 };
  };
  const row = (name: string, ours: Cell): Row => ({ family: 'generate', name, unit: 'tok/s', work: newTokens, tolerance: 'the target\'s distribution: test/speculative-rule.test.ts', cells: { ours, ...peersNa(NOT_PEERS) } });
  ctx.log(`speculative decoding: ${newTokens} tokens, draft ${DRAFT_TOKENS} a round`);
  const plain = await timed(async () => {
    for await (const _ of generate(target, [0], opts));
  });
  const rows = [row(`speculative: ${newTokens} tokens, target alone`, plain)];
  for (const [label, draft] of drafts) {
    let [drafted, accepted] = [0, 0];
    const cell = await timed(async () => {
      [drafted, accepted] = [0, 0];
      const onRound = (d: number, a: number) => ((drafted += d), (accepted += a));
      for await (const _ of generateSpeculative(target, draft, [0], { ...opts, draftTokens: DRAFT_TOKENS, onRound }));
    });
    const rate = `${((100 * accepted) / Math.max(drafted, 1)).toFixed(1)}% of ${drafted} drafted tokens accepted`;
    ctx.log(`  draft ${label}: ${cell.ms ? ((newTokens * 1000) / cell.ms).toFixed(1) : '?'} tok/s, ${rate}`);
    rows.push(row(`speculative: ${newTokens} tokens, draft ${label}`, cell), { ...row(`speculative: acceptance, draft ${label}`, { text: rate }), unit: 'info', work: undefined });
  }
  return rows;
}
