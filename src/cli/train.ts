// `gpt train`: train from scratch, resume a run, or fine-tune a checkpoint on a new corpus; and
// `gpt distill`, the same run for a student learning from a teacher checkpoint (src/cli/teacher.ts).
// Every setting is checked before the device opens; the run holds its --out-dir's lock throughout,
// and never replaces a checkpoint it did not start from unless told to (--overwrite).
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { initDevice } from '../device/device.js';
import { checkpointMoments, type Checkpoint, type CheckpointMeta } from '../gpt/checkpoint.js';
import { disposeUploaded } from '../gpt/checkpoint-upload.js';
import { loraFlagsProblem, loraOf, resolveTrainDtype, Trainer, type Distillation, type StepLog, type TrainConfig, type TrainDtype } from '../gpt/trainer.js';
import type { ComputeDtype } from '../nn/autocast.js';
import { isMaskName } from '../nn/prune.js';
import { deviceRoom, type GPT } from '../gpt/model.js';
import { tokenizerFromJSON } from '../gpt/tokenizer/index.js';
import { hfModelProblem } from '../node/checkpoint-kind.js';
import { manifestHeld, MANIFEST_FILE } from '../node/checkpoint-files.js';
import { saveCheckpoint } from '../node/checkpoint-dir.js';
import { loadHeadModel, readCheckpointHead, type CheckpointHead } from '../node/checkpoint-head.js';
import { RunLog } from '../node/run-log.js';
import { mergeAdapter, readAdapterFlag, type AdapterToMerge } from './adapter-flag.js';
import { BUILTIN_CORPUS, isPathSource } from './corpus.js';
import { checkSplitsFit, loadTokens, recordedSource, type Dataset } from './data.js';
import { checkModelFits, withMemoryHint } from './device-fit.js';
import { settingName } from './config-file.js';
import { flagName, UsageError } from './flags.js';
import { floatCheckpoint } from './float-checkpoint.js';
import { nextSteps } from './next-steps.js';
import { Progress, formatParams, formatSeconds } from './progress.js';
import { sharedBlocks } from './compression.js';
import { keepOnlyRun, rewindRunLog } from './resume-log.js';
import { RunWhereabouts } from './interrupted.js';
import { withDirectoryLock } from './run-lock.js';
import { nanoGptFileIn, replacesSourceProblem } from './path-flags.js';
import { profileTable } from './profile-table.js';
import { checkContinuable, continuedLine, continueNanoGptRun, nanoGptRunToContinue } from './nanogpt-continue.js';
import { checkStudent, loadTeacher, teacherDistillation, teacherModel, type Teacher } from './teacher.js';
import { changedSettings, checkTokenizerFlags, DISTILL_FLAGS, dtypeFlag, fetchHubFlags, float16Needs, profiledStep, resolveFlags, TRAIN_FLAGS, trainingConfig, type DistillFlags, type TrainFlags } from './train-flags.js';

export { DISTILL_HELP, TRAIN_HELP } from './train-flags.js';

/** nanoGPT's run that --continue continues (nanoGptRunToContinue's). */
type ContinuedRun = Awaited<ReturnType<typeof nanoGptRunToContinue>>;

/** `gpt train`; prints the commands to try next when it is done, unless `nextSteps` is false (the demo prints them last). */
export function train(args: string[], opts: { nextSteps?: boolean } = {}): Promise<number> {
  return trainStudent(args, { ...opts, distilling: false });
}

/** `gpt distill`: `gpt train` for a student that learns from a teacher's soft targets (see DISTILL_HELP). */
export function distill(args: string[]): Promise<number> {
  return trainStudent(args, { distilling: true });
}

