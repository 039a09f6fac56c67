// What a newcomer meets on the command line: flag spellings (kebab, snake, camel; booleans with an
// explicit value), nanoGPT's names in a JSON config, --help that documents every flag with one default, an ETA that ignores shader
// compilation and never reads "4m60s", and Dawn's adapter notices hidden unless --verbose.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it, vi } from 'vitest';
import { parseFlags, type FlagSpec } from '../src/cli/flags.js';
import { DAWN_NOTICE, withoutLines } from '../src/cli/launch.js';
import { formatSeconds, mergeProgress, Progress } from '../src/cli/progress.js';
import { BpeTokenizer } from '../src/gpt/tokenizer/index.js';
import { LOCK_FILE } from '../src/node/dir-lock.js';
import { POSITIVE_INT } from '../src/io/value-ranges.js';
import { corpusText, expectOneLine, gpt, runGpt, spawnGpt, tempDir, TINY } from './cli-helpers.js';

const SPEC: FlagSpec<{ maxIters: number; kvCache: boolean; outDir: string }> = {
  defaults: { maxIters: 10, kvCache: true, outDir: 'out' },
  ranges: { maxIters: POSITIVE_INT },
  docs: { maxIters: 'steps', kvCache: 'cache', outDir: 'where' },
};

describe('flags', () => {
  it('are spelled kebab-case, snake_case or camelCase', () => {
    for (const args of [['--max-iters', '5'], ['--max_iters=5'], ['--maxIters', '5']]) {
      expect(parseFlags(args, SPEC).values.maxIters, args.join(' ')).toBe(5);
    }
  });

  it('booleans: alone true, or with true/false after them or inline', () => {
    const kv = (...args: string[]) => parseFlags(args, SPEC);
    expect(kv('--kv-cache').values.kvCache).toBe(true);
    expect(kv('--kv-cache', 'false').values.kvCache).toBe(false);
    expect(kv('--kv-cache=false').values.kvCache).toBe(false);
    expect(kv('--kv_cache', 'false', '--out-dir', 'x').values).toEqual({ maxIters: 10, kvCache: false, outDir: 'x' });
    expect(kv('--kv-cache', 'run1').positional).toEqual(['run1']); // not a boolean word: an argument
  });

  it('take the values a config file takes: decimal numbers, booleans true or false', async () => {
    const kv = (...args: string[]) => parseFlags(args, SPEC).values;
    expect(kv('--max-iters', '1e3').maxIters).toBe(1000);
    expect(kv('--max-iters', '+12.').maxIters).toBe(12);
    for (const value of ['0x10', '0o7', '0b1', 'Infinity', ' 5', '1_000']) {
      expect(() => kv('--max-iters', value), value).toThrow(`flag --max-iters expects a decimal number, got '${value}'`);
    }
    for (const value of ['1', '0']) {
      expect(() => kv('--kv-cache', value), value).toThrow(`flag --kv-cache expects true or false, got '${value}'`);
      expect(() => kv(`--kv-cache=${value}`), value).toThrow(`flag --kv-cache expects true or false, got '${value}'`);
    }
    // nanoGPT's configurator takes Python's spelling (--compile=False): say what it is here
    expect(() => kv('--kv-cache=False')).toThrow("flag --kv-cache expects true or false, got 'False' (Python's False is false here)");
    expect(() => kv('--kv-cache', 'True')).toThrow("flag --kv-cache expects true or false, got 'True' (Python's True is true here)");
    const dir = tempDir('cli-values');
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ bias: 1 }));
    expect((await gpt('train', '--config', config)).err).toBe(`gpt train: config ${config}: 'bias' must be true or false, got 1`);
    expect((await gpt('train', '--bias', '1')).err).toBe("gpt train: flag --bias expects true or false, got '1'");
    writeFileSync(config, '{ "max_iters": 0x10 }');
    expect((await gpt('train', '--config', config)).err).toMatch(`gpt train: cannot read config ${config}: `);
    expect((await gpt('train', '--max-iters', '0x10')).err).toBe("gpt train: flag --max-iters expects a decimal number, got '0x10'");
  });

  it('config files take the same spellings', async () => {
    const dir = tempDir('cli-spelling');
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ max_iters: 0 }));
    const r = await gpt('train', '--config', config);
    expect([r.code, r.err]).toEqual([2, `gpt train: config ${config}: 'max_iters' must be an integer >= 1, got 0`]);
    // two spellings of one setting: which would win is the file's key order, so neither does
    writeFileSync(config, '{"max_iters": 3, "maxIters": 5}');
    const twice = await gpt('train', '--config', config, '--out-dir', join(dir, 'out'));
    expect([twice.code, twice.err]).toEqual([2, `gpt train: config ${config}: 'max_iters' and 'maxIters' are the same setting (--max-iters); give it once`]);
    // saved by an editor that starts UTF-8 with a byte-order mark (Windows Notepad): read as the same JSON
    writeFileSync(config, '\uFEFF{"max_iters": 0}');
    expect((await gpt('train', '--config', config)).err).toBe(`gpt train: config ${config}: 'max_iters' must be an integer >= 1, got 0`);
  });

  it("a JSON config takes nanoGPT's names as flags do (cli-nanogpt-config.test.ts); the keys of neither are named all at once", async () => {
    const config = join(tempDir('cli-nanogpt'), 'config.json');
    writeFileSync(config, JSON.stringify({ wandb_log: false, n_layer: 6, gradient_accumulation_steps: 2, frobnicate: 1, colour: 'red' }));
    expectOneLine(await gpt('train', '--config', config), 2, /^gpt train: config .*: 2 unknown settings: 'frobnicate', 'colour' \(keys are the command's flags, see --help\)$/);
    writeFileSync(config, JSON.stringify({ grad_accum: 4, gradient_accumulation_steps: 2 }));
    expectOneLine(await gpt('train', '--config', config), 2, /^gpt train: config .*: 'grad_accum' and 'gradient_accumulation_steps' are the same setting \(--grad-accum\); give it once$/);
  });

  it("--val-fraction on train, distill or eval says it is gpt prepare's flag and how to split otherwise (a flag or a config key)", async () => {
    const hint = "gpt prepare takes it; here a text given as --data is split as nanoGPT splits it (its last 10% of tokens held out), prepared data as it was prepared: for another split, `gpt prepare --data FILE --val-fraction F --out-dir DIR`, then --data-dir DIR/data";
    const escaped = hint.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    for (const command of ['train', 'distill', 'eval']) expectOneLine(await gpt(command, '--val-fraction', '0.2'), 2, new RegExp(`^gpt ${command}: unknown flag --val-fraction: ${escaped}$`));
    const config = join(tempDir('cli-val-fraction'), 'c.json');
    writeFileSync(config, '{"val_fraction": 0.2}');
    expectOneLine(await gpt('train', '--config', config), 2, new RegExp(`^gpt train: config .*: unknown setting 'val_fraction': ${escaped}$`));
    expect((await gpt('prepare', '--help')).out).toMatch(/^ {2}--val-fraction /m); // the flag it names is prepare's
  });

  it('--help documents every flag of every command, with one default', async () => {
    for (const cmd of ['demo', 'prepare', 'train', 'distill', 'sample', 'eval', 'info', 'bench-generate', 'plot', 'export', 'quantize', 'prune', 'doctor', 'serve']) {
      const help = (await gpt(cmd, '--help')).out;
      expect(help, cmd).toMatch(new RegExp(`^usage: gpt ${cmd}`));
      for (const line of help.split('\n').filter((l) => l.startsWith('  --'))) {
        expect(line, `${cmd}: ${line}`).toMatch(/^ {2}--[a-z0-9-]+ +\S.*\S \(default: [^\s)].*\)$/);
        expect(line.match(/\(default:/g), `${cmd}: ${line}`).toHaveLength(1);
      }
    }
    const train = (await gpt('train', '--help')).out;
    expect(train).toMatch(/ {2}--data {15}text file, URL or prepared data directory to train on \(default: resuming, the run's own data \(else <out-dir>\/data\); fine-tuning \(--init-from DIR\), <out-dir>\/data if prepared, else the data DIR's checkpoint records \(an error where it records none\); a new model, <out-dir>\/data if prepared, else builtin:webdocs\)\n/);
    expect((await gpt('sample', '--help')).out).toMatch(/--start .* \(default: "\\n"\)\n/);
  });

  // every one of these reads nanoGPT's ckpt.pt and a Hugging Face GPT-2 directory (docs/checkpoints.md#read-from-pytorch;
  // test/torch-checkpoints.test.ts, test/cli-prune.test.ts, test/distill.test.ts): its --help says so, or refers to gpt sample's list
  it("--help of every flag that reads a checkpoint names nanoGPT's ckpt.pt and Hugging Face directories", async () => {
    const flags: [string, string][] = [
      ['train', '--init-from'], ['distill', '--init-from'], ['distill', '--teacher'], ['sample', '--out-dir'], ['sample', '--init-from'], ['sample', '--draft'],
      ['eval', '--out-dir'], ['eval', '--init-from'], ['info', '--out-dir'], ['export', '--out-dir'], ['export', '--init-from'],
      ['prune', '--init-from'], ['quantize', '--init-from'], ['bench-generate', '--init-from'], ['serve', '--checkpoint'],
    ];
    for (const [cmd, flag] of flags) {
      const line = (await gpt(cmd, '--help')).out.split('\n').find((l) => l.startsWith(`  ${flag} `));
      expect(line, `${cmd} ${flag}`).toMatch(/nanoGPT's ckpt\.pt|any kind (`gpt sample( --out-dir)?` (reads|takes)|--out-dir takes)/);
      if (!/any kind/.test(line!)) expect(line, `${cmd} ${flag}`).toMatch(/Hugging Face GPT-2 directory/);
    }
  });
});

describe('progress', () => {
  it('never shows 60 seconds or 60 minutes', () => {
    for (let s = 0; s < 10_000; s += 0.25) expect(formatSeconds(s), String(s)).toMatch(/^([1-5]?\d)s$|^\d+m[0-5]\ds$|^\d+h[0-5]\dm$/);
    expect([formatSeconds(299.6), formatSeconds(59.5), formatSeconds(3599.6), formatSeconds(3 * 3600 + 29.5 * 60)]).toEqual(['5m00s', '1m00s', '1h00m', '3h30m']);
  });

  it('work without log lines of its own (gpt eval) prints a plain line every 10 s, none when it is shorter', () => {
    let now = 0;
    const progress = new Progress(100, () => now);
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((line: string) => void out.push(line));
    try {
      for (const [time, done] of [[0, 1], [5_000, 10], [10_000, 20], [15_000, 30], [20_000, 40]] as const) {
        now = time;
        progress.report(done, 'evaluating');
      }
    } finally {
      log.mockRestore();
    }
    // from the first report on: 19 batches in 10 s, 80 left (42 s); 39 in 20 s, 60 left (31 s)
    expect(out).toEqual(['evaluating: 20/100, eta 42s', 'evaluating: 40/100, eta 31s']);
  });

  // gpt prepare --tokenizer bpe: the merges, learnt after the counting pass, take minutes on gigabytes
  it('learning BPE merges reports them as they are learnt: a plain line every 10 s', () => {
    let now = 0;
    const lines: string[] = [];
    const shown = mergeProgress(50, () => (now += 1_000), (line) => void lines.push(line)); // each look at the clock: 1 s later
    BpeTokenizer.train(corpusText(20_000), 256 + 50, { onProgress: shown.onProgress });
    shown.done();
    // a look at each merge: 1 s, so a line every 10 merges
    expect(lines).toEqual([10, 20, 30, 40, 50].map((n) => `learning the vocabulary: ${n} of 50 BPE merges`));
  });

  it('the ETA comes from the steps after the first report (shader compilation left out)', () => {
    let now = 0;
    const p = new Progress(1000, () => now);
    now = 30_000; // the first 10 steps took 30 s: compiling every shader
    expect(p.eta(10)).toBe('?');
    now += 1_000; // then 10 steps a second
    expect(p.eta(20)).toBe('1m38s'); // 980 steps at 10/s, not at the first report's 1/3 s
    now += 49_000;
    expect(p.eta(510)).toBe('49s');
  });

  it('on a terminal, a log line replaces the bar, at step 0 too, and the end leaves no empty line', () => {
    const tty = process.stdout.isTTY;
    process.stdout.isTTY = true;
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    const log = vi.spyOn(console, 'log').mockImplementation((line: string) => void out.push(`${line}\n`));
    try {
      const p = new Progress(10, () => 0);
      p.update(0, 'evaluating: 4/4 batches', false); // gpt train's evaluation at step 0
      p.log('step 0: train loss 4.0758, val loss 4.0749');
      p.update(10, 'loss 3.5');
      p.log('saved checkpoint');
      p.done();
    } finally {
      write.mockRestore();
      log.mockRestore();
      process.stdout.isTTY = tty;
    }
    // what a terminal shows: each \r\x1b[K wipes the bar it follows
    const screen = out.join('').split('\n').map((line) => line.replace(/^[\s\S]*\r\x1b\[K/, ''));
    expect(screen).toEqual(['step 0: train loss 4.0758, val loss 4.0749', 'saved checkpoint', '']);
  });

  it("on a terminal, the first evaluation's status on the bar (before any step) does not start the ETA's clock", () => {
    let now = 0;
    const tty = process.stdout.isTTY;
    process.stdout.isTTY = true;
    const bars: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (bars.push(String(s)), true));
    try {
      const p = new Progress(1000, () => now);
      p.update(0, 'evaluating: 1/4 batches', false); // gpt train's evaluation at step 0
      now = 30_000; // the first 10 steps took 30 s: compiling every shader
      p.update(10, 'loss 2.5');
      now += 1_000; // then 10 steps a second: 980 steps left
      p.update(20, 'loss 2.4');
      now += 500; // an evaluation at step 20 shows the estimate so far
      p.update(20, 'evaluating: 1/4 batches', false);
    } finally {
      write.mockRestore();
      process.stdout.isTTY = tty;
    }
    expect(bars.map((b) => b.match(/eta ([^\s\x1b]+)/)![1])).toEqual(['?', '?', '1m38s', '2m27s']);
  });
});

describe("Dawn's adapter notices", () => {
  const NOTICES = [
    'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.',
    'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.',
  ];

  it('are dropped line by line, however the stream is cut; other output passes at once', async () => {
    const input = `${NOTICES[0]}\nnote: keep me\n${NOTICES[1]}\nWarning: something else\nprompt> `;
    const chunks = input.match(/[\s\S]{1,7}/g)!.map((c) => Buffer.from(c));
    expect(await text(Readable.from(chunks).pipe(withoutLines(DAWN_NOTICE, 'Warning: maxDynamic')))).toBe('note: keep me\nWarning: something else\nprompt> ');
    const filter = withoutLines(DAWN_NOTICE, 'Warning: maxDynamic');
    const seen: string[] = [];
    filter.on('data', (d: Buffer) => seen.push(String(d)));
    filter.write('loss 2.1');
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['loss 2.1']); // a partial line that cannot become a notice is not held back
  });

  it('gpt hides them, and shows them with --verbose', async () => {
    const quiet = await runGpt(['doctor', '--one-line'], 60_000, 'launcher');
    expect(quiet.code, quiet.err).toBe(0);
    expect(quiet.err).not.toMatch(/artificially reduced/);
    const verbose = await runGpt(['doctor', '--one-line', '--verbose'], 60_000, 'launcher');
    expect(verbose.code).toBe(0);
    expect(verbose.out).toBe(quiet.out);
    // Dawn prints them for Vulkan adapters (this machine's lavapipe); other backends may print none
    if (verbose.err) expect(verbose.err.trim().split('\n').every((l) => DAWN_NOTICE.test(l)), verbose.err).toBe(true);
  });

  it('the command run behind the filter keeps its exit code and output', async () => {
    const dir = tempDir('cli-launch');
    const broken = join(dir, 'broken'); // a checkpoint found wanting when read: exit code 1
    mkdirSync(broken);
    writeFileSync(join(broken, 'checkpoint.json'), '{}');
    const bad = await runGpt(['sample', '--out-dir', broken], 60_000, 'launcher');
    expect([bad.code, bad.err]).toEqual([1, `gpt sample: checkpoint at ${broken} is corrupt: checkpoint.json field "weights" must be a file name in the checkpoint directory, got undefined\n`]);
    const usage = await runGpt(['train', '--max-iters', '0'], 60_000, 'launcher');
    expect([usage.code, usage.err]).toEqual([2, "gpt train: flag --max-iters must be an integer >= 1, got '0'\n"]);
  });

  it('signals reach the command; killed outright, the launcher takes the command with it; the command killed alone, the launcher says so', async () => {
    const dir = tempDir('cli-launch-signals');
    writeFileSync(join(dir, 'corpus.txt'), corpusText(5_000));
    const out = join(dir, 'run');
    const args = ['train', ...TINY, '--max-iters', '100000', '--eval-interval', '100000', '--data', join(dir, 'corpus.txt'), '--out-dir', out];
    const lock = join(out, LOCK_FILE);
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const run = await spawnGpt(args, 120_000, 'launcher');
      await run.printed(/step 5: loss/);
      expect(existsSync(lock)).toBe(true);
      run.child.kill(signal);
      expect((await run.done).signal).toBe(signal);
      for (let waited = 0; existsSync(lock) && waited < 30_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(lock), `the lock after ${signal}`).toBe(false); // the training process released it and ended
    }
    // the command alone killed outright (as the out-of-memory killer does): the launcher says so, and ends the same way
    const run = await spawnGpt(args, 120_000, 'launcher');
    await run.printed(/step 5: loss/);
    process.kill(JSON.parse(readFileSync(lock, 'utf8')).pid, 'SIGKILL');
    const killed = await run.done;
    expect(killed.signal).toBe('SIGKILL');
    expect(killed.err).toMatch(/^gpt train: killed by SIGKILL, which no program can catch or answer \(the system sends it when memory runs out: see `dmesg`\);[^\n]*\n$/);
  });
});

