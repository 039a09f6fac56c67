// Tokenizing on several threads for `gpt prepare`: a corpus of gigabytes takes minutes a thread
// (GPT-2's tokenizer: about 25 MB/s; counting a BPE vocabulary's chunks: about 13 MB/s). Each
// worker thread holds its own copy of the tokenizer; texts go to whichever is free, and the caller
// takes the results in the order the texts were given, so the tokens are those of one thread. The workers run the built tokenize-worker.js: where it has not been built
// (this checkout's TypeScript run as it is, as the tests do), tokenizing stays on this thread.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { countChunks, encodeKnown, type KnownTokens, type Tokenizer, type TokenizerJSON } from '../gpt/tokenizer/index.js';

/** At most this many worker threads: past it, reading and writing the files keep up no longer. */
export const MAX_WORKERS = 16;

const WORKER_SCRIPT = new URL('./tokenize-worker.js', import.meta.url);

/** How many threads tokenize when `asked` is 0 (auto): one per core, at most MAX_WORKERS. */
export const autoWorkers = () => Math.min(MAX_WORKERS, availableParallelism());

/** Works on texts, on worker threads or, with one thread or no built worker, on this one. */
export interface TextPool<R> {
  /** How many threads work. */
  readonly threads: number;
  /** The result for `text`; the results of several calls may be awaited in any order. */
  run(text: string): Promise<R>;
  close(): Promise<void>;
}

/**
 * A pool of `threads` threads (1: this thread) that encode texts with `tokenizer`. `worker`: the
 * worker's JavaScript, built beside this file; a test run from TypeScript passes a bundle of it.
 */
export const tokenizerPool = (tokenizer: Tokenizer, threads: number, worker = WORKER_SCRIPT): TextPool<KnownTokens> =>
  textPool({ tokenizer: tokenizer.toJSON() }, threads, (text) => encodeKnown(tokenizer, text), worker);

/** A pool of `threads` threads (1: this thread) that count texts' BPE pre-tokenization chunks (a BPE vocabulary's first step); `worker` as tokenizerPool's. */
export const chunkCounterPool = (threads: number, worker = WORKER_SCRIPT): TextPool<Map<string, number>> =>
  textPool({ tokenizer: null }, threads, (text) => countChunks(text), worker);

/** What a worker is started with: the tokenizer it encodes with, or null for one that counts chunks. */
export interface WorkerJob {
  tokenizer: TokenizerJSON | null;
}

function textPool<R>(job: WorkerJob, threads: number, here: (text: string) => R, worker: URL): TextPool<R> {
  if (threads <= 1 || !existsSync(fileURLToPath(worker))) {
    return { threads: 1, run: async (text) => here(text), close: async () => undefined };
  }
  return new WorkerPool<R>(job, threads, worker);
}

interface Pending<R> {
  resolve: (result: R) => void;
  reject: (e: Error) => void;
}

class WorkerPool<R> implements TextPool<R> {
  private readonly workers: Worker[];
  private readonly idle: Worker[];
  private readonly queue: { id: number; text: string }[] = [];
  private readonly pending = new Map<number, Pending<R>>();
  private nextId = 0;
  private failed: Error | null = null;

  constructor(
    job: WorkerJob,
    readonly threads: number,
    script: URL,
  ) {
    this.workers = Array.from({ length: threads }, () => {
      const worker = new Worker(script, { workerData: job });
      worker.on('message', (m: { id: number; result: R }) => this.done(worker, m));
      worker.on('error', (e) => this.fail(e));
      worker.on('messageerror', (e) => this.fail(e)); // a reply that could not be read: its piece would never finish
      worker.on('exit', (code) => code !== 0 && this.fail(new Error(`a tokenizing thread stopped (exit code ${code})`)));
      return worker;
    });
    this.idle = [...this.workers];
  }

  run(text: string): Promise<R> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    const result = new Promise<R>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.queue.push({ id, text });
    this.dispatch();
    return result;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private dispatch(): void {
    while (this.idle.length && this.queue.length) {
      const worker = this.idle.pop()!;
      worker.postMessage(this.queue.shift()!);
    }
  }

  private done(worker: Worker, { id, result }: { id: number; result: R }): void {
    this.idle.push(worker);
    this.pending.get(id)?.resolve(result);
    this.pending.delete(id);
    this.dispatch();
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const p of this.pending.values()) p.reject(this.failed);
    this.pending.clear();
    this.queue.length = 0;
  }
}