async function trainStudent(args: string[], opts: { nextSteps?: boolean; distilling: boolean }): Promise<number> {
  const { distilling } = opts;
  const spec = distilling ? DISTILL_FLAGS : TRAIN_FLAGS;
  const resolved = await resolveFlags(args, spec);
  const { values, given, fromConfig, fromNanoGpt } = resolved;
  const resume = values.initFrom === 'resume';
  const scratch = values.initFrom === 'scratch';
  // what the flags alone refuse, refused before any download (a hub id of --init-from, --adapter, --teacher)
  if (values.continue && (distilling || resume || scratch)) {
    throw new UsageError(`flag --continue continues nanoGPT's run from its ckpt.pt given as gpt train --init-from, got ${distilling ? 'gpt distill' : `--init-from ${values.initFrom}`}${resume ? ' (which continues a run of ours without it)' : ''}`);
  }
  if (values.adapter && (resume || scratch || values.continue)) {
    throw new UsageError(`flag --adapter merges a peft adapter into the checkpoint --init-from PATH fine-tunes, got ${values.continue ? '--continue, which continues a run as it was' : `--init-from ${values.initFrom}`}`);
  }
  const fresh = scratch ? trainingConfig(values, given, null, false, fromConfig, fromNanoGpt) : null; // a new model's config is the flags' alone
  // a fine-tune's LoRA settings are too (a resumed run's are its checkpoint's, read from --out-dir: nothing to download)
  const loraProblem = resume || scratch ? null : loraFlagsProblem(values, (key) => (fromConfig.has(key) ? settingName(fromConfig)(key) : flagName(key)));
  if (loraProblem) throw new UsageError(loraProblem);
  await fetchHubFlags(spec, resolved);
  // the checkpoint read in --out-dir: the run's first save would replace it (--init-from resume continues a run there; a teacher there: loadTeacher)
  const replaces = resume || scratch ? null : replacesSourceProblem('--init-from', values.initFrom, '--out-dir', values.outDir, 'choose another --out-dir (--init-from resume continues a run of ours there)');
  if (replaces) throw new UsageError(replaces);
  const source = resume || scratch ? null : trainable(await readCheckpointHead(values.initFrom), values.initFrom);
  // nanoGPT's run to continue: its AdamW settings taken into the flags not given (a Python config's give way, as train.py's load_state_dict has it)
  const flagged = new Set([...given].filter((key) => !fromNanoGpt.has(key)));
  const continued = values.continue ? await nanoGptRunToContinue(values, flagged, source!.meta.model.vocabSize) : null;
  const flags = continued?.flags ?? values;
  const adapter = source ? await readAdapterFlag(values.adapter, source) : undefined; // --adapter '': none
  const checked = resume ? null : (fresh ?? trainingConfig(flags, given, source, false, fromConfig, fromNanoGpt)); // before anything is written
  if (continued) checkContinuable(checked!, source!.meta.model.blockSize, continued.state);
  const whereabouts = new RunWhereabouts(distilling ? 'distill' : 'train', flags.outDir);
  const onSignal = (signal: NodeJS.Signals) => console.error(whereabouts.interrupted(signal));
  // before the lock, which would make the directory: a misspelt --out-dir leaves nothing behind
  const noRun = resume && (!existsSync(flags.outDir) ? 'does not exist' : !(await manifestHeld(flags.outDir)) ? `holds no checkpoint (no ${MANIFEST_FILE})` : '');
  // nanoGPT's out_dir, which its init_from='resume' continues: here its ckpt.pt is continued by name
  const nanoGptRun = noRun && !distilling && nanoGptFileIn(flags.outDir);
  if (nanoGptRun) {
    throw new UsageError(`--init-from resume continues a run of ours in --out-dir, and ${flags.outDir} holds nanoGPT's ${nanoGptRun} instead (no ${MANIFEST_FILE}): continue its run with --init-from ${nanoGptRun} --continue`);
  }
  if (noRun) {
    throw new UsageError(`--init-from resume continues the run in --out-dir, and ${flags.outDir} ${noRun}: give the run's directory (or train a new run there without --init-from resume)`);
  }
  return withDirectoryLock(flags.outDir, async () => {
    const hfModel = await hfModelProblem(flags.outDir);
    if (hfModel) throw new UsageError(hfModel);
    const held = await manifestHeld(flags.outDir);
    if (!resume && !flags.overwrite && held) {
      throw new UsageError(`${flags.outDir} already holds ${held.words}: continue it with --init-from resume, or replace it with --overwrite`);
    }
    if (held && !held.dangling) whereabouts.found(resume ? 'its checkpoint' : 'the checkpoint it held before this run'); // while the checkpoint loads too
    const ckpt = resume ? trainable(await readCheckpointHead(flags.outDir), flags.outDir) : source;
    if (resume) whereabouts.found(`the checkpoint of step ${ckpt!.meta.trainer?.step ?? 0}`, ckpt!.meta.trainer?.step ?? 0);
    // a distillation run's checkpoint: its teacher, with its training state (a pruned or int8 copy records the teacher alone)
    if (resume && !distilling && ckpt!.meta.distill && ckpt!.meta.trainer) {
      throw new UsageError(`${flags.outDir} is a distillation run: continue it with gpt distill --init-from resume`);
    }
    const cfg = checked ?? trainingConfig(flags, given, ckpt, true, fromConfig, fromNanoGpt);
    const teacher = distilling ? await loadTeacher(flags as DistillFlags, given, ckpt, resume) : null;
    const { ds, data } = await dataset(flags, given, ckpt, resume, (s) => console.log(s), teacher ?? undefined);
    try {
      console.log(`tokens: train ${ds.train.length.toLocaleString('en-US')}, val ${ds.val.length.toLocaleString('en-US')}, vocab ${ds.tokenizer.vocabSize}`);
      if (ckpt && ckpt.meta.model.vocabSize !== ds.tokenizer.vocabSize) throw new Error(`checkpoint vocab ${ckpt.meta.model.vocabSize} != data vocab ${ds.tokenizer.vocabSize}`);
      checkSplitsFit(ds, cfg.blockSize, '--block-size'); // before the device opens
      const blockSizeFrom = resume ? 'run' : given.has('blockSize') ? 'given' : ckpt ? 'checkpoint' : 'default';
      if (teacher) checkStudent(teacher, cfg, ds.tokenizer, ckpt ? 'the student checkpoint' : data, blockSizeFrom);
      const dev = await initDevice();
      // before a directory, a log or a step: no save could follow
      if (!dev.executes) throw new Error("Dawn's null backend (GPT_DAWN_BACKEND=null) runs nothing: a run there could save no checkpoint (its weights read back as zeros)");
      console.log(`device: ${dev.info.description || dev.info.vendor} (${dev.info.backend})`);
      checkDtypeRuns(cfg.dtype, given, resume ? flags.outDir : null);
      const maskSizes = (ckpt?.tensors ?? []).filter(({ name }) => isMaskName(name)).map(({ shape }) => shape.reduce((a, b) => a * b, 1));
      const fits = { training: true, ...deviceRoom(), dtype: resolveTrainDtype(cfg.dtype), maskSizes, teacher: teacher ? teacherModel(teacher) : undefined, recompute: cfg.recompute, gradAccum: cfg.gradAccum };
      const lora = loraOf(cfg);
      const maskedWeights = maskSizes.reduce((a, b) => a + b, 0);
      if (lora && maskedWeights) throw new UsageError(`flag --lora-rank ${cfg.loraRank}: a pruned checkpoint (${maskedWeights.toLocaleString('en-US')} masked weights) cannot take LoRA adapters, whose update would fill its masked zeros; allowed: a dense checkpoint, or --lora-rank 0`);
      const modelShape = { ...cfg, vocabSize: ds.tokenizer.vocabSize, ...(lora && { lora }) };
      console.log(checkModelFits(modelShape, cfg.batchSize, fits));
      // a resumed run saves as it did (its --always-save is recorded beside its training config) unless told otherwise
      const alwaysSave = resume && !given.has('alwaysSave') ? (ckpt!.meta.alwaysSave ?? false) : flags.alwaysSave;
      await run({ ...flags, alwaysSave }, cfg, ds, data, ckpt, resume, teacher, whereabouts, continued, adapter).catch((e) => {
        throw withMemoryHint(e, modelShape, cfg.batchSize, fits, dev.memory().peakBytes);
      });
    } finally {
      await ds.close(); // prepared data is read from its files until here
    }
    if (opts.nextSteps ?? true) console.log(nextSteps(flags.outDir));
    return 0;
  }, onSignal);
}

