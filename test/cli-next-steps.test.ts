// After training, the commands `gpt train` and `gpt demo` print to try next each work as printed
// (serve given --port 0); `gpt eval` finds the data the run trained on (or the built-in corpus);
// fine-tuning a character tokenizer's checkpoint on text with new characters leaves them out and
// says which.
import { cpSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../scripts/build-web.mjs';
import { WEB_DIST } from '../src/cli/serve.js';
import { encodeCheckpoint, modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { corpusText, gpt, spawnGpt, tempDir, TINY, type Result } from './cli-helpers.js';
import { setupDevice } from './helpers.js';

const dir = tempDir('cli-next');
const corpus = join(dir, 'corpus.txt');
writeFileSync(corpus, corpusText(20_000));
const QUICK = [...TINY, '--max-iters', '10', '--eval-interval', '5'];

// one run of QUICK on the corpus, trained once: the first test follows its next steps, the others
// start from it (a copy, where a test changes the run)
const trained = join(dir, 'my run');
let trainedRun: Result;
beforeAll(async () => {
  await setupDevice();
  trainedRun = await gpt('train', ...QUICK, '--data', corpus, '--out-dir', trained);
  expect(trainedRun.code, trainedRun.err).toBe(0);
});

/** The commands after "next:", as argument lists ('npx gpt' dropped; single-quoted words as the shell reads them). */
function nextCommands(out: string): string[][] {
  const block = out.slice(out.lastIndexOf('next:\n') + 6).split('\n');
  return block.map((line) => {
    const command = line.replace(/\s+# .*$/, '').trim();
    expect(command.startsWith('npx gpt '), line).toBe(true);
    return [...command.slice(8).matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((m) => (m[1] ?? m[2]!).replace(/'\\''/g, "'"));
  });
}

describe('the next steps after training', () => {
  it('each command works as printed', async () => {
    const out = trained;
    const commands = nextCommands(trainedRun.out);
    expect(commands.map((c) => c[0])).toEqual(['sample', 'eval', 'plot', 'serve']);
    // as printed, with fewer tokens and batches than their defaults (500 and 200: 10 s): 20 tokens still slide past the block
    const fewer: Record<string, string[]> = { sample: ['--max-new-tokens', '20'], eval: ['--eval-iters', '2'], plot: [] };
    for (const args of commands.filter((c) => c[0] !== 'serve')) {
      const r = await gpt(...args, ...fewer[args[0]!]!);
      expect(r.code, `${args.join(' ')}: ${r.err}`).toBe(0);
    }
    expect(existsSync(join(out, 'loss.svg'))).toBe(true);

    if (!existsSync(join(WEB_DIST, 'index.html'))) await buildWeb(); // what set-up builds
    const server = await spawnGpt([...commands.find((c) => c[0] === 'serve')!, '--port', '0', '--quiet']);
    const url = (await server.printed(/open \S+/)).match(/open (\S+)/)![1]!;
    expect((await fetch(url)).status).toBe(200);
    expect((await fetch(`${url}checkpoint.safetensors`)).status).toBe(200);
    server.child.kill('SIGTERM');
    expect((await server.done).code).toBe(0);
  });

  it('gpt eval and a resumed run use the data the run trained on; eval falls back to the built-in corpus', async () => {
    const out = join(dir, 'recorded');
    cpSync(trained, out, { recursive: true });
    const recorded = await gpt('eval', '--out-dir', out, '--eval-iters', '2');
    expect(recorded.code, recorded.err).toBe(0);
    expect(recorded.out).toMatch(new RegExp(`^data: ${corpus} \\(what the run trained on\\)\\ntrain loss [\\d.]+, val loss [\\d.]+`));
    const resumed = await gpt('train', '--init-from', 'resume', '--max-iters', '15', '--out-dir', out);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toMatch(new RegExp(`^data: ${corpus}\\n`));

    // a checkpoint that does not say (saved by the page or by library code) is evaluated on the built-in corpus
    const { model, tokenizer } = modelFromCheckpoint(await loadCheckpoint(out));
    const bare = join(dir, 'bare.safetensors');
    writeFileSync(bare, await encodeCheckpoint(model, tokenizer));
    model.dispose();
    const builtin = await gpt('eval', '--out-dir', bare, '--eval-iters', '2');
    expect(builtin.code, builtin.err).toBe(0);
    expect(builtin.out).toMatch(/^data: builtin:webdocs\n(note: builtin:webdocs: [\d,]+ characters the tokenizer does not know were left out: .*\n)?train loss/);
  });

  it('a resumed run keeps to the data it trained on where <out-dir>/data holds other text (prepared before, not given)', async () => {
    const out = join(dir, 'prepared-beside');
    const other = join(dir, 'reversed.txt');
    writeFileSync(other, [...corpusText(20_000)].reverse().join('')); // the same characters: the run's tokenizer reads it
    expect((await gpt('prepare', '--data', other, '--out-dir', out)).code).toBe(0);
    expect((await gpt('train', ...QUICK, '--data', corpus, '--out-dir', out)).code).toBe(0);
    const resumed = await gpt('train', '--init-from', 'resume', '--max-iters', '15', '--out-dir', out);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toMatch(new RegExp(`^data: ${corpus}\\n`));
    expect(resumed.out).toMatch(/^resuming at step 10\n/m);
    expect((await loadCheckpoint(out)).meta.data).toBe(corpus);
    // a run on its own <out-dir>/data, the directory moved since: there is no other
    const moved = join(dir, 'prepared-moved');
    expect((await gpt('train', ...QUICK, '--overwrite', '--out-dir', out)).code).toBe(0);
    renameSync(out, moved);
    const again = await gpt('train', '--init-from', 'resume', '--max-iters', '15', '--out-dir', moved);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(new RegExp(`^data: ${moved}/data\\n`));
  });

  it('fine-tuning a char checkpoint on text with new characters leaves them out and says which', async () => {
    const out = trained;
    const other = join(dir, 'prices.txt');
    writeFileSync(other, 'the model reads $5 and writes $6: née. '.repeat(20));
    const ft = await gpt('train', '--init-from', out, '--data', other, ...QUICK, '--out-dir', join(dir, 'ft'));
    expect(ft.code, ft.err).toBe(0);
    expect(ft.out).toContain(`note: ${other}: 100 characters the tokenizer does not know were left out: "$" (U+0024) x40, "5" (U+0035) x20, "6" (U+0036) x20, "é" (U+00E9) x20`);
    const prompt = await gpt('sample', '--out-dir', join(dir, 'ft'), '--start', '$ the', '--max-new-tokens', '5', '--kv-cache', 'false');
    expect(prompt.code, prompt.err).toBe(0);
    expect(prompt.err).toContain('note: --start: 1 character the tokenizer does not know was left out: "$" (U+0024)');
  });

  it('gpt demo trains, samples and ends with the next steps for its directory', async () => {
    const out = join(dir, 'demo');
    const r = await gpt('demo', ...QUICK, '--always-save', '--data', corpus, '--out-dir', out); // saved at step 10
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/saved checkpoint/);
    // the sample: its prompt 'The ' as the model continues it, without characters the corpus lacks
    const prompt = [...'The '].filter((c) => readFileSync(corpus, 'utf8').includes(c)).join('');
    expect(r.out).toContain(`\n${prompt}`);
    expect(r.out).toMatch(/\n--- \d+ tokens in [\d.]+ s \([\d.]+ tok\/s, float32\)\n+next:\n/); // the sample's stats, then the next steps
    expect(nextCommands(r.out).map((c) => c.join(' '))).toEqual([
      `sample --out-dir ${out} --start The `,
      `eval --out-dir ${out}`,
      `plot ${out} --out ${out}/loss.svg`,
      `serve --checkpoint ${out}`,
    ]);
    expect(readFileSync(join(out, 'log.jsonl'), 'utf8')).toMatch(/"type":"eval"/);

    // --init-from resume continues the run on its own settings (the demo's --overwrite is not added)
    const finished = await gpt('demo', '--init-from', 'resume', '--out-dir', out);
    expect([finished.code, finished.err]).toEqual([2, `gpt demo: the run in ${out} already reached step 10: raise --max-iters (now 10) to train further`]);
    const resumed = await gpt('demo', '--init-from', 'resume', '--max-iters', '12', '--always-save', '--out-dir', out);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toMatch(/resuming at step 10\n/);
    expect(resumed.out).toContain(`\n${prompt}`);
    expect(await loadCheckpoint(out).then((c) => [c.meta.trainer!.step, c.meta.train!.evalInterval])).toEqual([12, 5]);
  });
});
