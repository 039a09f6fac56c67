// `gpt export`: a checkpoint (ours, from --out-dir or --init-from) written as a Hugging Face GPT-2
// directory: config.json, model.safetensors and, for a GPT-2 or byte-level BPE tokenizer,
// tokenizer.json (src/gpt/hf), which transformers' GPT2LMHeadModel.from_pretrained reads.
import { initDevice } from '../device/device.js';
import { hfLayoutProblem } from '../gpt/hf/index.js';
import { saveHFModel } from '../node/checkpoint-dir.js';
import { loadHeadModel, readCheckpointHead } from '../node/checkpoint-head.js';
import { flagHelp, noPositional, parseFlags, UsageError, type FlagSpec } from './flags.js';
import { fetchHubCheckpoints } from './hub-flags.js';
import { CHECKPOINT_OR_KEYWORD } from './path-flags.js';
import { floatCheckpoint } from './float-checkpoint.js';
import { checkpointPath } from './sample.js';

const EXPORT_DEFAULTS = { outDir: 'out', initFrom: 'resume', to: '' };
const EXPORT_FLAGS: FlagSpec<typeof EXPORT_DEFAULTS> = {
  defaults: EXPORT_DEFAULTS,
  paths: { outDir: 'checkpoint', initFrom: CHECKPOINT_OR_KEYWORD, to: 'new directory' },
  ranges: {},
  docs: {
    outDir: 'the checkpoint: a directory written by `gpt train`, or a .safetensors file',
    initFrom: "'resume' (the checkpoint in --out-dir), or the checkpoint to read instead",
    to: 'the directory to write (created; its config.json, model.safetensors and tokenizer.json are replaced)',
  },
};

export const EXPORT_HELP = `usage: gpt export --to DIR [flags]
Writes a checkpoint as a Hugging Face GPT-2 directory (config.json + model.safetensors [+ tokenizer.json]).
${flagHelp(EXPORT_FLAGS)}`;

export async function exportModel(args: string[]): Promise<number> {
  const { values: f, positional, given } = parseFlags(args, EXPORT_FLAGS);
  noPositional(positional);
  await fetchHubCheckpoints(EXPORT_FLAGS, f, given);
  if (!f.to) throw new UsageError('--to DIR is required: the directory to write');
  const source = checkpointPath(f);
  const ckpt = floatCheckpoint(await readCheckpointHead(source), source, 'export'); // its weights uploaded as read, once the device is open
  const problem = hfLayoutProblem(ckpt.meta.model);
  if (problem) throw new UsageError(problem); // before the device opens, as the other refusals
  await initDevice();
  const { model, tokenizer } = await loadHeadModel(ckpt, { moments: false }, true);
  try {
    await saveHFModel(f.to, model, tokenizer);
  } finally {
    model.dispose();
  }
  console.log(`wrote ${f.to} (config.json, model.safetensors${tokenizer.kind === 'char' ? '; the char tokenizer travels in the weights metadata' : ', tokenizer.json'})`);
  return 0;
}