/** The checkpoint, unless it is a quantized one (inference only). */
const trainable = (head: CheckpointHead, path: string) => floatCheckpoint(head, path, 'train from');


async function run(flags: TrainFlags, cfg: TrainConfig, ds: Dataset, data: string, ckpt: CheckpointHead | null, resume: boolean, teacher: Teacher | null, whereabouts: RunWhereabouts, continued: ContinuedRun | null, adapter?: AdapterToMerge): Promise<void> {
  // fine-tuning draws dropout from --seed (resuming restores the run's generator over it); each
  // tensor goes to the GPU as it is read, the moments too when resuming (`loaded`'s until the optimizer adopts them)
  const loaded = ckpt ? await loadHeadModel(ckpt, { dropout: cfg.dropout, blockSize: cfg.blockSize, seed: cfg.seed, moments: resume }) : undefined;
  let distill: Distillation | undefined;
  let trainer: Trainer;
  try {
    // the teacher uploaded as read, and held to the weights the run recorded (a refusal frees the student too)
    if (loaded) mergeAdapter(loaded.model, adapter); // --adapter: fine-tuning starts from the adapted weights
    if (teacher) ({ distill, teacher } = await teacherDistillation(teacher));
    // a resumed run's optimizer adopts the checkpoint's moments, each freed once copied: never held twice on the GPU
    const moments = resume ? checkpointMoments({ optimizer: loaded!.moments }, loaded!.model) : undefined;
    trainer = new Trainer(cfg, { train: ds.train, val: ds.val, vocabSize: ds.tokenizer.vocabSize }, loaded?.model, distill, { moments });
  } catch (e) {
    if (loaded) disposeUploaded(loaded); // a checkpoint without moments too
    distill?.teacher.dispose();
    throw e;
  }
  // freed however the run ends, a refusal before its first step too (an unreadable log)
  try {
    whereabouts.step = () => trainer.step;
    // new LoRA adapters on a model with --adapter merged: their base is that model, which a resume keeps knowing
    const mergedAdapter = resume ? ckpt!.meta.mergedAdapter : cfg.loraRank > 0 ? adapter?.dir : undefined;
    await trainRun(trainer, flags, ds, data, ckpt, resume, teacher, whereabouts, continued, mergedAdapter);
  } finally {
    trainer.dispose();
    trainer.model.dispose();
    distill?.teacher.dispose();
  }
}

