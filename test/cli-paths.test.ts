// Every path flag of every command given a path that cannot be what it takes: missing, under a
// regular file, a directory where a file is read, a file where a directory is, an empty file, an
// unreadable one (skipped as root, where permissions are not enforced), a directory holding no
// checkpoint. Each is refused in one line naming the flag (or RUN), the path as given and what is
// wrong, with exit code 2 (nothing was done) and no errno code or stack trace. The verdicts come
// from the table below, written from each flag's documentation. The CLI runs in-process; one case
// runs as a real process, to see stderr as the shell does.
import fs, { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, WEB_DIST } from '../src/cli/serve.js';
import { UsageError } from '../src/cli/usage-error.js';
import { expectOneLine, gpt, runGpt, tempDir, TINY } from './cli-helpers.js';

const dir = tempDir('paths');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const corpus = join(dir, 'corpus.txt');
writeFileSync(corpus, 'hello there, a line of text to train on\n'.repeat(50));

/** What a flag takes, as its --help says: a file, directory, file-or-directory or checkpoint to read; a file or directory to write. */
type Takes = 'file' | 'directory' | 'file or directory' | 'checkpoint' | 'new file' | 'new directory';
type Case = 'missing' | 'missing, ending in /' | 'in a missing directory' | 'under a file' | 'a file, ending in /' | 'a directory' | 'a file' | 'an empty file' | 'an unreadable file' | 'an empty directory';

/** [command, flag ('RUN': plot's runs), what it takes, the other arguments] */
const FLAGS: [string, string, Takes, string[]][] = [
  ['prepare', '--data', 'file or directory', []],
  ['prepare', '--out-dir', 'new directory', ['--data', corpus]],
  ['prepare', '--tokenizer-file', 'file or directory', ['--tokenizer', 'gpt2']],
  ...(['train', 'distill', 'demo'] as const).flatMap((cmd): [string, string, Takes, string[]][] => [
    [cmd, '--data', 'file or directory', []],
    [cmd, '--data-dir', 'directory', []],
    [cmd, '--out-dir', 'new directory', ['--data', corpus]],
    [cmd, '--config', 'file', []],
    [cmd, '--init-from', 'checkpoint', []],
    [cmd, '--tokenizer-file', 'file or directory', ['--tokenizer', 'gpt2']],
  ]),
  ['distill', '--teacher', 'checkpoint', []],
  ...(['sample', 'eval', 'export'] as const).flatMap((cmd): [string, string, Takes, string[]][] => [
    [cmd, '--out-dir', 'checkpoint', []],
    [cmd, '--init-from', 'checkpoint', []],
  ]),
  ['sample', '--start', 'file', []], // as FILE:path
  ['sample', '--draft', 'checkpoint', []],
  ['eval', '--data', 'file or directory', []],
  ['eval', '--data-dir', 'directory', []],
  ['export', '--to', 'new directory', []],
  ['bench-generate', '--init-from', 'checkpoint', []],
  ['quantize', '--init-from', 'checkpoint', []],
  ['quantize', '--out-dir', 'new directory', []],
  ['prune', '--init-from', 'checkpoint', []],
  ['prune', '--out-dir', 'new directory', []],
  ['plot', 'RUN', 'file or directory', []],
  ['plot', '--out', 'new file', []],
  ['serve', '--checkpoint', 'checkpoint', []],
  ['serve', '--root', 'directory', []],
];

const root = process.getuid?.() === 0;
const missingDir = join(dir, 'no-dir', 'inside');
const reads = (takes: Takes) => !takes.startsWith('new');

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * What is wrong with a path of case `c` given for a flag that takes `takes`: 'names' and the rest
 * of the line after the path, or 'takes' and the kind of thing got; null where the path itself is
 * no refusal (a directory a flag takes, a file whose contents are judged later).
 */
