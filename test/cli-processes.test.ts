// The CLI as real processes, where only a process shows it: two runs on one --out-dir (the second
// is refused, naming the first's pid), the lock released on SIGINT, SIGTERM and SIGHUP with the
// process still ending by that signal and saying which checkpoint it leaves, no hang on paths that used to hang (/proc, FIFOs), `gpt
// sample | head` ending quietly, `gpt sample > /dev/full` in one line, `gpt train | head` ending as SIGPIPE would, and `gpt serve --host 0.0.0.0` saying what it exposes.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { MANIFEST_FILE } from '../src/node/checkpoint-files.js';
import { LOCK_FILE } from '../src/node/dir-lock.js';
import { corpusText, gpt, runGpt, spawnGpt, tempDir, TINY } from './cli-helpers.js';
import { setupDevice } from './helpers.js';

const dir = tempDir('cli-processes');
const corpus = join(dir, 'corpus.txt');
const fixture = join(dir, 'fixture');
/** Trains until stopped, saving at every step. */
const endless = (out: string) => ['train', '--data', corpus, ...TINY, '--max-iters', '1000000', '--always-save', '--eval-interval', '1', '--out-dir', out];

beforeAll(async () => {
  await setupDevice();
  writeFileSync(corpus, corpusText(8000));
  const r = await gpt('train', '--data', corpus, ...TINY, '--max-iters', '4', '--eval-interval', '2', '--out-dir', fixture);
  expect(r.code, r.err).toBe(0);
});

/**
 * The last line of `err`, from a run in `out` that `signal` ended, says where the run was and which
 * checkpoint is left: the one that loads (the one whose save was under way, or the one before).
 */
async function expectCheckpointNamed(err: string, signal: string, out: string, command = 'train'): Promise<void> {
  const step = (await loadCheckpoint(out)).meta.trainer!.step;
  expect(step).toBeGreaterThan(0); // ended mid-run, still loads
  const said = new RegExp(`(?:^|\n)gpt ${command}: ${signal} at step (\\d+); ${out} keeps (?:the checkpoint of step (\\d+) if its save, under way, was done, else )?the checkpoint of step (\\d+) \\(val [\\d.]+\\): continue it with gpt ${command} --init-from resume --out-dir ${out}\n$`).exec(err);
  expect(said, err).not.toBeNull();
  const [at, saving, saved] = [said![1], said![2], said![3]].map(Number);
  expect([saving, saved]).toContain(step);
  expect(at).toBeGreaterThanOrEqual(step);
}

describe('gpt train holds a lock on its --out-dir', () => {
  it('a second run on the same directory is refused; the lock goes with SIGINT, SIGTERM and SIGHUP', async () => {
    const [a, c, h] = [join(dir, 'a'), join(dir, 'c'), join(dir, 'h')];
    const first = await spawnGpt(endless(a));
    const other = await spawnGpt(endless(c));
    const hungUp = await spawnGpt(endless(h)); // its terminal closed
    await Promise.all([first.printed(/saved checkpoint/), other.printed(/saved checkpoint/), hungUp.printed(/saved checkpoint/)]);

    const second = await runGpt(endless(a), 30_000);
    expect(second.code, second.err).toBe(1);
    expect(second.err).toMatch(new RegExp(`^gpt train: ${a} is in use by another gpt process \\(pid ${first.child.pid}, since [\\dT:.Z-]+\\); if it is gone, delete ${join(a, LOCK_FILE)}\\n$`));
    expect(existsSync(join(a, LOCK_FILE))).toBe(true);

    first.child.kill('SIGINT');
    other.child.kill('SIGTERM');
    hungUp.child.kill('SIGHUP');
    const ends = await Promise.all([first.done, other.done, hungUp.done]);
    expect(ends.map((e) => e.signal)).toEqual(['SIGINT', 'SIGTERM', 'SIGHUP']);
    for (const [i, out] of [a, c, h].entries()) {
      expect(existsSync(join(out, LOCK_FILE)), out).toBe(false);
      await expectCheckpointNamed(ends[i]!.err, ends[i]!.signal!, out);
    }
  });
});