/** How a resumed run's data differs from its checkpoint's: other data, or its data changed since (other token counts); '' if not. */
function dataMismatch(meta: CheckpointMeta, data: string, ds: Dataset): string {
  const { data: recorded, dataTokens: had } = meta;
  if (recorded !== undefined && recorded !== data) return `on other data than ${recorded}`;
  if (had === undefined || (had.train === ds.train.length && had.val === ds.val.length)) return '';
  const count = (n: number) => n.toLocaleString('en-US');
  return `on ${data} changed since the checkpoint (${count(had.train)} + ${count(had.val)} tokens, train + val; now ${count(ds.train.length)} + ${count(ds.val.length)})`;
}

/** How a resumed run's evaluations draw other batches than those that measured its checkpoint's val loss (--eval-iters, --batch-size); '' if not. */
function evalMismatch(recorded: TrainConfig, cfg: TrainConfig): string {
  const changed = (['evalIters', 'batchSize'] as const).filter((k) => recorded[k] !== cfg[k]);
  const batches = (c: TrainConfig) => `${c.evalIters} batches of ${c.batchSize}`;
  return changed.length ? `evaluating over ${batches(cfg)} a split where its val loss was measured over ${batches(recorded)} (${changed.map(flagName).join(', ')})` : '';
}

/** In logs (not a terminal), how often a line tells an evaluation's progress. */
const EVAL_LINE_EVERY_MS = 15_000;
/** How long the first steps may go before `gpt train` says it is compiling kernels. */
const COMPILE_NOTICE_MS = 10_000;

