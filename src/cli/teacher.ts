// `gpt distill`'s teacher: which checkpoint teaches, at which temperature and alpha (the flags, or a
// resumed run's own settings with the flags given on top), checked from its header before anything
// is written; the teacher model itself is loaded once the device is open, for inference (no
// moments, no pruning masks), each weight uploaded and fingerprinted as it is read: the host
// never holds it.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Checkpoint, CheckpointMeta, DistillMeta } from '../gpt/checkpoint.js';
import { disposeUploaded } from '../gpt/checkpoint-upload.js';
import { tokenizerFromJSON, type Tokenizer } from '../gpt/tokenizer/index.js';
import type { Distillation, TrainConfig } from '../gpt/trainer.js';
import { loadHeadModel, readCheckpointHead, type CheckpointHead } from '../node/checkpoint-head.js';
import { flagName, UsageError } from './flags.js';
import { replacesSource } from './path-flags.js';
import { pick } from './config-file.js';
import type { DistillFlags } from './train-flags.js';
import { WeightsFingerprint } from './weights-fingerprint.js';

/** A teacher's header (its weights not read yet) with the settings it teaches by. */
export interface Teacher {
  /** The settings; teacherWeights is the run's record until the teacher is loaded (teacherDistillation), then its weights' own. */
  meta: DistillMeta;
  head: CheckpointHead;
  tokenizer: Tokenizer;
  /** The weights' fingerprint the teacher must have: the run's record, unless --teacher was given (it then teaches whatever it holds). */
  required?: string;
}

/** The run's teacher: --teacher etc., or when resuming the student's recorded teacher with the flags given on top. */
export async function loadTeacher(flags: DistillFlags, given: Set<string>, student: Pick<Checkpoint, 'meta'> | null, resume: boolean): Promise<Teacher> {
  const recorded = resume ? student?.meta.distill : undefined;
  if (resume && !recorded && !given.has('teacher')) {
    throw new UsageError(`${flags.outDir} was not trained by distillation: give --teacher DIR to distill into it`);
  }
  const chosen = { teacher: flags.teacher, temperature: flags.temperature, alpha: flags.alpha };
  const meta: DistillMeta = recorded ? { ...recorded, ...pick(chosen, [...given]) } : chosen;
  if (!meta.teacher) throw new UsageError('--teacher DIR is required: the checkpoint to learn from');
  meta.teacher = resolve(meta.teacher); // recorded as an absolute path: a resumed run may start elsewhere
  if (replacesSource(meta.teacher, flags.outDir)) {
    throw new UsageError(
      `the teacher ${meta.teacher} is ${flags.outDir}'s checkpoint, which this run replaces as it saves (a resumed run would find the student there): copy the teacher elsewhere and give that as --teacher`,
    );
  }
  if (recorded && !given.has('teacher') && !existsSync(meta.teacher)) {
    throw new UsageError(`the run's teacher ${meta.teacher}, as ${flags.outDir}'s checkpoint records it, no longer exists: restore it there, or give --teacher DIR to go on learning from another`);
  }
  const head = await readCheckpointHead(meta.teacher);
  const required = given.has('teacher') ? undefined : recorded?.teacherWeights;
  return { meta, head, tokenizer: tokenizerFromJSON(head.meta.tokenizer), ...(required && { required }) };
}

/** The teacher's model config. */
export const teacherModel = (teacher: Teacher): CheckpointMeta['model'] => teacher.head.meta.model;

/** Where the student's block size came from: --block-size (or --config), the default, a checkpoint to fine-tune, or the resumed run (which keeps its own). */
export type BlockSizeFrom = 'given' | 'default' | 'checkpoint' | 'run';

/** Refuses a student the teacher cannot teach: other tokens, or longer contexts than the teacher reads. */
export function checkStudent(teacher: Teacher, cfg: TrainConfig, tokenizer: Tokenizer, source: string, blockSizeFrom: BlockSizeFrom): void {
  const same = JSON.stringify(tokenizer.toJSON()) === JSON.stringify(teacher.tokenizer.toJSON());
  if (!same) {
    throw new UsageError(
      `the student's ${tokenizer.kind} tokenizer (${tokenizer.vocabSize} tokens, from ${source}) differs from the teacher's ${teacher.tokenizer.kind} tokenizer ` +
        `(${teacher.tokenizer.vocabSize} tokens, ${teacher.meta.teacher}): distillation needs the same vocabulary`,
    );
  }
  const { blockSize } = teacherModel(teacher);
  if (cfg.blockSize <= blockSize) return;
  const exceeds = `exceeds the teacher's block size ${blockSize} (${teacher.meta.teacher})`;
  if (blockSizeFrom === 'run') throw new UsageError(`the run's block size ${cfg.blockSize} ${exceeds}: give a teacher that reads ${cfg.blockSize} tokens`);
  const from = { given: '', default: ' (the default)', checkpoint: " (the student checkpoint's)" }[blockSizeFrom];
  throw new UsageError(`${flagName('blockSize')} ${cfg.blockSize}${from} ${exceeds}: give ${flagName('blockSize')} ${blockSize} or less`);
}

/**
 * The teacher on the GPU, in eval mode and without dropout (the caller disposes its model), each
 * weight uploaded and fingerprinted as read, its moments and pruning masks not kept; with the
 * teacher's settings, its weights' fingerprint now its own. Refused where the run's record says it
 * held other weights (the same path holding other weights would change what the run learns without
 * a word), leaving nothing on the GPU.
 */
export async function teacherDistillation(teacher: Teacher): Promise<{ distill: Distillation; teacher: Teacher }> {
  const fingerprint = new WeightsFingerprint();
  // a pruned teacher's masks not kept: it runs no optimizer step, which is all they are kept for
  const loaded = await loadHeadModel(teacher.head, { dropout: 0, moments: false, masks: false, onWeight: fingerprint.add });
  const weights = fingerprint.hex();
  const { meta, required } = teacher;
  if (required && required !== weights) {
    disposeUploaded(loaded);
    throw new UsageError(
      `the teacher at ${meta.teacher} has changed since this run started (its weights' CRC-32 is ${weights}, the run recorded ${required}): ` +
        `restore it, or pass --teacher ${meta.teacher} to go on learning from what it holds now`,
    );
  }
  return { distill: { teacher: loaded.model.eval(), temperature: meta.temperature, alpha: meta.alpha }, teacher: { ...teacher, meta: { ...meta, teacherWeights: weights } } };
}
