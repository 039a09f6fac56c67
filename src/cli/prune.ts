// `gpt prune`: a checkpoint pruned into a new one. Unstructured (the default): global magnitude
// pruning of every Linear weight, kept as masks that `gpt train --init-from` fine-tuning respects
// (src/nn/prune.ts). Structured (--structured heads|neurons): whole attention heads or MLP neurons
// removed from every block, a smaller and faster model (src/gpt/prune.ts). The new checkpoint has
// no optimizer or trainer state: it is fine-tuned with --init-from, not resumed.
import { initDevice } from '../device/device.js';
import type { Checkpoint } from '../gpt/checkpoint.js';
import type { GPT } from '../gpt/model.js';
import { pruneStructured, STRUCTURES, unitCounts, unitsRemoved, type Structure } from '../gpt/prune.js';
import { hfModelProblem } from '../node/checkpoint-kind.js';
import { manifestHeld } from '../node/checkpoint-files.js';
import { isMaskName, linearLayers, maskedCount, prunedCount, pruneGlobal, repruneProblem } from '../nn/prune.js';
import { saveCheckpoint } from '../node/checkpoint-dir.js';
import { loadHeadModel, readCheckpointHead, type CheckpointHead } from '../node/checkpoint-head.js';
import { fetchHubCheckpoints } from './hub-flags.js';
import { flagHelp, noPositional, parseFlags, UsageError, type FlagSpec } from './flags.js';
import { CHECKPOINT_OR_HUB, replacesSourceProblem } from './path-flags.js';
import { floatCheckpoint } from './float-checkpoint.js';
import { withDirectoryLock } from './run-lock.js';
import { HUB_ID_DOC } from './sample.js';

const PRUNE_DEFAULTS = { sparsity: 0.5, structured: '', initFrom: '', outDir: '', overwrite: false };
const PRUNE_FLAGS: FlagSpec<typeof PRUNE_DEFAULTS> = {
  defaults: PRUNE_DEFAULTS,
  paths: { initFrom: CHECKPOINT_OR_HUB, outDir: 'new directory' },
  ranges: { sparsity: { above: 0, below: 1 } }, // 0 would prune nothing, yet leave masks that mark the model pruned
  choices: { structured: STRUCTURES },
  docs: {
    sparsity: 'fraction pruned: of all Linear weights together (unstructured), or of the heads / MLP neurons of each block (--structured)',
    structured: "'heads' or 'neurons': remove whole attention heads or MLP neurons (a smaller model); unstructured magnitude pruning when absent",
    initFrom: `the checkpoint to prune: any kind \`gpt sample --out-dir\` takes, or ${HUB_ID_DOC}`,
    outDir: 'where the pruned checkpoint goes',
    overwrite: 'replace a checkpoint already in --out-dir',
  },
  defaultsShown: { initFrom: 'none, required', outDir: 'none, required' },
};

export const PRUNE_HELP = `usage: gpt prune --sparsity S [--structured heads|neurons] --init-from DIR --out-dir DIR2
Prunes a checkpoint into a new one. Unstructured: the fraction S of all Linear weights (attention
and MLP matrices; not embeddings, biases or LayerNorms) with the smallest magnitude is zeroed and
masked, and stays zero when fine-tuned (gpt train --init-from DIR2); a pruned checkpoint is only
pruned further (S at least its own sparsity). Structured: the fraction S of
each block's attention heads or MLP neurons with the smallest weight norm is removed.
${flagHelp(PRUNE_FLAGS)}`;

const count = (n: number) => n.toLocaleString('en-US');

