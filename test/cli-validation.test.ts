// Every numeric flag of every command, given 0, -1, 1.5, NaN, 1e400 and an empty value, on the
// command line and (train) in a --config file: a value outside the flag's range is one line on
// stderr, exit code 2, no stack trace and no file written; a value inside it gets past validation.
// The verdicts come from the table of allowed ranges below, written from the documentation of each
// flag, not from the code's own range table. The CLI runs in-process; a few cases run as real
// processes to check the exit code and stderr as the shell sees them.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gpt, runGpt, tempDir } from './cli-helpers.js';

type Allowed = (v: number) => boolean;
const int = (min: number, max = Number.MAX_SAFE_INTEGER): Allowed => (v) => Number.isInteger(v) && v >= min && v <= max;
const atLeast = (min: number): Allowed => (v) => Number.isFinite(v) && v >= min;
const positive: Allowed = (v) => Number.isFinite(v) && v > 0;
const fraction: Allowed = (v) => v >= 0 && v < 1; // [0, 1)
const openFraction: Allowed = (v) => v > 0 && v < 1; // (0, 1)

/** Allowed values of `gpt train`'s numeric flags (and the student's, in `gpt distill`). */
const TRAIN: Record<string, Allowed> = {
  'n-layer': int(1),
  'n-head': int(1),
  'n-embd': int(1), // and divisible by --n-head (4): none of the values tried is
  'share-layers': int(1), // and dividing --n-layer (4): none of the values tried is
  'block-size': int(1),
  dropout: fraction,
  'batch-size': int(1),
  'grad-accum': int(1),
  'max-iters': int(1),
  'learning-rate': positive,
  'min-lr': (v) => v >= 0 && v <= 1e-3, // at most --learning-rate (1e-3)
  'warmup-iters': int(0),
  'lr-decay-iters': int(1),
  beta1: fraction,
  beta2: fraction,
  'weight-decay': atLeast(0),
  'grad-clip': atLeast(0), // 0: no clipping
  'eval-interval': int(1),
  'eval-iters': int(1),
  'log-interval': int(1),
  seed: int(0),
  'vocab-size': int(256, 2 ** 26), // BPE: the 256 bytes, then merges
  'lora-rank': int(0), // 0: no adapters; at most min(in, out) of a targeted layer (128 here): none of the values tried is past it
  // without --lora-rank >= 1 the other LoRA settings would not apply: only their defaults pass
  'lora-alpha': () => false,
  'lora-dropout': (v) => v === 0,
  'peak-tflops': positive, // default none: no mfu
};

/** Allowed values of each numeric flag, by command. */
const ALLOWED: Record<string, Record<string, Allowed>> = {
  train: TRAIN,
  distill: { ...TRAIN, temperature: (v) => v > 0 && v <= 100, alpha: (v) => v >= 0 && v <= 1 }, // T above 100: float32 loses the loss
  sample: {
    'num-samples': int(1),
    'max-new-tokens': int(1),
    temperature: atLeast(0), // 0: greedy
    'top-k': int(0), // 0: off
    'top-p': (v) => v >= 0 && v <= 1, // 0: the likeliest token alone (Hugging Face's top_p=0)
    'min-p': (v) => v >= 0 && v <= 1, // 0: off
    'repetition-penalty': positive, // 1: off
    'presence-penalty': (v) => v >= -2 && v <= 2, // OpenAI's range; 0: off
    'frequency-penalty': (v) => v >= -2 && v <= 2,
    'no-repeat-ngram-size': int(0), // 0: off
    seed: int(0),
    'draft-tokens': int(1),
    'num-beams': int(1),
    'length-penalty': (v) => Number.isFinite(v), // given with --num-beams 2 (stopper): without it, refused
    'num-return-sequences': int(1),
  },
  eval: { 'eval-iters': int(1), 'batch-size': int(1), seed: int(0) },
  'bench-generate': {
    'prompt-tokens': int(1),
    'new-tokens': int(2), // the first comes from the prefill
    repeats: int(1),
    seed: int(0),
    'n-layer': int(1),
    'n-head': int(1),
    'n-embd': int(1),
    'block-size': int(1),
    'vocab-size': int(1),
  },
  prepare: { 'vocab-size': int(256, 2 ** 26), 'val-fraction': openFraction, workers: int(0, 16) },
  prune: { sparsity: openFraction },
  serve: { port: int(0, 65535), 'max-queue': int(0) },
};

const VALUES = ['0', '-1', '1.5', 'NaN', '1e400', ''];

const sandbox = tempDir('cli-validation');
const missing = join(sandbox, 'missing.txt');