/** The run itself: restore a resumed run, train with logs and saves, say how it ended. */
async function trainRun(
  trainer: Trainer,
  flags: TrainFlags,
  ds: Dataset,
  data: string,
  ckpt: CheckpointHead | null,
  resume: boolean,
  teacher: Teacher | null,
  whereabouts: RunWhereabouts,
  continued: ContinuedRun | null,
  mergedAdapter: string | undefined,
): Promise<void> {
  const { cfg, distill } = trainer;
  let bestVal = Infinity;
  let mismatch = '';
  if (resume) {
    trainer.restore(ckpt!.meta.trainer!);
    // a val loss measured on other data, or over other batches, is no figure to beat: such a run saves at its first evaluation
    mismatch = [dataMismatch(ckpt!.meta, data, ds), evalMismatch(ckpt!.meta.train!, cfg)].filter((m) => m).join(', and ');
    bestVal = mismatch ? Infinity : (ckpt!.meta.bestVal ?? ckpt!.meta.val ?? Infinity); // a checkpoint written without its run's best: its own
    console.log(`resuming at step ${trainer.step}${mismatch && `, ${mismatch}: the first evaluation saves`}`);
    // what the flags changed from the run's own settings (the model's shape and the seed cannot change)
    const { temperature, alpha } = teacher?.meta ?? {};
    const changed = changedSettings({ ...ckpt!.meta.train, dtype: resolveTrainDtype(ckpt!.meta.train!.dtype), ...ckpt!.meta.distill }, { ...cfg, dtype: trainer.dtype, ...(teacher && { temperature, alpha }) });
    if (changed.length) console.log(`settings changed from the checkpoint's: ${changed.join(', ')}`);
  } else if (continued) {
    await continueNanoGptRun(trainer, continued.state);
    console.log(continuedLine(flags.initFrom, trainer, continued.state, continued.adopted));
  } else if (ckpt) {
    const trained = ckpt.meta.model.blockSize;
    console.log(`fine-tuning from ${flags.initFrom}${cfg.blockSize < trained ? `, its position embeddings cut from ${trained} to ${cfg.blockSize} (--block-size)` : ''}`);
  }
  console.log(`model: ${describeModel(trainer.model)}`);
  const adapters = trainer.describeAdapters();
  if (adapters) console.log(adapters);
  console.log(`dtype: ${describeDtype(cfg.dtype, trainer.dtype)}`);
  if (distill) {
    const { temperature, alpha } = distill;
    // a resumed run's --teacher may name another checkpoint than the one it started with: say so
    const was = resume ? ckpt!.meta.distill : undefined;
    const changedWeights = was?.teacherWeights && was.teacherWeights !== teacher!.meta.teacherWeights ? ' (its weights changed since the run started: --teacher)' : '';
    const replacing = was && was.teacher !== teacher!.meta.teacher ? ` (replacing the run's teacher ${was.teacher}: --teacher)` : changedWeights;
    console.log(`teacher: ${teacher!.meta.teacher}${replacing}, ${describeModel(distill.teacher)}; temperature ${temperature}, alpha ${alpha}`);
  }

  // a resumed run continues its run id and log (from its checkpoint's step on); any other run starts
  // both afresh. Either clears the log of other runs at its first save: a new run's replaced their
  // checkpoint then, and beside a resumed run's checkpoint they are runs that never saved. A
  // checkpoint from before run ids gets one, and at its first save its history in the log, named by none, too
  const runId = (resume && ckpt!.meta.run) || randomUUID();
  const unnamed = resume && !ckpt!.meta.run ? { step: trainer.step, val: ckpt!.meta.val ?? ckpt!.meta.bestVal } : undefined;
  const logPath = join(flags.outDir, 'log.jsonl');
  const others = await rewindRunLog(logPath, runId, resume ? trainer.step : -1); // a new run's id has no records: only a cut line goes
  const log = await RunLog.open(logPath, runId, { append: true });
  if (resume) await log.resumed(trainer.step); // the time the run was stopped is no training time: gpt plot leaves it out
  let firstSave = true;
  // its evaluation is in the log and its weights are the checkpoint (the save at that step followed
  // it): measured again, neither logged nor saved again; unless on other data: then both anew
  const resumedAt = resume && !mismatch ? trainer.step : -1;
  let savedAt = resume ? trainer.step : null; // the step of the checkpoint this run continues or wrote
  // a fine-tune's step 0 evaluation is the base model's: never saved (its checkpoint is elsewhere), but
  // a figure the closing line compares the run's best with (nanoGPT's best_val_loss starts from it)
  const fineTuning = ckpt !== null && !resume && !continued;
  let baseVal: number | undefined;
  const progress = new Progress(cfg.maxIters);
  const [t0, firstStep] = [performance.now(), trainer.step];
  // a step line's speed is over the steps since the last line or evaluation: no mfu from one that
  // times the run's first steps, which compile the kernels (nanoGPT leaves its first ones out too)
  let timedFrom = firstStep;
  let lastEvalLine = t0; // in logs, a line on an evaluation's progress at most this often
  // the first evaluation and steps compile every kernel the run uses: tens of seconds where a CPU
  // driver meets them for the first time, silent but for this line
  const compiling = setTimeout(() => progress.log('compiling the GPU kernels for the first steps (the driver keeps them for later runs)...'), COMPILE_NOTICE_MS);
  const save = async (val: number) => {
    const extra = { optimizer: trainer.optimizer, train: { ...cfg, dtype: trainer.dtype }, trainer: await trainer.state(), val, bestVal, run: runId, data, dataTokens: { train: ds.train.length, val: ds.val.length }, alwaysSave: flags.alwaysSave, ...(teacher && { distill: teacher.meta }), ...(mergedAdapter && { mergedAdapter }) };
    whereabouts.savingAt(trainer.step);
    await saveCheckpoint(flags.outDir, trainer.model, ds.tokenizer, extra);
    whereabouts.saved(trainer.step, val);
    savedAt = trainer.step;
    if (firstSave) await keepOnlyRun(logPath, runId, unnamed, others);
    firstSave = false;
    progress.log(`saved checkpoint to ${flags.outDir} (step ${trainer.step}, val ${val.toFixed(4)})`);
  };
  const onEval = async (l: StepLog) => {
    lastEvalLine = performance.now();
    timedFrom = l.step;
    const again = l.step === resumedAt;
    if (!again) await log.eval(l);
    progress.log(`step ${l.step}: train loss ${l.train!.toFixed(4)}, val loss ${l.val!.toFixed(4)}`);
    if (fineTuning && l.step === 0) baseVal = l.val!;
    if (l.step > 0 && !again && (l.val! < bestVal || flags.alwaysSave)) {
      bestVal = Math.min(bestVal, l.val!);
      await save(l.val!);
    }
  };
  try {
    // a figure to beat before any step: off the interval, the first evaluation would come after
    // steps, and a model they made worse would replace the checkpoint it resumed (the evaluation
    // draws from a generator of its own: the steps are those of a run without it)
    if (mismatch && trainer.step % cfg.evalInterval !== 0) await onEval({ step: trainer.step, loss: NaN, lr: trainer.lr(), gradNorm: NaN, ms: 0, tokensPerSec: 0, flopsPerSec: 0, ...(await trainer.evaluate()) });
    await trainer.run({
      profileStep: profiledStep(trainer.step),
      onProfile: flags.profile ? (kernels) => progress.log(profileTable(kernels)) : undefined,
      onLog: async (l: StepLog) => {
        clearTimeout(compiling);
        await log.step(l);
        const scale = l.lossScale === undefined ? '' : `, loss scale ${l.lossScale} (${l.skippedSteps} steps skipped)`;
        const mfu = flags.peakTflops && timedFrom >= profiledStep(firstStep) ? `, mfu ${((100 * l.flopsPerSec) / (flags.peakTflops * 1e12)).toFixed(2)}%` : '';
        timedFrom = l.step;
        const line = `step ${l.step}: loss ${l.loss.toFixed(4)}, lr ${l.lr.toExponential(2)}, ${l.ms.toFixed(0)} ms/step, ${Math.round(l.tokensPerSec)} tok/s, ${formatTflops(l.flopsPerSec)} TFLOP/s${mfu}${scale}`;
        // a terminal keeps the lines too (nanoGPT's history of losses; lr, tok/s, the loss scale), the bar below them
        if (process.stdout.isTTY) {
          progress.log(line);
          progress.update(l.step, `loss ${l.loss.toFixed(4)} ${l.ms.toFixed(0)}ms/step`);
        } else progress.log(`${line}, eta ${progress.eta(l.step)}`);
      },
      // an evaluation of evalIters batches a split takes minutes at GPT-2 scale on a CPU driver
      onEvalBatch: (queued, total) => {
        if (process.stdout.isTTY) progress.update(trainer.step, `evaluating: ${queued}/${total} batches`, false);
        else if (performance.now() - lastEvalLine > EVAL_LINE_EVERY_MS) {
          lastEvalLine = performance.now();
          progress.log(`step ${trainer.step}: evaluating, ${queued}/${total} batches queued`);
        }
      },
      onEval,
    });
  } catch (e) {
    throw whereabouts.failed(e);
  } finally {
    clearTimeout(compiling);
    progress.done();
  }
  // the steps after the last save are not in the checkpoint: a resume starts from its step, not this one. What
  // they did not beat is the run's best, which an --always-save checkpoint's own val loss may be above
  const unsaved = savedAt !== null && savedAt < trainer.step ? `; the checkpoint in ${flags.outDir} is still step ${savedAt}'s: the evaluations after it did not beat the run's best val loss ${bestVal.toFixed(4)} (--always-save saves at every evaluation)` : '';
  // a resumed run's time is its own steps', not the run's since step 0
  const steps = `${trainer.step - firstStep} steps${resume ? ` (step ${firstStep} to ${trainer.step})` : ''}`;
  const worse = baseVal !== undefined && savedAt !== null && bestVal > baseVal ? `; worse than the base model's val loss ${baseVal.toFixed(4)} (${flags.initFrom} at step 0): the checkpoint in ${flags.outDir} is worse than the model it fine-tuned (a lower --learning-rate may fine-tune better)` : '';
  console.log(`done: ${steps} in ${formatSeconds((performance.now() - t0) / 1000)}, best val loss ${bestVal.toFixed(4)}${unsaved}${worse}`);
}

