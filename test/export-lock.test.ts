// Two `gpt export`s into one --to at once: each writes its files atomically, but two sets written
// into one directory at once could mix (one's weights beside the other's config). The first holds
// the directory's lock (as a training run holds its --out-dir's) from its check of what the
// directory holds to its last write; the second is refused in one line naming the first's pid.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../src/node/dir-lock.js';
import { corpusText, gpt, runGpt, spawnGpt, tempDir, TINY } from './cli-helpers.js';

const dir = tempDir('export-lock');
const [run, lora] = [join(dir, 'run'), join(dir, 'lora')];

beforeAll(async () => {
  const corpus = join(dir, 'corpus.txt');
  writeFileSync(corpus, corpusText());
  expect((await gpt('train', '--data', corpus, ...TINY, '--max-iters', '2', '--eval-interval', '2', '--out-dir', run)).code).toBe(0);
  expect((await gpt('train', '--init-from', run, '--data', corpus, ...TINY, '--lora-rank', '2', '--max-iters', '2', '--eval-interval', '2', '--out-dir', lora)).code).toBe(0);
}, 120_000);

/** Resolves once `path` exists (polled: a tiny export holds its lock for a second or so, its device opening). */
async function appeared(path: string, timeoutMs = 30_000): Promise<void> {
  for (const start = Date.now(); !existsSync(path); await new Promise((r) => setTimeout(r, 2))) if (Date.now() - start > timeoutMs) throw new Error(`${path} never appeared`);
}

describe('two exports into one --to at once', () => {
  it.each([
    ['a Hugging Face directory', 'hf', 'config.json', []],
    ["nanoGPT's ckpt.pt", 'nano/ckpt.pt', 'ckpt.pt', []],
    ["peft's adapter directory", 'adapter', 'adapter_config.json', ['--adapters']],
  ])('%s: the second is refused in one line naming the first, which writes its files whole', async (_, target, file, adapters) => {
    const to = join(dir, target);
    const locked = target.endsWith('.pt') ? dirname(to) : to;
    const source = adapters.length ? lora : run;
    const first = await spawnGpt(['export', ...adapters, '--out-dir', source, '--to', to]);
    await appeared(join(locked, LOCK_FILE));
    first.child.kill('SIGSTOP'); // holding the lock while the second tries
    try {
      const second = await runGpt(['export', ...adapters, '--out-dir', source, '--to', to, '--overwrite']);
      expect([second.code, second.err]).toEqual([1, expect.stringMatching(new RegExp(`^gpt export: ${locked} is in use by another gpt process \\(pid ${first.child.pid}, since [\\dT:.Z-]+\\); if it is gone, delete ${join(locked, LOCK_FILE)}\\n$`))]);
    } finally {
      first.child.kill('SIGCONT');
    }
    const done = await first.done;
    expect(done.code, done.err).toBe(0);
    expect(existsSync(join(locked, file)) && !existsSync(join(locked, LOCK_FILE))).toBe(true);
    if (file === 'config.json') expect(JSON.parse(readFileSync(join(locked, file), 'utf8')).n_layer).toBe(1);
  }, 120_000);
});