// Inputs that pass the look at paths as flags are parsed, and fail when read: a directory holding
// no prepared data, a file that is no UTF-8 text, and a directory whose checkpoint.json is no
// manifest. Outside the sandbox, which nothing may write to.
const stops = tempDir('cli-validation-stops');
const noData = join(stops, 'no-data');
const badCheckpoint = join(stops, 'bad-checkpoint');
mkdirSync(noData);
const notText = join(stops, 'not-text.txt');
writeFileSync(notText, Uint8Array.from([0xff]));
mkdirSync(badCheckpoint);
writeFileSync(join(badCheckpoint, 'checkpoint.json'), '{}');
const page = join(stops, 'page'); // what gpt serve --root must hold
mkdirSync(page);
writeFileSync(join(page, 'index.html'), '<!doctype html>');

/** Flags that make a run whose settings pass stop right after validation (see expectAccepted). */
function stopper(command: string, flag: string): string[] {
  const out = ['--out-dir', join(sandbox, 'out')];
  const bpe = flag === 'vocab-size' ? ['--tokenizer', 'bpe'] : [];
  if (command === 'train') return [...out, '--data', noData, ...bpe];
  if (command === 'prepare') return [...out, '--data', notText, ...bpe]; // a directory of no documents is bad usage (exit 2)
  if (command === 'distill') return [...out, '--data', noData, '--teacher', badCheckpoint, ...bpe];
  // gpt serve listens before it reads the checkpoint: on any free port (8080 may be taken), --max-queue with --api, whose flag it is
  if (command === 'serve') return ['--root', page, '--checkpoint', badCheckpoint, ...(flag === 'port' ? [] : ['--port', '0']), ...(flag === 'max-queue' ? ['--api'] : [])];
  if (command === 'bench-generate') return ['--init-from', badCheckpoint];
  if (command === 'prune') return [...out, '--init-from', badCheckpoint];
  if (flag === 'length-penalty') return ['--out-dir', badCheckpoint, '--num-beams', '2']; // a setting of beam search
  return ['--out-dir', badCheckpoint]; // sample, eval
}

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function expectRefused(r: { code: number; err: string }, name: string | RegExp, what: string) {
  expect(r.code, `${what}: ${r.err}`).toBe(2);
  expect(r.err, what).not.toContain('\n');
  expect(r.err, what).not.toMatch(/\bat .*:\d+:\d+/); // no stack trace
  expect(r.err, what).toMatch(name); // a string: a substring
}

function expectAccepted(r: { code: number; err: string }, what: string) {
  // stopped by the data or checkpoint found wanting when read (exit 1), or by prepare's text that is no UTF-8 (bad usage of --data, exit 2)
  expect(r.err, what).toMatch(/cannot read prepared data|checkpoint at .* is corrupt|^gpt prepare: flag --data: \S+not-text\.txt is not valid UTF-8 text/);
  expect(r.code, `${what}: ${r.err}`).toBe(r.err.startsWith('gpt prepare') ? 2 : 1);
}

