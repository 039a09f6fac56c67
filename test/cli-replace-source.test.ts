// Every command that writes a model refuses to write it over the checkpoint it reads, --overwrite
// or not, however the two paths are spelt (a link, ./x and x, a file in the directory): the source
// would be gone for good. Each refusal is one line, and the source's files are left byte for byte.
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { corpusText, expectOneLine, gpt, tempDir, TINY } from './cli-helpers.js';
import { setupDevice } from './helpers.js';

const dir = tempDir('cli-replace-source');
const corpus = join(dir, 'corpus.txt');
const run = join(dir, 'run');
const link = join(dir, 'link'); // -> run
const nano = join(dir, 'nano'); // nanoGPT's out_dir: ckpt.pt
/** Each file of `d` and its bytes, to see that nothing was replaced. */
const files = (d: string) => new Map(readdirSync(d).map((name) => [name, readFileSync(join(d, name))]));
const REPLACES = 'writing it would replace the model it reads';

beforeAll(async () => {
  await setupDevice();
  mkdirSync(dir, { recursive: true });
  writeFileSync(corpus, corpusText(3000));
  const r = await gpt('train', '--data', corpus, ...TINY, '--max-iters', '1', '--eval-interval', '1', '--out-dir', run);
  expect(r.code, r.err).toBe(0);
  symlinkSync(run, link);
  const e = await gpt('export', '--out-dir', run, '--to', join(nano, 'ckpt.pt'));
  expect(e.code, e.err).toBe(0);
});

describe('a command writing a model over the checkpoint it reads', () => {
  // the same directory as given, through a link, as ./relative, and a weights file of the directory
  const spellings = () => {
    const weights = readdirSync(run).find((name) => name.endsWith('.safetensors'))!;
    return [
      [run, run],
      [link, run],
      [run, `./${relative(process.cwd(), run)}`],
      [join(run, weights), run],
    ];
  };

  it('quantize and prune refuse it, --overwrite or not, naming --out-dir and what to do', async () => {
    const before = files(run);
    for (const command of ['quantize', 'prune']) {
      for (const [from, to] of spellings()) {
        for (const overwrite of [['--overwrite'], []]) {
          const r = await gpt(command, '--init-from', from, '--out-dir', to, ...overwrite);
          expectOneLine(r, 2, new RegExp(`^gpt ${command}: --out-dir .* is the (directory of the )?checkpoint --init-from .* reads: ${REPLACES}; choose another --out-dir$`));
        }
      }
    }
    expect(files(run)).toEqual(before);
  });

  it('train refuses to fine-tune into the checkpoint it starts from, distill into its teacher', async () => {
    const before = files(run);
    for (const [from, to] of spellings()) {
      const t = await gpt('train', '--init-from', from, '--out-dir', to, '--overwrite', '--data', corpus, '--max-iters', '1');
      expectOneLine(t, 2, new RegExp(`^gpt train: --out-dir .* reads: ${REPLACES}; choose another --out-dir \\(--init-from resume continues a run of ours there\\)$`));
      const d = await gpt('distill', '--teacher', from, '--out-dir', to, '--overwrite', '--data', corpus, ...TINY, '--max-iters', '1');
      expectOneLine(d, 2, /^gpt distill: the teacher \S+ is \S+'s checkpoint, which this run replaces as it saves .*: copy the teacher elsewhere and give that as --teacher$/);
    }
    expect(files(run)).toEqual(before);
  });

  it("export refuses --to its own nanoGPT ckpt.pt, through a link too, and --to the directory of a file it reads", async () => {
    const before = files(nano);
    symlinkSync(nano, join(dir, 'nano-link'));
    for (const to of [join(nano, 'ckpt.pt'), join(dir, 'nano-link', 'ckpt.pt')]) {
      const r = await gpt('export', '--init-from', join(nano, 'ckpt.pt'), '--to', to, '--overwrite');
      expectOneLine(r, 2, new RegExp(`^gpt export: --to .* is the checkpoint --init-from .* reads: ${REPLACES}; export to another path$`));
    }
    expect(files(nano)).toEqual(before);
    const hf = join(dir, 'hf');
    expect((await gpt('export', '--out-dir', run, '--to', hf)).code).toBe(0);
    const hfBefore = files(hf);
    const r = await gpt('export', '--init-from', join(hf, 'model.safetensors'), '--to', hf, '--overwrite');
    expectOneLine(r, 2, new RegExp(`^gpt export: --to .* is the directory of the checkpoint --init-from .* reads: ${REPLACES}; export to another path$`));
    expect(files(hf)).toEqual(hfBefore);
  });

  it("still writes beside nanoGPT's ckpt.pt in its out_dir, and into the directory above the checkpoint read, which no such write replaces", async () => {
    const before = readFileSync(join(nano, 'ckpt.pt'));
    const r = await gpt('quantize', '--init-from', join(nano, 'ckpt.pt'), '--out-dir', nano);
    expect(r.code, r.err).toBe(0);
    expect(readFileSync(join(nano, 'ckpt.pt'))).toEqual(before);
    const runBefore = files(run);
    const above = await gpt('quantize', '--init-from', run, '--out-dir', dir);
    expect(above.code, above.err).toBe(0);
    expect(files(run)).toEqual(runBefore);
  });
});
