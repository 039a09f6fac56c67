// `gpt train --init-from ckpt.pt --continue`: nanoGPT's run continued here, as its train.py's
// init_from='resume' continues it: the weights, AdamW's moments and per-parameter step counts, and
// iter_num as the step the lr schedule goes on from. Its AdamW settings are adopted where not given
// (refused where given otherwise). nanoGPT saves no random state or data position: the batches differ.
import type { NanoGptOptimizer } from '../gpt/nanogpt-optimizer.js';
import type { Trainer, TrainConfig } from '../gpt/trainer.js';
import { readNanoGptRun } from '../node/nanogpt-file.js';
import { gradScalerSettings } from '../optim/grad-scaler.js';
import { flagName, UsageError } from './flags.js';
import type { TrainFlags } from './train-flags.js';

/** The eps every run's AdamW takes here (AdamW's default): nanoGPT's is torch's, the same. */
const OUR_EPS = 1e-8;

/**
 * The run state of nanoGPT's ckpt.pt at --init-from (its vocabulary `vocabSize`, as loaded), and the
 * flags with its AdamW settings adopted where not `given` (named in `adopted`); one line refusing
 * --continue elsewhere, a checkpoint without AdamW state, or a setting given otherwise.
 */
export async function nanoGptRunToContinue(flags: TrainFlags, given: ReadonlySet<string>, vocabSize: number): Promise<{ state: NanoGptOptimizer; flags: TrainFlags; adopted: string[] }> {
  const at = `flag --continue (--init-from ${flags.initFrom})`;
  const state = await readNanoGptRun(flags.initFrom, vocabSize).catch((e: Error) => {
    throw new UsageError(`${at}: ${e.message}`);
  });
  if (!state) throw new UsageError(`${at}: --continue continues nanoGPT's run from its ckpt.pt, and ${flags.initFrom} is not one; fine-tune it without --continue`);
  if (state.eps !== OUR_EPS) throw new UsageError(`${at}: its AdamW eps is ${state.eps}, and ours is ${OUR_EPS}`);
  const theirs: Partial<Record<keyof TrainFlags, number>> = { weightDecay: state.weightDecay, beta1: state.betas[0], beta2: state.betas[1] };
  const out = { ...flags };
  const adopted: string[] = [];
  for (const [key, value] of Object.entries(theirs) as [keyof TrainFlags & string, number][]) {
    if (out[key] === value) continue;
    if (given.has(key)) throw new UsageError(`${at}: flag ${flagName(key)} ${out[key]} differs from its AdamW's ${value}; leave it out to take the checkpoint's`);
    (out as Record<string, unknown>)[key] = value;
    adopted.push(`${flagName(key)} ${value}`);
  }
  return { state, flags: out, adopted };
}

/** What of `cfg` cannot continue nanoGPT's run (`state`, of a model of `trainedBlockSize`): no steps left, new LoRA adapters or cut position embeddings (parameters its AdamW state is not of), in one line. */
export function checkContinuable(cfg: TrainConfig, trainedBlockSize: number, state: NanoGptOptimizer): void {
  if (state.iterNum >= cfg.maxIters) throw new UsageError(`flag --continue: nanoGPT's run already reached iteration ${state.iterNum}: raise --max-iters (now ${cfg.maxIters}) to train further`);
  if (cfg.loraRank) throw new UsageError(`flag --continue continues every parameter's AdamW state, and --lora-rank ${cfg.loraRank} trains new adapters instead: give one or the other`);
  if (cfg.blockSize !== trainedBlockSize) throw new UsageError(`flag --continue continues the position embeddings' AdamW state, and --block-size ${cfg.blockSize} cuts them from ${trainedBlockSize}: leave --block-size out`);
}

/**
 * `trainer` (over the checkpoint's model, fresh) set to continue nanoGPT's run: its moments (taken out
 * of `state`) and step counts, and iter_num as the step. The iterations its GradScaler skipped (float16:
 * iter_num above every AdamW step count) are handed on as our scaler's skipped steps, so that a run
 * resumed from our checkpoints, which count AdamW's steps as step less those, counts them as this one.
 */
export async function continueNanoGptRun(trainer: Trainer, state: NanoGptOptimizer): Promise<void> {
  const names = new Map([...trainer.model.namedParameters()].map(([name, p]) => [p, name]));
  const order = trainer.optimizer.params.map((p) => names.get(p)!);
  trainer.optimizer.loadMoments(
    order.map((n) => state.m.get(n)!),
    order.map((n) => state.v.get(n)!),
    order.map((n) => state.steps.get(n)!),
  );
  // the host copies, twice the model's size, are not held through the run once on the GPU
  state.m.clear();
  state.v.clear();
  const skipped = state.iterNum - trainer.optimizer.stepCount;
  if (skipped === 0) {
    trainer.step = state.iterNum;
    return;
  }
  const now = await trainer.state();
  trainer.restore({ ...now, step: state.iterNum, scaler: { ...(now.scaler ?? { scale: gradScalerSettings({}).initScale, cleanSteps: 0 }), skippedSteps: skipped } });
}

/** The log line of a continued run, from `path` at `trainer`'s step. */
export const continuedLine = (path: string, trainer: Trainer, state: NanoGptOptimizer, adopted: readonly string[]) =>
  `continuing nanoGPT's run from ${path} at iteration ${state.iterNum}: its weights, AdamW's moments and step counts, the lr schedule from step ${trainer.step} (lr ${trainer.lr().toExponential(2)}; its last step's ${state.lr.toExponential(2)})` +
  `${adopted.length ? `, its ${adopted.join(', ')}` : ''}; nanoGPT saves no random state or data position, so the batches differ from those its run would have drawn`;
