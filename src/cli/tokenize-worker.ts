// A worker thread of `gpt prepare` (see tokenizer-pool.ts): tokenizes each text it is sent with the
// tokenizer it was started with, and sends the ids back (their buffer moved, not copied).
import { parentPort, workerData } from 'node:worker_threads';
import { encodeKnown, tokenizerFromJSON } from '../gpt/tokenizer/index.js';

const tokenizer = tokenizerFromJSON((workerData as { tokenizer: unknown }).tokenizer);
parentPort!.on('message', ({ id, text }: { id: number; text: string }) => {
  const { ids, unknown, dropped } = encodeKnown(tokenizer, text);
  parentPort!.postMessage({ id, ids, unknown, dropped }, [ids.buffer as ArrayBuffer]);
});