describe('every numeric flag is range-checked', () => {
  it('the table covers every numeric flag of every command', async () => {
    for (const [command, flags] of Object.entries(ALLOWED)) {
      const help = (await gpt(command, '--help')).out;
      // a number's default, or a range (a numeric flag whose default is none)
      const defaults = [...help.matchAll(/^ {2}--(\S+) .*\(default: ([^;)]*)(?:\)|; (an integer|a finite number|exactly))/gm)];
      const numeric = defaults.filter((m) => Number.isFinite(Number(m[2])) || m[3]).map((m) => m[1]);
      expect(numeric.sort(), command).toEqual(Object.keys(flags).sort());
    }
  });

  for (const [command, flags] of Object.entries(ALLOWED)) {
    it(`${command}: on the command line`, async () => {
      for (const [flag, allowed] of Object.entries(flags)) {
        for (const value of VALUES) {
          const what = `${command} --${flag} '${value}'`;
          const r = await gpt(command, `--${flag}`, value, ...stopper(command, flag));
          const ok = value !== '' && allowed(Number(value));
          if (ok) expectAccepted(r, what);
          else expectRefused(r, `--${flag}`, what);
          expect(readdirSync(sandbox), `${what} wrote nothing`).toEqual([]);
        }
      }
    });
  }

  it('train: in a config file, the same verdicts (NaN is not JSON, "" not a number)', async () => {
    const configs = tempDir('cli-configs');
    for (const [flag, allowed] of Object.entries(ALLOWED.train!)) {
      for (const value of VALUES) {
        const key = camel(flag);
        const file = join(configs, `${key}-${VALUES.indexOf(value)}.json`);
        writeFileSync(file, `{ "${key}": ${value === '' ? '""' : value} }`);
        const what = `config ${key}: ${value || '""'}`;
        const r = await gpt('train', '--config', file, ...stopper('train', flag));
        const ok = value !== '' && value !== 'NaN' && allowed(Number(value));
        if (ok) expectAccepted(r, what);
        // a rule across settings names them as flags
        else expectRefused(r, value === 'NaN' ? 'cannot read config' : new RegExp(`'${key}'|--${flag}\\b`), what);
        expect(readdirSync(sandbox), `${what} wrote nothing`).toEqual([]);
      }
    }
  });

  it('rules across flags, and string flags given empty', async () => {
    const stop = stopper('train', '');
    expectRefused(await gpt('train', '--n-embd', '30', '--n-head', '4', ...stop), '--n-embd (30) must be divisible by --n-head (4)', 'heads');
    expectRefused(await gpt('train', '--min-lr', '0.01', '--learning-rate', '0.001', ...stop), '--min-lr (0.01) must not exceed --learning-rate (0.001)', 'min-lr');
    const config = join(tempDir('cli-rules'), 'config.json');
    writeFileSync(config, JSON.stringify({ min_lr: 0.01 }));
    expectRefused(await gpt('train', '--config', config, '--learning-rate', '0.001', ...stop), `config ${config}: 'minLr' (0.01) must not exceed --learning-rate (0.001)`, 'min-lr in a config file');
    expectRefused(await gpt('train', '--seed', String(2 ** 53), ...stop), '--seed', 'seed beyond safe integers');
    // the profiled step is a run's third (the ones before it compile shaders): a run that ends before it would print no table
    for (const maxIters of ['2', '1']) {
      expectRefused(await gpt('train', '--profile', '--max-iters', maxIters, ...stop), `flag --profile times the run's step 3 (the ones before it compile shaders): --max-iters ${maxIters} ends before it`, `profile, --max-iters ${maxIters}`);
    }
    expectRefused(await gpt('train', '--vocab-size', '1000', ...stop), '--vocab-size applies only to --tokenizer bpe', 'vocab-size with char');
    expectRefused(await gpt('train', '--tokenizer', 'words', ...stop), '--tokenizer must be one of char, bpe', 'tokenizer');
    expectRefused(await gpt('train', '--data', missing, '--data-dir', sandbox), 'give --data or --data-dir, not both', 'train data twice');
    expectRefused(await gpt('eval', '--data', missing, '--data-dir', sandbox), 'give --data or --data-dir, not both', 'eval data twice');
    for (const flag of ['data', 'out-dir', 'init-from', 'data-dir', 'config', 'tokenizer']) {
      expectRefused(await gpt('train', `--${flag}=`, ...stop), `--${flag} must not be empty`, `--${flag}=`);
    }
    expectRefused(await gpt('sample', '--start', '', '--out-dir', join(sandbox, 'x')), '--start must not be empty', 'start');
    expectRefused(await gpt('serve', '--host', ''), '--host must not be empty', 'host');
    expect(readdirSync(sandbox)).toEqual([]);
  });

  it('unknown flags and settings, including Object.prototype names, are refused', async () => {
    for (const flag of ['to-string', 'constructor', '__proto__', 'has-own-property', 'value-of']) {
      expectRefused(await gpt('train', `--${flag}`, '1'), `unknown flag --${flag}`, flag);
      expectRefused(await gpt('sample', `--${flag}`, '1'), `unknown flag --${flag}`, flag);
    }
    const configs = tempDir('cli-proto');
    for (const key of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      const file = join(configs, `${key}.json`);
      writeFileSync(file, `{ "${key}": 1 }`);
      expectRefused(await gpt('train', '--config', file), `unknown setting '${key}'`, key);
    }
    const several = join(configs, 'several.json');
    writeFileSync(several, '{ "constructor": 1, "toString": 2 }');
    expectRefused(await gpt('train', '--config', several), "2 unknown settings: 'constructor', 'toString' (keys are", 'several');
    const nested = join(configs, 'nested.json');
    writeFileSync(nested, `{ "config": "other.json" }`);
    expectRefused(await gpt('train', '--config', nested), "a config file cannot name another ('config')", 'nested config');
    expect(existsSync(join(sandbox, 'out'))).toBe(false);
  });

  it('as real processes: exit code 2 and one line on stderr', async () => {
    const config = join(tempDir('cli-proc'), 'huge.json');
    writeFileSync(config, '{ "learningRate": 1e400 }');
    const out = ['--out-dir', join(sandbox, 'out')];
    const cases: [string[], string][] = [
      [['train', '--batch-size', '0', ...out], "gpt train: flag --batch-size must be an integer >= 1, got '0'"],
      [['train', '--config', config, ...out], `gpt train: config ${config}: 'learningRate' must be a finite number > 0, got Infinity`],
      [['sample', '--top-p', '1.5', ...out], "gpt sample: flag --top-p must be a finite number in [0, 1], got '1.5'"],
      [['serve', '--port', '70000'], "gpt serve: flag --port must be an integer in [0, 65535], got '70000'"],
    ];
    const results = await Promise.all(cases.map(([args]) => runGpt(args)));
    results.forEach((r, i) => {
      expect(r.code, r.err).toBe(2);
      expect(r.err).toBe(`${cases[i]![1]}\n`);
    });
    expect(readdirSync(sandbox)).toEqual([]);
  });
});