function verdict(takes: Takes, c: Case, file: string): { names: string } | { got: string } | null {
  switch (c) {
    case 'missing':
      return reads(takes) ? { names: ', which does not exist' } : null; // created
    case 'missing, ending in /':
      if (takes === 'new file') return { names: ', which ends in / (a directory, not a file to write)' };
      return reads(takes) ? { names: ', which does not exist' } : null;
    case 'in a missing directory':
      if (takes === 'new file') return { names: `, whose directory ${dirname(missingDir)} does not exist` };
      return reads(takes) ? { names: ', which does not exist' } : null; // created with its parents
    case 'under a file':
    case 'a file, ending in /': // the slash asks for a directory (ENOTDIR): it once read 'which does not exist', or let a write fail deep
      return { names: `, under ${file}, which is a regular file, not a directory` };
    case 'a directory':
      return takes === 'file' || takes === 'new file' ? { got: 'directory' } : null;
    case 'a file':
    case 'an empty file':
      if (takes === 'directory' || takes === 'new directory') return { got: 'file' };
      return c === 'an empty file' && reads(takes) ? { names: ', which is empty' } : null;
    case 'an unreadable file':
      return reads(takes) && takes !== 'directory' ? { names: ', which cannot be read (permission denied)' } : null;
    case 'an empty directory':
      return takes === 'checkpoint' ? { names: ", which holds no checkpoint (no checkpoint.json, nor a Hugging Face model's config.json)" } : null;
  }
}

describe('a path flag given a path that cannot be what it takes', () => {
  it('is refused in one line naming the flag, the path and what is wrong, for every command', async () => {
    const file = join(dir, 'file.txt');
    const paths: Record<Case, string> = {
      missing: join(dir, 'missing'),
      'missing, ending in /': `${join(dir, 'missing')}/`,
      'in a missing directory': missingDir,
      'under a file': join(file, 'below'),
      'a file, ending in /': `${file}/`,
      'a directory': join(dir, 'empty-dir'),
      'a file': file,
      'an empty file': join(dir, 'empty'),
      'an unreadable file': join(dir, 'unreadable'),
      'an empty directory': join(dir, 'empty-dir'),
    };
    writeFileSync(file, 'some text\n');
    writeFileSync(paths['an empty file'], '');
    writeFileSync(paths['an unreadable file'], 'secret\n');
    chmodSync(paths['an unreadable file'], 0);
    mkdirSync(paths['a directory']);
    let checked = 0;
    for (const [cmd, flag, takes, rest] of FLAGS) {
      for (const c of Object.keys(paths) as Case[]) {
        if (c === 'an unreadable file' && root) continue; // root reads it anyway
        const wrong = verdict(takes, c, file);
        if (!wrong) continue;
        const given = flag === '--start' ? `FILE:${paths[c]}` : paths[c];
        const r = await gpt(cmd, ...rest, ...(flag === 'RUN' ? [given] : [flag, given]));
        const named = `gpt ${cmd}: ${flag === 'RUN' ? 'RUN' : `flag ${flag}`}`;
        const shown = escape(given);
        const line = 'names' in wrong ? `^${escape(named)} names ${shown}${escape(wrong.names)}$` : `^${escape(named)} takes .+, got the ${wrong.got} ${shown}(: .+)?$`;
        expectOneLine(r, 2, new RegExp(line));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(120);
  });

  it('a Hugging Face model id given as a checkpoint is looked up in the hub cache (offline here: vitest.config.ts)', async () => {
    const r = await gpt('sample', '--init-from', 'gpt2-medium');
    expectOneLine(r, 2, /^gpt sample: flag --init-from gpt2-medium: no such file or directory, and the Hugging Face cache .* has no config\.json of gpt2-medium@main \(HF_HUB_OFFLINE is set: nothing is downloaded\)$/);
  });

  it('in a --config file, is refused naming the file and its setting', async () => {
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ dataDir: join(dir, 'nowhere') }));
    expectOneLine(await gpt('train', '--config', config), 2, new RegExp(`^gpt train: config ${escape(config)}: 'dataDir' names ${escape(join(dir, 'nowhere'))}, which does not exist$`));
  });

  it('gpt plot of a directory without log.jsonl names the log it lacks', async () => {
    const run = join(dir, 'run-without-log');
    mkdirSync(run);
    expectOneLine(await gpt('plot', run), 2, new RegExp(`^gpt plot: RUN names ${escape(join(run, 'log.jsonl'))}, which does not exist$`));
  });

  it('a directory on a read-only mount is said to be one, not a permission to ask for', async () => {
    const ro = join(dir, 'read-only');
    mkdirSync(ro);
    // what access(2) answers there, without mounting anything: node:fs's named exports follow its default one once synced
    const real = fs.accessSync;
    fs.accessSync = (path, mode) => {
      if (path === ro) throw Object.assign(new Error(`EROFS: read-only file system, access '${ro}'`), { code: 'EROFS' });
      real(path, mode);
    };
    syncBuiltinESMExports();
    try {
      expectOneLine(await gpt('train', '--data', corpus, '--out-dir', ro), 2, new RegExp(`^gpt train: flag --out-dir names ${escape(ro)}, which cannot be written \\(its file system is mounted read-only\\)$`));
      // a directory to make there: refused before anything runs, naming the flag (not mkdir's bare EROFS)
      const missing = join(ro, 'new', 'run');
      expectOneLine(await gpt('train', '--data', corpus, '--out-dir', missing, ...TINY, '--max-iters', '1'), 2, new RegExp(`^gpt train: flag --out-dir names ${escape(missing)}, which cannot be created in ${escape(ro)} \\(its file system is mounted read-only\\)$`));
    } finally {
      fs.accessSync = real;
      syncBuiltinESMExports();
    }
  });

  it('as a real process: gpt plot of a missing run, one line on stderr', async () => {
    const r = await runGpt(['plot', join(dir, 'no-run')]);
    expect([r.code, r.err]).toEqual([2, `gpt plot: RUN names ${join(dir, 'no-run')}, which does not exist\n`]);
  });
});