/**
 * The run's tokens and where they came from (as the checkpoint records it): --data-dir, else
 * --data, else (resuming) what the run trained on while it is there, else <out-dir>/data when
 * prepared, else (fine-tuning) what the checkpoint trained on, as nanoGPT's finetuning continues
 * on its dataset, else (a distilled student from scratch) what its teacher trained on while it is
 * there, else (a new model) the built-in corpus; tokenized with the checkpoint's tokenizer when it
 * has one, else the teacher's.
 */
async function dataset(
  flags: TrainFlags,
  given: Set<string>,
  ckpt: Pick<Checkpoint, 'meta'> | null,
  resume: boolean,
  note: (s: string) => void,
  teacher?: Teacher,
): Promise<{ ds: Dataset; data: string }> {
  // a distilled student from scratch takes its teacher's tokenizer, and its text (below)
  const existing = ckpt ? tokenizerFromJSON(ckpt.meta.tokenizer) : teacher?.tokenizer;
  const existingOf = ckpt ? 'the checkpoint' : 'the teacher';
  if (existing) checkTokenizerFlags(flags, given, existing, existingOf);
  const there = (source: string | undefined): source is string => source !== undefined && (!isPathSource(source) || existsSync(source));
  // a resumed run's own data comes before <out-dir>/data (it may have trained on --data beside it),
  // unless it is gone: a moved run directory recorded the <out-dir>/data it had before
  const recorded = ckpt?.meta.data;
  const recordedThere = there(recorded);
  const preparedHere = existsSync(join(flags.outDir, 'data', 'meta.json')) ? join(flags.outDir, 'data') : '';
  const prepared = flags.dataDir || (!flags.data && !(resume && recordedThere) ? preparedHere : '');
  const fineTuning = ckpt !== null && !resume;
  const teacherData = !ckpt && there(teacher?.head.meta.data) ? teacher!.head.meta.data : undefined;
  const source = prepared || flags.data || (ckpt ? recordedData(flags.initFrom, fineTuning, recorded, recordedThere) : teacherData || BUILTIN_CORPUS);
  const whose = fineTuning && source === recorded ? flags.initFrom : source === teacherData ? `the teacher ${teacher!.meta.teacher}` : null;
  note(`data: ${source}${whose ? ` (what ${whose} trained on, as its checkpoint records; --data for other text)` : ''}`);
  const ds = await loadTokens(source, { tokenizer: flags.tokenizer, vocabSize: flags.vocabSize, tokenizerFile: flags.tokenizerFile, existing, existingOf, note });
  try {
    if (prepared && ds.tokenizerOfData) checkTokenizerFlags(flags, given, ds.tokenizer, prepared);
  } catch (e) {
    await ds.close();
    throw e;
  }
  return { ds, data: recordedSource(source) };
}

