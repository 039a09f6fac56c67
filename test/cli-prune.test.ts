// `gpt prune` end to end on a tiny model trained here: unstructured pruning whose masks survive
// fine-tuning (`gpt train --init-from`) and export as zeros (`gpt export`), structured pruning into
// a smaller model that samples, evaluates and fine-tunes but that `gpt export` refuses, and
// one-line errors for bad flags.
// In-process (fast).
import { cpSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { corpusText, expectOneLine, gpt, nanWeightCopy, tempDir, TINY } from './cli-helpers.js';
import { setupDevice } from './helpers.js';
import { pythonRound } from './prune-reference.js';

const dir = tempDir('cli-prune');
const corpus = join(dir, 'corpus.txt');
const base = join(dir, 'base');
const train = (...args: string[]) => gpt('train', '--data', corpus, ...TINY, ...args);
/** Linear weight elements of TINY's one block (n-embd 16): c_attn 3C², attn c_proj C², c_fc 4C², mlp c_proj 4C². */
const LINEAR_WEIGHTS = 12 * 16 * 16;

beforeAll(async () => {
  await setupDevice();
  writeFileSync(corpus, corpusText(8000));
  const r = await train('--max-iters', '10', '--eval-interval', '5', '--out-dir', base);
  expect(r.code, r.err).toBe(0);
});

/** Each mask of a checkpoint by name, with its weight's values. */
async function masksOf(path: string) {
  const { weights } = await loadCheckpoint(path);
  return [...weights].filter(([n]) => n.endsWith('.weight_mask')).map(([n, m]) => ({ name: n, mask: m.data, weight: weights.get(n.replace(/_mask$/, ''))!.data }));
}

describe('gpt prune', () => {
  it('unstructured: prunes round(S x all Linear weights), and fine-tuning keeps the pruned ones at zero', async () => {
    const pruned = join(dir, 'pruned');
    const r = await gpt('prune', '--sparsity', '0.3', '--init-from', base, '--out-dir', pruned);
    expect(r.code, r.err).toBe(0);
    const k = Math.round(0.3 * LINEAR_WEIGHTS);
    expect(r.out).toContain(`pruned ${k.toLocaleString('en-US')} of ${LINEAR_WEIGHTS.toLocaleString('en-US')} Linear weights: sparsity ${(k / LINEAR_WEIGHTS).toFixed(4)}`);
    const masks = await masksOf(pruned);
    expect(masks.map((m) => m.name).sort()).toEqual(['h.0.attn.c_attn.weight_mask', 'h.0.attn.c_proj.weight_mask', 'h.0.mlp.c_fc.weight_mask', 'h.0.mlp.c_proj.weight_mask']);
    expect(masks.reduce((n, m) => n + m.mask.filter((x) => x === 0).length, 0)).toBe(k);
    // the pruned weights are the smallest: none kept is smaller in magnitude than one pruned
    const base0 = (await loadCheckpoint(base)).weights;
    const mags = (keep: number) => masks.flatMap((m) => [...base0.get(m.name.replace(/_mask$/, ''))!.data].filter((_, i) => m.mask[i] === keep).map(Math.abs));
    expect(Math.max(...mags(0))).toBeLessThanOrEqual(Math.min(...mags(1)));

    // exported for transformers: the pruned weights as zeros, no mask tensors (GPT2LMHeadModel would refuse unknown keys)
    expect((await gpt('export', '--out-dir', pruned, '--to', join(dir, 'pruned-hf'))).code).toBe(0);
    const hf = (await loadCheckpoint(join(dir, 'pruned-hf'))).weights;
    expect([...hf.keys()].filter((n) => /mask/.test(n))).toEqual([]);
    for (const m of masks) expect([...hf.get(m.name.replace(/_mask$/, ''))!.data].filter((w, i) => (w === 0) !== (m.mask[i] === 0)), m.name).toEqual([]);

    const tuned = join(dir, 'tuned');
    const t = await train('--init-from', pruned, '--out-dir', tuned, '--max-iters', '6', '--eval-interval', '3', '--always-save');
    expect(t.code, t.err).toBe(0);
    expect(t.out, 'the plan counts the masks the run holds').toMatch(/GPU memory plan: .*, pruning masks [\d.]+ MiB, activations /);
    const after = await masksOf(tuned);
    for (const [i, m] of after.entries()) {
      expect(m.mask, m.name).toEqual(masks[i]!.mask);
      expect([...m.weight].filter((w, j) => m.mask[j] === 0 && w !== 0), `${m.name}: pruned weights after fine-tuning`).toEqual([]);
      expect([...m.weight].some((w, j) => m.mask[j] === 1 && w !== masks[i]!.weight[j]), `${m.name}: live weights trained`).toBe(true);
    }
    for (const args of [['eval', '--eval-iters', '2'], ['sample', '--max-new-tokens', '5']]) {
      const e = await gpt(...args, '--out-dir', tuned, ...(args[0] === 'eval' ? ['--data', corpus] : []));
      expect(e.code, `${args[0]}: ${e.err}`).toBe(0);
      if (args[0] === 'eval') expect(e.out).toContain(`model: ${k} of ${LINEAR_WEIGHTS.toLocaleString('en-US')} Linear weights pruned, sparsity ${(k / LINEAR_WEIGHTS).toFixed(4)} (gpt prune)\n`);
    }
  });

  it('structured: heads and neurons removed per block; the smaller model samples, evaluates and fine-tunes, but does not export', async () => {
    const heads = join(dir, 'heads');
    const r = await gpt('prune', '--sparsity', '0.5', '--structured', 'heads', '--init-from', base, '--out-dir', heads);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('heads per block: 2 -> 1 (removed 1 of 2: sparsity 0.5000)');
    expect((await loadCheckpoint(heads)).meta.model.nHeads).toEqual([1]);
    expect((await loadCheckpoint(heads)).weights.get('h.0.attn.c_attn.weight')!.shape).toEqual([3 * 8, 16]);

    const neurons = join(dir, 'neurons');
    const n = await gpt('prune', '--sparsity', '0.25', '--structured', 'neurons', '--init-from', base, '--out-dir', neurons);
    expect(n.code, n.err).toBe(0);
    expect(n.out).toContain('neurons per block: 64 -> 48 (removed 16 of 64: sparsity 0.2500)');
    expect((await loadCheckpoint(neurons)).meta.model.mlpWidths).toEqual([48]);

    for (const [out, shape] of [[heads, 'heads per block 1 of 2 (gpt prune --structured heads)'], [neurons, 'MLP neurons per block 48 of 64 (gpt prune --structured neurons)']]) {
      expect((await gpt('sample', '--out-dir', out!, '--max-new-tokens', '5')).code).toBe(0);
      const e = await gpt('eval', '--out-dir', out!, '--data', corpus, '--eval-iters', '2');
      expect(e.code, e.err).toBe(0);
      expect(e.out).toContain(`model: ${shape}\n`);
    }
    const t = await train('--init-from', heads, '--out-dir', join(dir, 'heads-tuned'), '--max-iters', '3', '--eval-interval', '3');
    expect(t.code, t.err).toBe(0);
    expect((await loadCheckpoint(join(dir, 'heads-tuned'))).meta.model.nHeads).toEqual([1]);
    expectOneLine(await gpt('export', '--out-dir', heads, '--to', join(dir, 'hf')), 2, /^gpt export: Hugging Face's GPT-2 layout cannot hold this structurally pruned model/);
  });

  it('refuses bad flags with one line naming the flag, before writing anything', async () => {
    const out = join(dir, 'never');
    const prune = (...args: string[]) => gpt('prune', '--init-from', base, '--out-dir', out, ...args);
    expectOneLine(await prune('--sparsity', '1'), 2, /^gpt prune: flag --sparsity must be a finite number in \(0, 1\), got '1'$/);
    expectOneLine(await prune('--sparsity', '-0.5'), 2, /flag --sparsity must be a finite number in \(0, 1\), got '-0.5'$/);
    // 0 prunes nothing, and its all-ones masks would mark the model as pruned (a later --structured refused it)
    expectOneLine(await prune('--sparsity', '0'), 2, /flag --sparsity must be a finite number in \(0, 1\), got '0'$/);
    // nor may a sparsity that rounds to no weight pruned, for the same reason
    const quarter = String(1 / (4 * LINEAR_WEIGHTS)); // a quarter of a weight
    expectOneLine(await prune('--sparsity', quarter), 2, new RegExp(`^gpt prune: flag --sparsity: ${quarter.replace('.', '\\.')} of the ${LINEAR_WEIGHTS.toLocaleString('en-US')} Linear weights of .*base is 0\\.25 of a weight, which rounds to none pruned$`));
    // nor one that rounds to every weight pruned, what --sparsity 1 is refused for
    expectOneLine(await prune('--sparsity', '0.99999'), 2, new RegExp(`^gpt prune: flag --sparsity: 0\\.99999 of the ${LINEAR_WEIGHTS.toLocaleString('en-US')} Linear weights of .*base rounds to all of them pruned: give a sparsity of at most 0\\.999674$`));
    expect(existsSync(out)).toBe(false);
    // structured: a sparsity that removes no head or neuron from any block would write a copy of the model
    // the least sparsity of 4 decimals that removes one of n units by Python's round (0.25 of 2 is 0.5: none)
    const least = (n: number) => String(Array.from({ length: 10_000 }, (_, k) => k / 1e4).find((x) => pythonRound(x * n) >= 1)).replace('.', '\\.');
    expectOneLine(await prune('--sparsity', '0.2', '--structured', 'heads'), 2, new RegExp(`^gpt prune: flag --sparsity: 0\\.2 of each block's heads removes none \\(.*base: heads per block 2\\): give a sparsity of at least ${least(2)}$`));
    expectOneLine(await prune('--sparsity', '0.005', '--structured', 'neurons'), 2, new RegExp(`flag --sparsity: 0\\.005 of each block's neurons removes none \\(.*base: neurons per block 64\\): give a sparsity of at least ${least(64)}$`));
    const oneHead = join(dir, 'one-head');
    expect((await gpt('prune', '--sparsity', '0.5', '--structured', 'heads', '--init-from', base, '--out-dir', oneHead)).code).toBe(0);
    expectOneLine(await gpt('prune', '--sparsity', '0.9', '--structured', 'heads', '--init-from', oneHead, '--out-dir', out), 2, /^gpt prune: --structured heads: .*one-head: heads per block 1, and a block keeps at least one: there are none to remove$/);
    expectOneLine(await prune('--sparsity', '0.5', '--structured', 'rows'), 2, /flag --structured must be one of heads, neurons, got 'rows'$/);
    expectOneLine(await gpt('prune', '--sparsity', '0.5', '--out-dir', out), 2, /^gpt prune: --init-from DIR is required: the checkpoint to prune$/);
    expectOneLine(await gpt('prune', '--init-from', base), 2, /^gpt prune: --out-dir DIR is required: where the pruned checkpoint goes$/);
    const held = join(dir, 'held');
    cpSync(base, held, { recursive: true });
    expectOneLine(await gpt('prune', '--sparsity', '0.5', '--init-from', base, '--out-dir', held), 2, /already holds a checkpoint: choose another --out-dir, or replace it with --overwrite$/);
    // its own source is not offered --overwrite, which would replace it for good (test/cli-replace-source.test.ts)
    expectOneLine(await gpt('prune', '--sparsity', '0.5', '--init-from', base, '--out-dir', base), 2, /reads: writing it would replace the model it reads; choose another --out-dir$/);
    // what structured pruning cannot shrink: shared blocks, a model already pruned by magnitude
    const shared = join(dir, 'shared');
    expect((await train('--n-layer', '2', '--share-layers', '2', '--out-dir', shared, '--max-iters', '1', '--eval-interval', '1')).code).toBe(0);
    expectOneLine(await gpt('prune', '--structured', 'heads', '--init-from', shared, '--out-dir', out), 2, /^gpt prune: --structured heads: .*shared shares each block's weights among 2 layers \(--share-layers 2\).*; prune it without --structured$/);
    const masked = join(dir, 'masked');
    expect((await gpt('prune', '--init-from', base, '--out-dir', masked)).code).toBe(0);
    expectOneLine(await gpt('prune', '--structured', 'neurons', '--init-from', masked, '--out-dir', out), 2, /^gpt prune: --structured neurons: .*masked is already pruned by magnitude/);
    // pruning a pruned checkpoint less: its masks would be lost, and fine-tuning would revive the weights they held at zero
    expectOneLine(
      await gpt('prune', '--sparsity', '0.3', '--init-from', masked, '--out-dir', out),
      2,
      new RegExp(`^gpt prune: flag --sparsity: .*masked is already pruned; sparsity 0.3 would prune ${Math.round(0.3 * LINEAR_WEIGHTS)} of ${LINEAR_WEIGHTS} Linear weights, fewer than the ${LINEAR_WEIGHTS / 2} already pruned .*: give a sparsity of at least 0.5$`),
    );
    expect(existsSync(out), 'nothing written').toBe(false);
    // refused once the new --out-dir and its missing parents are made (the weights refused as loaded): none of them is left
    const nan = join(dir, 'nan.safetensors');
    await nanWeightCopy(base, nan);
    expectOneLine(await gpt('prune', '--init-from', nan, '--out-dir', join(dir, 'made', 'for', 'out')), 1, /tensor 'h\.0\.mlp\.c_fc\.weight' holds NaN/);
    expect(existsSync(join(dir, 'made')), 'no new directory left').toBe(false);
    expect(existsSync(dir), "the user's own directory kept").toBe(true);
    const help = await gpt('prune', '--help');
    expect(help.out).toMatch(/^usage: gpt prune --sparsity S \[--structured heads\|neurons\] --init-from DIR --out-dir DIR2/);
    expect((await gpt('--help')).out).toMatch(/\n {2}prune +prune a checkpoint/);
  });
});