describe('an error quoting a line break from a file', () => {
  it('stays one line: the break is written \\n', async () => {
    const config = join(dir, 'not-json.json');
    writeFileSync(config, 'hello\nworld\n');
    const r = await gpt('train', '--config', config);
    expectOneLine(r, 2, /^gpt train: cannot read config \S+not-json\.json: .*\\n/);
  });
});

describe('a file found, when read, to be none of what its flag takes', () => {
  it('is bad usage (exit 2) in one line naming the flag, the file and what the flag takes', async () => {
    const latin1 = join(dir, 'latin1.txt');
    writeFileSync(latin1, Buffer.from('caf\xe9 au lait\n', 'latin1'));
    const notUtf8 = (flag: string, where = '') => new RegExp(`^gpt \\w+: flag ${flag}: ${escape(latin1)} is not valid UTF-8 text${where}; ${flag} takes UTF-8 text$`);
    // both say where, as Python's decode error does: "é" in Latin-1 is the byte 0xE9, a lead byte without its continuation
    expectOneLine(await gpt('train', '--data', latin1, '--out-dir', join(dir, 'not-trained')), 2, notUtf8('--data', ' \\(byte 0xE9 at offset 3\\)'));
    expectOneLine(await gpt('prepare', '--data', latin1, '--out-dir', join(dir, 'not-prepared')), 2, notUtf8('--data', ' \\(byte 0xE9 at offset 3\\)'));
    const noJson = join(dir, 'tokenizer.json');
    writeFileSync(noJson, '{"model": ');
    expectOneLine(
      await gpt('prepare', '--data', corpus, '--tokenizer', 'gpt2', '--tokenizer-file', noJson, '--out-dir', join(dir, 'not-tokenized')),
      2,
      new RegExp(`^gpt prepare: flag --tokenizer-file names ${escape(noJson)}, which does not read as GPT-2's vocabulary \\(tokenizer\\.json: not valid JSON .*\\); it takes GPT-2's tokenizer\\.json .*$`),
    );
    // a log that a run wrote no step to: its start, and a line of another kind
    const log = join(dir, 'stepless.jsonl');
    writeFileSync(log, '{"type":"start","run":"r1","time":"2026-01-01T00:00:00Z"}\n');
    expectOneLine(await gpt('plot', log, '--out', join(dir, 'stepless.svg')), 2, new RegExp(`^gpt plot: RUN names ${escape(log)}, which holds no train or eval records; RUN takes a run that has logged a step`));
  });

  // the page is built into web-dist/ by `npm run build:web`: refused only where it has not been
  it.skipIf(existsSync(WEB_DIST))('gpt serve with no page built and no --root: nothing to serve, exit 2', async () => {
    expectOneLine(await gpt('serve', '--port', '0'), 2, /^gpt serve: flag --root: nothing to serve, web-dist\/ \(its default, \S+\) does not exist; run `npm run build:web` first, or pass --root DIR, a directory to serve$/);
  });

  it('startServer without its root refuses as gpt serve does', async () => {
    const missing = join(dir, 'no-page');
    await expect(startServer({ root: missing, port: 0 })).rejects.toThrow(new UsageError(`flag --root: nothing to serve, ${missing} does not exist; run \`npm run build:web\` first, or pass --root DIR, a directory to serve`));
    await expect(startServer({ root: missing, port: 0 })).rejects.toBeInstanceOf(UsageError);
  });
});