describe('gpt train killed with SIGKILL', () => {
  it('in the middle of a save: the checkpoint before it (or the save, if it landed) loads, a resumed run takes the lock over and ends bit-identical to one run straight through, each step logged once', async () => {
    const flags = [...TINY, '--dropout', '0.1', '--log-interval', '1', '--eval-interval', '3', '--always-save', '--max-iters', '12'];
    const [straight, killed] = [join(dir, 'straight'), join(dir, 'killed')];
    expect((await gpt('train', '--data', corpus, ...flags, '--out-dir', straight)).code).toBe(0);
    mkdirSync(killed);
    const run = await spawnGpt(['train', '--data', corpus, ...flags, '--out-dir', killed]);
    // the second save's weights appear under their temporary name: the kill lands while it writes (or just after)
    const weightsWrites = new Set<string>();
    const watcher = watch(killed, (_, name) => {
      if (/^\.model-.*\.tmp-/.test(name ?? '') && weightsWrites.add(name!).size === 2) run.child.kill('SIGKILL');
    });
    const ended = await run.done;
    watcher.close();
    expect(ended.signal, ended.err).toBe('SIGKILL');
    expect([3, 6]).toContain((await loadCheckpoint(killed)).meta.trainer!.step);
    const resumed = await runGpt(['train', '--init-from', 'resume', '--out-dir', killed]);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.err).toContain(`note: ${killed} was locked by pid ${run.child.pid}`);
    const records = (out: string) => readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type !== 'resume').map((r) => [r.type, r.step, r.loss ?? r.val]);
    expect(records(killed)).toEqual(records(straight));
    const [a, b] = [await loadCheckpoint(straight), await loadCheckpoint(killed)];
    expect(b.weights).toEqual(a.weights);
    expect(b.optimizer).toEqual(a.optimizer);
  });
});

describe('nothing hangs', () => {
  it('an --out-dir under /proc, and FIFOs where files are read, are one-line errors', async () => {
    const fifoDir = join(dir, 'fifo-ckpt');
    mkdirSync(fifoDir);
    const fifo = join(dir, 'pipe');
    for (const path of [fifo, join(fifoDir, 'weights.fifo')]) expect(spawnSync('mkfifo', [path]).status).toBe(0);
    writeFileSync(join(fifoDir, MANIFEST_FILE), JSON.stringify({ weights: 'weights.fifo', weightsBytes: 8, weightsCrc32: '00000000', meta: {} }));
    const isFifo = /is a FIFO \(named pipe\), not a regular file/;
    const page = join(dir, 'page'); // what gpt serve --root must hold
    mkdirSync(page);
    writeFileSync(join(page, 'index.html'), '<!doctype html>');
    // named by a flag, refused as the flags are parsed
    const gotFifo = (flag: string) => new RegExp(`flag ${flag} takes .*, got the FIFO \\(named pipe\\) ${fifo}\\n?$`);
    const cases: [string[], RegExp][] = [
      [['train', '--data', corpus, '--out-dir', '/proc/self/nope'], /^gpt train: flag --out-dir names \/proc\/self\/nope, which cannot be created in \/proc\/self \(permission denied\)\n$/],
      [['sample', '--out-dir', fifoDir], isFifo],
      [['sample', '--out-dir', fifo], gotFifo('--out-dir')],
      [['eval', '--out-dir', fifoDir, '--data', corpus], isFifo],
      [['train', '--init-from', 'resume', '--data', corpus, '--out-dir', fifoDir], isFifo],
      [['train', '--data', fifo, '--out-dir', join(dir, 'unused')], gotFifo('--data')],
      [['train', '--config', fifo, '--out-dir', join(dir, 'unused')], gotFifo('--config')],
      [['serve', '--checkpoint', fifoDir, '--root', page, '--port', '0'], isFifo],
      [['serve', '--checkpoint', fifo, '--root', page, '--port', '0'], gotFifo('--checkpoint')],
    ];
    const results = await Promise.all(cases.map(([args]) => runGpt(args, 30_000)));
    results.forEach((r, i) => {
      const what = cases[i]![0].join(' ');
      expect(r.timedOut, `${what} hung`).toBe(false);
      expect(r.code, `${what}: ${r.err}`).toBeGreaterThan(0);
      expect(r.err, what).toMatch(cases[i]![1]);
      expect(r.err.trim(), what).not.toContain('\n');
    });
  });
});