export async function prune(args: string[]): Promise<number> {
  const { values: f, positional, given } = parseFlags(args, PRUNE_FLAGS);
  noPositional(positional);
  if (!given.has('initFrom')) throw new UsageError('--init-from DIR is required: the checkpoint to prune');
  if (!given.has('outDir')) throw new UsageError('--out-dir DIR is required: where the pruned checkpoint goes');
  await fetchHubCheckpoints(PRUNE_FLAGS, f, given);
  const replaces = replacesSourceProblem('--init-from', f.initFrom, '--out-dir', f.outDir);
  if (replaces) throw new UsageError(replaces);
  // its header for the checks; its weights uploaded as read once the device is open (never all on the host)
  const head = floatCheckpoint(await readCheckpointHead(f.initFrom), f.initFrom, 'prune');
  if (f.structured) refuseStructured(head, f.initFrom, f.structured as Structure, f.sparsity);
  return withDirectoryLock(f.outDir, async () => {
    const hfModel = await hfModelProblem(f.outDir);
    if (hfModel) throw new UsageError(hfModel);
    const held = await manifestHeld(f.outDir);
    if (!f.overwrite && held) throw new UsageError(`${f.outDir} already holds ${held.words}: choose another --out-dir, or replace it with --overwrite`);
    await initDevice();
    const { model, tokenizer, ckpt } = await loadHeadModel(head, { dropout: 0, moments: false }, true);
    let pruned: GPT = model;
    try {
      if (!f.structured) refuseUnpruning(ckpt, f.initFrom, f.sparsity); // its masks' values: read with the weights
      console.log(`${f.initFrom}: ${count(model.numParams())} parameters (excluding position embeddings)`);
      if (f.structured) pruned = await pruneStructuredReport(model, f.structured as Structure, f.sparsity);
      else {
        refuseAllPruned(linearLayers(model).reduce((n, [, l]) => n + l.weight.size, 0), f.initFrom, f.sparsity);
        const r = await pruneGlobal(model, f.sparsity);
        // as --sparsity 0: all-ones masks would mark the model pruned, and a later --structured would refuse it
        if (!r.pruned) throw new UsageError(`flag --sparsity: ${f.sparsity} of the ${count(r.total)} Linear weights of ${f.initFrom} is ${(f.sparsity * r.total).toPrecision(2)} of a weight, which rounds to none pruned`);
        console.log(`pruned ${count(r.pruned)} of ${count(r.total)} Linear weights: sparsity ${(r.pruned / r.total).toFixed(4)} (|w| <= ${r.threshold.toPrecision(4)})`);
        console.log(`after: ${count(model.numParams())} parameters, ${count(model.numParams() - r.pruned)} of them non-zero (masked weights stay zero when fine-tuned)`);
      }
      // its teacher too: a distilled model pruned is still one distilled from it
      await saveCheckpoint(f.outDir, pruned, tokenizer, { data: ckpt.meta.data, distill: ckpt.meta.distill });
    } finally {
      if (pruned !== model) pruned.dispose();
      model.dispose();
    }
    console.log(`wrote ${f.outDir}; fine-tune it with: gpt train --init-from ${f.outDir} --out-dir DIR --data FILE`);
    return 0;
  });
}

/** What pruneStructured refuses, and a sparsity that would remove nothing (a copy of the model), as bad usage naming the flag, before the device opens. */
function refuseStructured(head: CheckpointHead, path: string, structure: Structure, sparsity: number): void {
  const k = head.meta.model.shareLayers ?? 1;
  if (k > 1) throw new UsageError(`--structured ${structure}: ${path} shares each block's weights among ${k} layers (--share-layers ${k}), which cannot lose heads or neurons; prune it without --structured`);
  if (head.tensors.some(({ name }) => isMaskName(name))) {
    throw new UsageError(`--structured ${structure}: ${path} is already pruned by magnitude (it holds weight masks); prune heads or neurons first, then by magnitude`);
  }
  const counts = unitCounts(head.meta.model, structure);
  if (counts.some((n) => unitsRemoved(n, sparsity) > 0)) return;
  const most = Math.max(...counts);
  const per = `${path}: ${structure} per block ${counts.join(', ')}`;
  if (most < 2) throw new UsageError(`--structured ${structure}: ${per}, and a block keeps at least one: there are none to remove`);
  // round(S n) >= 1 for S above 0.5 / n (0.5 itself rounds to even, 0): the next 4-decimal step above it
  throw new UsageError(`flag --sparsity: ${sparsity} of each block's ${structure} removes none (${per}): give a sparsity of at least ${(Math.floor((0.5 / most) * 1e4) + 1) / 1e4}`);
}

/**
 * A sparsity below 1 that rounds to all `total` Linear weights of `path` pruned (0.99995 of 6144), as
 * bad usage, as --sparsity 1 is; the most it may be, (total - 1) / total rounded down, prunes all but one.
 */
function refuseAllPruned(total: number, path: string, sparsity: number): void {
  if (prunedCount(sparsity, total) < total) return;
  throw new UsageError(`flag --sparsity: ${sparsity} of the ${count(total)} Linear weights of ${path} rounds to all of them pruned: give a sparsity of at most ${Math.floor(((total - 1) / total) * 1e6) / 1e6}`);
}

/** A sparsity below a pruned checkpoint's, as bad usage: its masks (gpt prune masks every Linear layer) would be lost. */
function refuseUnpruning(ckpt: Checkpoint, path: string, sparsity: number): void {
  const { pruned, total } = maskedCount(ckpt.weights);
  const problem = repruneProblem(pruned, total, sparsity);
  if (problem) throw new UsageError(`flag --sparsity: ${path} is already pruned; ${problem}`);
}

async function pruneStructuredReport(model: GPT, structure: Structure, sparsity: number): Promise<GPT> {
  const { model: pruned, removed } = await pruneStructured(model, { structure, sparsity });
  const key = structure === 'heads' ? 'nHeads' : 'mlpWidths';
  const before = unitCounts(model.config, structure);
  const total = before.reduce((a, b) => a + b, 0);
  const gone = removed.reduce((a, r) => a + r.length, 0);
  console.log(`${structure} per block: ${before.join(', ')} -> ${pruned.config[key]!.join(', ')} (removed ${count(gone)} of ${count(total)}: sparsity ${(gone / total).toFixed(4)})`);
  removed.forEach((r, i) => r.length && structure === 'heads' && console.log(`  block ${i}: removed heads ${r.join(', ')}`));
  const [a, b] = [model.numParams(), pruned.numParams()];
  console.log(`after: ${count(b)} parameters (${((100 * (a - b)) / a).toFixed(1)}% fewer)`);
  return pruned;
}
