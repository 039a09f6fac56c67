// Paths given as flags (or config-file settings), looked at as the flags are parsed, before a
// command reads or writes anything: one line naming the flag, the path and what is wrong with it
// (missing, under a file, of the wrong kind, unreadable, empty), rather than an errno code from
// deep in the reading. Synchronous, as flag parsing is: a few stat calls at startup.
import { accessSync, constants, existsSync, readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { HF_FILES } from '../gpt/hf/index.js';
import { PEFT_FILES } from '../gpt/hf/peft.js';
import { MANIFEST_FILE } from '../node/checkpoint-files.js';
import { kindOf } from '../node/regular-files.js';
import { parseHubId } from '../gpt/hf/hub.js';
import { isPathSource } from './corpus.js';

/**
 * What a path flag takes: an existing file, directory, either, or checkpoint (a directory holding
 * one, or a file) to read; or a file or directory to write, created where it is missing.
 */
export type PathUse = 'file' | 'directory' | 'file or directory' | 'checkpoint' | 'new file' | 'new directory';

/** How a flag's value is checked: its use, and optionally what it takes in words and what to give instead of the wrong kind. */
export interface PathRule {
  use: PathUse;
  takes?: string;
  otherwise?: string;
  /** The path in the value, where it is not the value itself (--start FILE:path). */
  path?: string;
  /** A checkpoint (or peft adapter) to read that may be a repo on the Hugging Face hub, named by its id (fetched as the command starts: hub-flags.ts). */
  hub?: 'model' | 'adapter';
  /** A new file whose directory, missing, is created with its parents (as a new directory's are). */
  createsDirectory?: boolean;
  /** A checkpoint directory read as nanoGPT's out_dir: its ckpt.pt is the checkpoint where it holds none of ours (runCheckpoint). */
  outDir?: boolean;
}

/** A flag's rule, or one by its value (null: the value names no path, such as 'resume' or a URL). */
export type PathFlag = PathUse | PathRule | ((value: string) => PathUse | PathRule | null);

const TAKES: Record<PathUse, string> = {
  file: 'a file',
  directory: 'a directory',
  'file or directory': 'a file or directory',
  checkpoint: 'a checkpoint (a directory or a .safetensors file)',
  'new file': 'a file to write',
  'new directory': 'a directory to write into',
};

/** `flag`'s rule for `value`, or null where the value names no path. */
export function pathRule(flag: PathFlag, value: string): PathRule | null {
  const found = typeof flag === 'function' ? flag(value) : flag;
  return found === null || value === '' ? null : typeof found === 'string' ? { use: found } : found;
}

/**
 * What is wrong with `value` given as `name` ('flag --data', "config c.json: 'data'") under `flag`'s
 * rule, or null. A checkpoint to read that does not exist may be a model on the Hugging Face hub
 * (a rule with `hub`), where the value is a model id.
 */
export function pathFlagProblem(name: string, value: string, flag: PathFlag): string | null {
  const rule = pathRule(flag, value);
  if (!rule) return null;
  const path = rule.path ?? value;
  const writes = rule.use === 'new file' || rule.use === 'new directory';
  let s: Stats;
  try {
    s = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (!['ENOENT', 'ENOTDIR'].includes(code)) return `${name} names ${value}, which cannot be looked at (${code || (e as Error).message})`;
    const above = existingAbove(path);
    if (above && !above.stats.isDirectory()) return `${name} names ${value}, under ${above.path}, which is ${kindOf(above.stats)}, not a directory`;
    // a directory to write is created with its parents; a file is written into a directory that is there, unless its rule creates it
    if (rule.use === 'new file' && path.endsWith('/')) return `${name} names ${value}, which ends in / (a directory, not a file to write)`;
    if (rule.use === 'new file' && !rule.createsDirectory && statOrNull(dirname(path)) === null) return `${name} names ${value}, whose directory ${dirname(path)} does not exist`;
    // a model on the Hugging Face hub, fetched when the command starts (hub-flags.ts)
    if (rule.hub && parseHubId(path)) return null;
    if (!writes) return `${name} names ${value}, which does not exist`;
    // made (or written) in the nearest directory there: a read-only mount refused now, not as mkdir's bare EROFS once the command runs
    const denied = above && accessDenied(above.path, constants.W_OK | constants.X_OK);
    return denied ? `${name} names ${value}, which cannot be created in ${above.path} (${denied})` : null;
  }
  const wanted = rule.use === 'file' || rule.use === 'new file' ? s.isFile() : rule.use === 'directory' || rule.use === 'new directory' ? s.isDirectory() : s.isFile() || s.isDirectory();
  if (!wanted) return `${name} takes ${rule.takes ?? TAKES[rule.use]}, got the ${kindOf(s).replace(/^an? (regular )?/, '')} ${value}${rule.otherwise ? `: ${rule.otherwise}` : ''}`;
  const access = writes ? constants.W_OK : constants.R_OK;
  const denied = accessDenied(path, s.isDirectory() ? access | constants.X_OK : access);
  if (denied) return `${name} names ${value}, which cannot be ${writes ? 'written' : 'read'} (${denied})`;
  if (!writes && s.isFile() && s.size === 0) return `${name} names ${value}, which is empty`;
  if (rule.use === 'checkpoint' && s.isDirectory() && !checkpointFileIn(path)) {
    const file = nanoGptFileIn(path);
    if (file && rule.outDir) return null;
    // a peft adapter is no model: it goes onto its base model, as the commands that take --adapter merge it
    const adapter = existsSync(join(path, PEFT_FILES.config)) && `; it is a peft adapter (${PEFT_FILES.config}), not a model: give its base model, and the adapter as --adapter (gpt sample, eval, train)`;
    const instead = file ? `; it holds nanoGPT's ${NANOGPT_FILE}: give the file, ${file}` : adapter || '';
    return `${name} names ${value}, which holds no checkpoint (no ${MANIFEST_FILE}, nor a Hugging Face model's ${HF_FILES.config})${instead}`;
  }
  return null;
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/**
 * The nearest existing path above the missing `path` (no directory: nothing can be under it), or
 * null. `file/` is under its file too: the slash asks for a directory (ENOTDIR), which dirname drops.
 */
function existingAbove(path: string): { path: string; stats: Stats } | null {
  const start = path.endsWith('/') ? path.replace(/(.)\/+$/, '$1') : dirname(path);
  for (let p = start; ; p = dirname(p)) {
    const s = statOrNull(p);
    if (s) return { path: p, stats: s };
    if (p === dirname(p)) return null;
  }
}

/** Why `path` cannot be used in `mode`, in words, or null: a read-only mount is not a permission to ask for. */
function accessDenied(path: string, mode: number): string | null {
  try {
    accessSync(path, mode);
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EROFS' ? 'its file system is mounted read-only' : 'permission denied';
  }
}

/** The checkpoint nanoGPT's train.py writes into its out_dir. */
const NANOGPT_FILE = 'ckpt.pt';

/** nanoGPT's checkpoint in `dir` (its out_dir), which is read where the file is named, or null. */
export function nanoGptFileIn(dir: string): string | null {
  const file = join(dir, NANOGPT_FILE);
  return existsSync(file) ? file : null;
}

/** --out-dir of a command that reads the checkpoint there (sample, eval, export): nanoGPT's out_dir holds a ckpt.pt, read as sample.py reads it. */
export const RUN_CHECKPOINT: PathRule = { use: 'checkpoint', outDir: true };

/**
 * The checkpoint in run directory `dir` (RUN_CHECKPOINT's): ours or a Hugging Face model, else
 * nanoGPT's ckpt.pt there, as its sample.py's init_from='resume' reads out_dir. Where it holds
 * both, `note` says which was read and how to read the other (`give`: how the command takes a path).
 */
export function runCheckpoint(dir: string, note: (line: string) => void, give = '--init-from'): string {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return dir;
  const nanoGpt = nanoGptFileIn(dir);
  const ours = checkpointFileIn(dir);
  if (!ours) return nanoGpt ?? dir;
  if (nanoGpt) note(`${dir} holds both a ${ours === MANIFEST_FILE ? 'checkpoint of ours' : 'Hugging Face model'} (${ours}) and nanoGPT's ${NANOGPT_FILE}: ours was read; to read nanoGPT's, give ${give} ${nanoGpt}`);
  return dir;
}

/** The file that makes a directory a checkpoint of ours (its manifest) or a Hugging Face model (its config.json), or null. */
export function checkpointFileIn(dir: string): string | null {
  const names = readdirSync(dir);
  return [MANIFEST_FILE, HF_FILES.config].find((name) => names.includes(name)) ?? null;
}

/** The real path of `path` (links, `.` and `..` resolved), or null where it is not there. */
function realOrNull(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

/**
 * Whether writing a model to `target` replaces the checkpoint at `source`: it is the same file or
 * directory however it is spelt (a link, ./x and x), or a file of the directory written (not a directory in it), whose
 * weights and manifest are replaced there (nanoGPT's ckpt.pt aside, which only a .pt target, the
 * file itself, writes). A target not there yet holds nothing.
 */
export function replacesSource(source: string, target: string): 'is' | 'in' | null {
  const [read, written] = [realOrNull(source), realOrNull(target)];
  if (!read || !written) return null;
  if (read === written) return 'is';
  return dirname(read) === written && statSync(read).isFile() && basename(read) !== NANOGPT_FILE ? 'in' : null;
}

/**
 * Why a command writing a model to `target` (the value of flag `targetFlag`) would replace the
 * checkpoint it reads from `source` (given as `sourceFlag`: replacesSource), or null; `instead` is
 * what to do. Checked before anything is read: --overwrite does not allow it.
 */
export function replacesSourceProblem(sourceFlag: string, source: string, targetFlag: string, target: string, instead = `choose another ${targetFlag}`): string | null {
  const where = replacesSource(source, target);
  if (!where) return null;
  const what = `${where === 'in' ? 'the directory of ' : ''}the checkpoint ${sourceFlag} ${source} reads`;
  return `${targetFlag} ${target} is ${what}: writing it would replace the model it reads; ${instead}`;
}

/** A text to read (--data, --tokenizer-file): a file or directory, unless it is a URL or builtin:webdocs. */
export const TEXT_SOURCE: PathFlag = (value) => (isPathSource(value) ? 'file or directory' : null);

/** A checkpoint to read, or a Hugging Face model id (`--init-from gpt2`, as nanoGPT's init_from; --out-dir stays a path, as its out_dir). */
export const CHECKPOINT_OR_HUB: PathRule = { use: 'checkpoint', hub: 'model' };
/** --adapter: a peft adapter directory to read, or the id of one on the Hugging Face hub. */
export const ADAPTER_OR_HUB: PathRule = { use: 'directory', hub: 'adapter' };
/** A checkpoint to read (or a model id), or the keyword 'resume' (the checkpoint in --out-dir) or 'scratch' (none). */
export const CHECKPOINT_OR_KEYWORD: PathFlag = (value) => (value === 'resume' || value === 'scratch' ? null : CHECKPOINT_OR_HUB);

/** --data-dir: a file there would quietly stand for --data. */
export const DATA_DIR: PathFlag = { use: 'directory', takes: "a directory of prepared data (`gpt prepare`'s, or nanoGPT's)", otherwise: 'give a text file as --data' };
