// nanoGPT's ckpt.pt picked on the page, made a model: its torch.save file read a range per tensor
// (src/io/torch-file.ts), its tokenizer from the files picked with it, as nanoGPT's sample.py picks
// one: its dataset's meta.pkl (a character model), else GPT-2's vocabulary, which the page does not
// ship: its vocab.json and merges.txt (or tokenizer.json) picked too. Platform free.
import { refuseModelPastAdapter, uploadedCheckpoint, type UploadedCheckpoint } from '../gpt/checkpoint-upload.js';
import { HF_FILES, hfTokenizer, type HFTokenizerFiles } from '../gpt/hf/index.js';
import { nanoGptTokenizerOf, openNanoGptSource, readNanoGpt } from '../gpt/nanogpt.js';
import type { ByteSource } from '../io/safetensors-source.js';

/** The name of nanoGPT's character vocabulary, data/DATASET/meta.pkl. */
export const META_PKL = 'meta.pkl';

/** nanoGPT's checkpoint picked with its tokenizer's files: meta.pkl's bytes, or GPT-2's vocabulary (HFTokenizerFiles' texts). */
export interface NanoGptSources extends HFTokenizerFiles {
  checkpoint: ByteSource;
  meta?: Uint8Array;
}

/**
 * The model of nanoGPT's checkpoint `files.checkpoint` (`source` names it in errors), on the GPU,
 * with `note` where its vocabulary was cut (nanoGptMeta's: GPT-2's padded to 50304). Its weights
 * are read a tensor at a time, to the host, then uploaded, as Node's loads of a ckpt.pt do; a model
 * past the adapter is refused from the pickle, before a weight is read.
 */
export async function readNanoGptModel(files: NanoGptSources, source: string): Promise<UploadedCheckpoint & { note: string | null }> {
  const file = await openNanoGptSource(files.checkpoint, source);
  const meta = files.meta ? { bytes: files.meta, path: META_PKL } : null;
  const gpt2Given = files.tokenizer !== undefined || (files.vocab !== undefined && files.merges !== undefined);
  const tokenizer = await nanoGptTokenizerOf(file, source, meta, async () => (gpt2Given ? hfTokenizer([], files, source) : null), {
    looked: `no ${META_PKL} picked`,
    giveMeta: `pick it (data/${file.dataset ?? 'DATASET'}/${META_PKL}) together with ${source}`,
    giveGpt2: `whose vocabulary this page does not ship: pick GPT-2's ${HF_FILES.vocab} and ${HF_FILES.merges} (or ${HF_FILES.tokenizer}) together with ${source}`,
  });
  const { ckpt, note } = await readNanoGpt(file, tokenizer, source, (meta) => refuseModelPastAdapter(meta, {}, source));
  return { ...uploadedCheckpoint(ckpt), note };
}
