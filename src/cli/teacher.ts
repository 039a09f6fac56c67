// `gpt distill`'s teacher: which checkpoint teaches, at which temperature and alpha (the flags, or a
// resumed run's own settings with the flags given on top), checked before anything is written; the
// teacher model itself is made once the device is open.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Checkpoint, DistillMeta } from '../gpt/checkpoint.js';
import { modelFromCheckpoint } from '../gpt/checkpoint.js';
import { tokenizerFromJSON, type Tokenizer } from '../gpt/tokenizer/index.js';
import type { Distillation, TrainConfig } from '../gpt/trainer.js';
import { crcHex } from '../io/checksum.js';
import { fastCrc32 } from '../node/checkpoint-files.js';
import { loadCheckpoint } from '../node/checkpoint-dir.js';
import { flagName, UsageError } from './flags.js';
import { pick, type DistillFlags } from './train-flags.js';

/** A teacher read from disk (weights on the host) with the settings it teaches by. */
export interface Teacher {
  meta: DistillMeta;
  ckpt: Checkpoint;
  tokenizer: Tokenizer;
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
  if (replacedByRun(meta.teacher, flags.outDir)) {
    throw new UsageError(
      `the teacher ${meta.teacher} is ${flags.outDir}'s checkpoint, which this run replaces as it saves (a resumed run would find the student there): copy the teacher elsewhere and give that as --teacher`,
    );
  }
  const ckpt = await loadCheckpoint(meta.teacher);
  const weights = weightsFingerprint(ckpt);
  // the same path holding other weights would change what the run learns without a word
  if (recorded?.teacherWeights && recorded.teacherWeights !== weights && !given.has('teacher')) {
    throw new UsageError(
      `the teacher at ${meta.teacher} has changed since this run started (its weights' CRC-32 is ${weights}, the run recorded ${recorded.teacherWeights}): ` +
        `restore it, or pass --teacher ${meta.teacher} to go on learning from what it holds now`,
    );
  }
  return { meta: { ...meta, teacherWeights: weights }, ckpt, tokenizer: tokenizerFromJSON(ckpt.meta.tokenizer) };
}

/** Whether the checkpoint at `teacher` is the run directory `outDir` or a weights file in it (each save replaces both), symlinks followed. */
function replacedByRun(teacher: string, outDir: string): boolean {
  if (!existsSync(teacher) || !existsSync(outDir)) return false;
  const [t, out] = [realpathSync(teacher), realpathSync(outDir)];
  return t === out || (statSync(t).isFile() && dirname(t) === out);
}

/** CRC-32 of a checkpoint's weights: each name, shape and value bytes, in name order. */
function weightsFingerprint(ckpt: Checkpoint): string {
  let crc = 0;
  for (const name of [...ckpt.weights.keys()].sort()) {
    const { shape, data } = ckpt.weights.get(name)!;
    crc = fastCrc32(new TextEncoder().encode(`${name}${JSON.stringify(shape)}`), crc);
    crc = fastCrc32(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), crc);
  }
  return crcHex(crc);
}

/** Refuses a student the teacher cannot teach: other tokens, or longer contexts than the teacher reads. */
export function checkStudent(teacher: Teacher, cfg: TrainConfig, tokenizer: Tokenizer, source: string): void {
  const same = JSON.stringify(tokenizer.toJSON()) === JSON.stringify(teacher.tokenizer.toJSON());
  if (!same) {
    throw new UsageError(
      `the student's ${tokenizer.kind} tokenizer (${tokenizer.vocabSize} tokens, from ${source}) differs from the teacher's ${teacher.tokenizer.kind} tokenizer ` +
        `(${teacher.tokenizer.vocabSize} tokens, ${teacher.meta.teacher}): distillation needs the same vocabulary`,
    );
  }
  const { blockSize } = teacher.ckpt.meta.model;
  if (cfg.blockSize > blockSize) throw new UsageError(`${flagName('blockSize')} ${cfg.blockSize} exceeds the teacher's block size ${blockSize} (${teacher.meta.teacher})`);
}

/** The teacher on the GPU, in eval mode and without dropout (the caller disposes `teacher`). */
export function distillation(teacher: Teacher): Distillation {
  const { model } = modelFromCheckpoint(teacher.ckpt, { dropout: 0 });
  return { teacher: model.eval(), temperature: teacher.meta.temperature, alpha: teacher.meta.alpha };
}