/** The data a checkpoint to fine-tune or resume records, where it is still there; else one line asking for --data (never other text: a library's checkpoint records none). */
function recordedData(initFrom: string, fineTuning: boolean, recorded: string | undefined, there: boolean): string {
  if (recorded !== undefined && there) return recorded;
  const why = recorded === undefined ? 'records no data it trained on' : `records ${recorded} as the data it trained on, which is not there now`;
  throw new UsageError(`flag --init-from ${initFrom} ${fineTuning ? 'fine-tunes' : 'continues'} a checkpoint that ${why}: give the text to train on as --data FILE (or prepared data as --data-dir DIR)`);
}

/** Parameters as nanoGPT counts them; a shared block's once (its sharing said). */
function describeModel(model: GPT): string {
  const { nLayer, shareLayers = 1 } = model.config;
  const shared = shareLayers > 1 ? `, ${sharedBlocks(nLayer, shareLayers)}, --share-layers ${shareLayers}` : '';
  return `${formatParams(model.numParams())} parameters (excluding position embeddings${shared})`;
}

/** Model FLOP/s as TFLOP/s to three significant digits: lavapipe's 0.0326, a GPU's 48.1 or 312, a tiny model's 4.60e-6 (one notation below 0.01, not toPrecision's mix). */
function formatTflops(flopsPerSec: number): string {
  const tflops = flopsPerSec / 1e12;
  return tflops >= 100 ? tflops.toFixed(0) : tflops >= 0.01 ? tflops.toPrecision(3) : tflops.toExponential(2);
}

/** A float16 run (--dtype float16, or the resumed run's) where float16 cannot run: one line saying which flag to give instead. */
function checkDtypeRuns(dtype: TrainDtype, given: Set<string>, resumedFrom: string | null): void {
  if (given.has('dtype') || resumedFrom === null) return void dtypeFlag(dtype);
  const needs = dtype === 'float16' ? float16Needs() : null;
  if (!needs) return;
  throw new UsageError(`the run in ${resumedFrom} trained with --dtype float16, which ${needs}; resume it with --dtype float32 or auto`);
}

/** The log's dtype line: what the run computes in, and why when --dtype auto chose it. */
function describeDtype(asked: TrainDtype, dtype: ComputeDtype): string {
  const why = asked !== 'auto' ? '' : dtype === 'float16' ? ' (auto: this adapter multiplies float16 on tensor cores)' : ' (auto: float16 is not faster on this adapter; --dtype float16 to use it anyway)';
  const what = dtype === 'float16' ? 'mixed precision: float16 activations and products, float32 master weights and AdamW state, dynamic loss scaling' : 'float32 throughout';
  return `${dtype}${why}; ${what}`;
}
