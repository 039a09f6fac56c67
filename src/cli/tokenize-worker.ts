// A worker thread of `gpt prepare` (see tokenizer-pool.ts): tokenizes each text it is sent with the
// tokenizer it was started with and sends the ids back (their buffer moved, not copied), or, started
// with none, counts the text's BPE pre-tokenization chunks.
import { parentPort, workerData } from 'node:worker_threads';
import { countChunks, encodeKnown, tokenizerFromJSON } from '../gpt/tokenizer/index.js';
import type { WorkerJob } from './tokenizer-pool.js';

const { tokenizer: json } = workerData as WorkerJob;
const tokenizer = json && tokenizerFromJSON(json);
parentPort!.on('message', ({ id, text }: { id: number; text: string }) => {
  if (!tokenizer) return parentPort!.postMessage({ id, result: countChunks(text) });
  const result = encodeKnown(tokenizer, text);
  parentPort!.postMessage({ id, result }, [result.ids.buffer as ArrayBuffer]);
});