describe('gpt serve', () => {
  it('--host 0.0.0.0 prints what is bound and warns that the checkpoint is on the network', async () => {
    const root = join(dir, 'web');
    mkdirSync(root);
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>t</title>');
    const server = await spawnGpt(['serve', '--host', '0.0.0.0', '--port', '0', '--root', root, '--checkpoint', fixture, '--quiet']);
    await server.printed(/open http/);
    server.child.kill('SIGTERM');
    const { out, err } = await server.done;
    const port = /on 0\.0\.0\.0:(\d+)\n/.exec(out)?.[1];
    expect(port, out).toBeDefined();
    expect(out).toContain(`open http://127.0.0.1:${port}/`);
    expect(err).toBe(`warning: bound to 0.0.0.0:${port}, so other machines on the network can load the page and download the checkpoint\n`);
  });
});

describe('gpt sample | head', () => {
  it('a reader that goes away ends the run quietly: no stack trace, no endless generation', async () => {
    const sampling = await spawnGpt(['sample', '--out-dir', fixture, '--max-new-tokens', '1000000'], 60_000, 'launcher');
    await sampling.printed(/./);
    sampling.child.stdout!.destroy(); // as head does once it has its lines
    const r = await sampling.done;
    expect(r.timedOut, 'still generating after its reader left').toBe(false);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('gpt sample > a full disk', () => {
  it.skipIf(!existsSync('/dev/full'))('a stdout that cannot be written (ENOSPC) ends the run in one line naming it, not a stack trace', async () => {
    const full = openSync('/dev/full', 'w');
    try {
      const r = await (await spawnGpt(['sample', '--out-dir', fixture, '--max-new-tokens', '1000000'], 60_000, 'launcher', full)).done;
      expect(r.timedOut, 'still generating with nowhere to write').toBe(false);
      expect([r.code, r.err]).toEqual([1, 'gpt sample: cannot write to stdout: ENOSPC (no space left on device)\n']);
    } finally {
      closeSync(full);
    }
  });
});

describe('gpt train | head', () => {
  it('a reader that goes away ends train and distill as SIGPIPE would: status 141, the lock released, one line on the checkpoint left', async () => {
    const [trained, distilled] = [join(dir, 'piped-train'), join(dir, 'piped-distill')];
    const runs = await Promise.all([
      spawnGpt(endless(trained), 60_000, 'launcher'),
      spawnGpt(['distill', '--teacher', fixture, ...endless(distilled).slice(1)], 60_000, 'launcher'),
    ]);
    await Promise.all(runs.map((run) => run.printed(/saved checkpoint/)));
    for (const run of runs) run.child.stdout!.destroy(); // as head does once it has its lines
    const ends = await Promise.all(runs.map((run) => run.done));
    for (const [i, [command, out]] of [['train', trained], ['distill', distilled]].entries()) {
      const r = ends[i]!;
      expect(r.timedOut, `${command} still training after its reader left`).toBe(false);
      expect([r.code, r.signal], r.err).toEqual([141, null]); // 128 + SIGPIPE's 13
      expect(existsSync(join(out!, LOCK_FILE))).toBe(false);
      await expectCheckpointNamed(r.err, 'SIGPIPE', out!, command);
      expect(r.err.trimEnd()).not.toContain('\n');
    }
  });
});
