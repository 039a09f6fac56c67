// `gpt prepare`: tokenize a corpus once into <out-dir>/data (train.bin, val.bin, meta.json).
import { join } from 'node:path';
import { BUILTIN_CORPUS, loadCorpus } from './corpus.js';
import { buildDataset, saveDataset } from './data.js';
import { flagHelp, parseFlags, UsageError } from './flags.js';

const PREPARE_DEFAULTS = { data: BUILTIN_CORPUS, outDir: 'out', tokenizer: 'char', vocabSize: 512 };

export const PREPARE_HELP = `usage: gpt prepare [flags]
Tokenizes a UTF-8 text (file or URL) and splits it 90/10 into train/val.
${flagHelp(PREPARE_DEFAULTS, { data: 'text file or URL', tokenizer: 'char or bpe', vocabSize: 'BPE vocabulary size' })}`;

export async function prepare(args: string[]): Promise<number> {
  const { values: f, positional } = parseFlags(args, PREPARE_DEFAULTS);
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'`);
  const text = await loadCorpus(f.data);
  const t0 = performance.now();
  const ds = buildDataset(text, { tokenizer: f.tokenizer, vocabSize: f.vocabSize });
  const dir = join(f.outDir, 'data');
  await saveDataset(dir, ds);
  console.log(
    `${f.data}: ${text.length.toLocaleString('en-US')} characters -> ${(ds.train.length + ds.val.length).toLocaleString('en-US')} tokens ` +
      `(${f.tokenizer}, vocab ${ds.tokenizer.vocabSize}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  console.log(`train ${ds.train.length.toLocaleString('en-US')} / val ${ds.val.length.toLocaleString('en-US')} tokens written to ${dir}`);
  return 0;
}