describe('gpt train on a terminal', () => {
  it('shows an evaluation on its bar as its batches are queued', async () => {
    const dir = tempDir('cli-eval-bar');
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, corpusText(3_000));
    const tty = process.stdout.isTTY;
    process.stdout.isTTY = true;
    try {
      const r = await gpt('train', ...TINY, '--data', corpus, '--max-iters', '2', '--eval-interval', '2', '--eval-iters', '3', '--out-dir', join(dir, 'out'));
      expect(r.code, r.err).toBe(0);
      for (const queued of [1, 6]) expect(r.out).toContain(`evaluating: ${queued}/6 batches`);
      // the ETA's clock starts at the first step's report (step 2, the last): the evaluation at step 0 before it would count the compiling
      expect(r.out).toMatch(/ 2\/2 loss .* eta \?/);
      // the step's log line stays above the bar, as in a log: the loss history, lr, tok/s and model FLOP/s
      expect(r.out).toMatch(/^step 2: loss \d+\.\d{4}, lr \S+, \d+ ms\/step, \d+ tok\/s, [\d.e+-]+ TFLOP\/s$/m);
      expect(r.out).not.toMatch(/eta \d/);
    } finally {
      process.stdout.isTTY = tty;
    }
  });
});

describe('gpt train --init-from resume', () => {
  it('of an --out-dir that does not exist is one line, and makes no directory', async () => {
    const missing = join(tempDir('cli-resume-missing'), 'no-such-run');
    for (const command of ['train', 'distill']) {
      expectOneLine(await gpt(command, '--init-from', 'resume', '--out-dir', missing), 2, new RegExp(`^gpt ${command}: --init-from resume continues the run in --out-dir, and ${missing} does not exist: give the run's directory`));
    }
    expect(existsSync(missing)).toBe(false);
  });

  it('of an --out-dir holding no checkpoint is one line too (bad usage, exit 2), and leaves the directory empty', async () => {
    const empty = tempDir('cli-resume-empty');
    for (const command of ['train', 'distill']) {
      expectOneLine(await gpt(command, '--init-from', 'resume', '--out-dir', empty), 2, new RegExp(`^gpt ${command}: --init-from resume continues the run in --out-dir, and ${empty} holds no checkpoint \\(no checkpoint\\.json\\): give the run's directory`));
    }
    expect(readdirSync(empty)).toEqual([]);
  });
});
