// `gpt prepare`: tokenize a corpus once into <out-dir>/data (train.bin, val.bin, meta.json).
import { join } from 'node:path';
import { BUILTIN_CORPUS, loadCorpus } from './corpus.js';
import { BPE_VOCAB_SIZE, buildDataset, checkTokenizerFlagsApply, saveDataset, TOKENIZER_DEFAULTS, TOKENIZER_DOCS, TOKENIZER_FILE_SHOWN, TOKENIZERS } from './data.js';
import { flagHelp, noPositional, parseFlags, type FlagSpec } from './flags.js';
import { withDirectoryLock } from './run-lock.js';

const PREPARE_DEFAULTS = { data: BUILTIN_CORPUS, outDir: 'out', ...TOKENIZER_DEFAULTS };
const PREPARE_FLAGS: FlagSpec<typeof PREPARE_DEFAULTS> = {
  defaults: PREPARE_DEFAULTS,
  ranges: { vocabSize: BPE_VOCAB_SIZE },
  choices: { tokenizer: TOKENIZERS },
  docs: {
    data: 'text file or URL to tokenize',
    outDir: 'the tokens go to <out-dir>/data',
    ...TOKENIZER_DOCS,
  },
  defaultsShown: TOKENIZER_FILE_SHOWN,
};

export const PREPARE_HELP = `usage: gpt prepare [flags]
Tokenizes a UTF-8 text (file or URL) and splits it 90/10 into train/val.
${flagHelp(PREPARE_FLAGS)}`;

export async function prepare(args: string[]): Promise<number> {
  const { values: f, positional, given } = parseFlags(args, PREPARE_FLAGS);
  noPositional(positional);
  checkTokenizerFlagsApply(given, f.tokenizer);
  const text = await loadCorpus(f.data);
  const t0 = performance.now();
  const ds = await buildDataset(text, { source: f.data, tokenizer: f.tokenizer, vocabSize: f.vocabSize, tokenizerFile: f.tokenizerFile });
  const dir = join(f.outDir, 'data');
  // under the directory's lock: a run there reads this data (and a resumed one reads it again)
  await withDirectoryLock(f.outDir, () => saveDataset(dir, ds));
  console.log(
    `${f.data}: ${text.length.toLocaleString('en-US')} characters -> ${(ds.train.length + ds.val.length).toLocaleString('en-US')} tokens ` +
      `(${f.tokenizer}, vocab ${ds.tokenizer.vocabSize}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  console.log(`train ${ds.train.length.toLocaleString('en-US')} / val ${ds.val.length.toLocaleString('en-US')} tokens written to ${dir}`);
  return 0;
}
