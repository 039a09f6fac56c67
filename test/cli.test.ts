// The `gpt` CLI, run in-process: prepare -> train -> sample -> eval, resume, fine-tune, and
// one-line errors for bad input.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { corpusText, expectOneLine, gpt, tempDir, TINY } from './cli-helpers.js';
import { setupDevice } from './helpers.js';
import { profile, setProfile } from '../src/kernels/profile.js';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';

beforeAll(setupDevice);

const dir = tempDir('cli');
const corpus = join(dir, 'corpus.txt');
writeFileSync(corpus, corpusText(20_000));

describe('gpt CLI', () => {
  const out = join(dir, 'run');

  it('prepare, train, sample and eval', async () => {
    const prep = await gpt('prepare', '--data', corpus, '--out-dir', out);
    expect(prep.code, prep.err).toBe(0);
    expect(prep.out).toMatch(/train 18,000 \/ val 2,000 tokens/);

    const train = await gpt('train', ...TINY, '--max-iters', '20', '--eval-interval', '10', '--out-dir', out);
    expect(train.code, train.err).toBe(0);
    expect(train.out).toMatch(/step 20: train loss [\d.]+, val loss [\d.]+/);
    expect(train.out).toMatch(/saved checkpoint/);
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.filter((l) => l.type === 'train').map((l) => l.step)).toEqual([5, 10, 15, 20]);

    const sample = await gpt('sample', '--out-dir', out, '--max-new-tokens', '20', '--start', 'ROMEO:', '--temperature', '0');
    expect(sample.code, sample.err).toBe(0);
    expect(sample.out.startsWith('ROMEO:')).toBe(true);
    expect(sample.err).toMatch(/20 tokens in/);

    const ev = await gpt('eval', '--out-dir', out, '--eval-iters', '2');
    expect(ev.code, ev.err).toBe(0);
    expect(ev.out).toMatch(/train loss [\d.]+, val loss [\d.]+/);
  });

  it('resumes a run where it stopped', async () => {
    const r = await gpt('train', '--init-from', 'resume', '--max-iters', '30', '--out-dir', out, '--profile', '--peak-tflops', '0.5');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/resuming at step 20/);
    expect(r.out).toMatch(/GPU time per kernel, one training step/);
    expect(r.out).toMatch(/\n  matmul\S* +\d+ +[\d.]+ +[\d.]+%/);
    expect(r.out).toMatch(/step 30: train loss/);
    // model FLOP/s on every step line; mfu once a line times none of the resumed run's first two steps (which compile kernels)
    expect(r.out).toMatch(/step 25: loss .*, \d+ tok\/s, \d\.\d\de-\d+ TFLOP\/s, eta /); // a tiny model's: 3 digits, one notation
    const [, tflops, mfu] = r.out.match(/step 30: loss .*, \d+ tok\/s, (\d\.\d\de-\d+) TFLOP\/s, mfu ([\d.]+)%, eta /)!;
    expect(Math.abs(Number(mfu) - (100 * Number(tflops)) / 0.5)).toBeLessThanOrEqual(0.005 + (100 * 0.005 * Number(tflops)) / 0.5); // as printed: 3 digits, 2 decimals
    // log.jsonl: nanoGPT's 6N + 12·L·H·Q·T a token, N the weights multiplied (TINY: 1 layer, C 16, T 16; the tied LM head's V·C)
    const V = Number(r.out.match(/vocab (\d+)/)![1]);
    const [L, C, T] = [1, 16, 16];
    const steps = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'train' && l.step > 20);
    for (const l of steps) expect(l.flopsPerSec / l.tokensPerSec).toBeCloseTo(6 * (L * 12 * C * C + V * C) + 12 * L * C * T, 6);
  });

  it('fine-tunes a checkpoint on a new corpus with the same tokenizer', async () => {
    const other = join(dir, 'other.txt');
    writeFileSync(other, 'to be, or not to be: the question.\n'.repeat(40).replace(/:/g, ','));
    const ft = join(dir, 'ft');
    const r = await gpt('train', '--init-from', out, '--data', other, '--max-iters', '10', '--eval-interval', '5', '--learning-rate', '1e-3', '--eval-iters', '2', '--batch-size', '4', '--out-dir', ft);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/fine-tuning from/);
    expect(existsSync(join(ft, 'checkpoint.json'))).toBe(true);
  });

  it('where float16 cannot run, --dtype float16 and resuming a float16 run are one line naming --dtype', async (ctx) => {
    if (!profile().f16) ctx.skip();
    const half = join(dir, 'half-elsewhere');
    const r = await gpt('train', ...TINY, '--data', corpus, '--dtype', 'float16', '--max-iters', '2', '--eval-interval', '2', '--out-dir', half);
    expect(r.code, r.err).toBe(0);
    setProfile({ f16: false }); // as on an adapter without shader-f16
    try {
      const given = await gpt('train', ...TINY, '--data', corpus, '--dtype', 'float16', '--max-iters', '2', '--out-dir', join(dir, 'half-refused'));
      expect(given.code).toBe(2);
      expect(given.err).toMatch(/^gpt train: flag --dtype float16 needs WebGPU's shader-f16 feature, and float16 is turned off in the kernel profile; use --dtype float32 or auto$/);
      const resumed = await gpt('train', '--init-from', 'resume', '--max-iters', '4', '--out-dir', half);
      expect(resumed.code).toBe(2);
      expect(resumed.err).toMatch(new RegExp(`^gpt train: the run in ${half} trained with --dtype float16, which needs WebGPU's shader-f16 feature, and .*; resume it with --dtype float32 or auto$`));
      const fallback = await gpt('train', '--init-from', 'resume', '--dtype', 'float32', '--max-iters', '4', '--out-dir', half);
      expect(fallback.code, fallback.err).toBe(0);
    } finally {
      setProfile(null);
    }
  });

  it('trains in mixed precision with --dtype float16, and resumes it (where the adapter has float16)', async (ctx) => {
    if (!profile().f16) ctx.skip();
    const mixed = join(dir, 'mixed');
    const r = await gpt('train', ...TINY, '--data', corpus, '--dtype', 'float16', '--max-iters', '10', '--eval-interval', '5', '--out-dir', mixed);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^dtype: float16; mixed precision: float16 activations and products, float32 master weights/m);
    expect(r.out).toMatch(/step 10: loss [\d.]+, .* loss scale \d+ \(\d+ steps skipped\)/);
    const { meta } = await loadCheckpoint(mixed);
    expect(meta.train!.dtype).toBe('float16');
    expect(meta.trainer!.scaler!.scale).toBeGreaterThan(0);
    const resumed = await gpt('train', '--init-from', 'resume', '--max-iters', '15', '--out-dir', mixed);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toMatch(/^dtype: float16;/m);
    const auto = await gpt('train', ...TINY, '--data', corpus, '--max-iters', '1', '--eval-interval', '5', '--out-dir', join(dir, 'auto'));
    expect(auto.out).toMatch(new RegExp(`^dtype: ${profile().trainingDtype} \\(auto: `, 'm'));
    const bad = await gpt('train', '--dtype', 'bf16');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^gpt train: flag --dtype must be one of auto, float32, float16, got .?bf16.?$/);
  });

  it('bad input gives one-line errors, not stack traces', async () => {
    const flag = await gpt('train', '--bogus', '1');
    expect(flag.code).toBe(2);
    expect(flag.err).toBe('gpt train: unknown flag --bogus (see --help)');
    const num = await gpt('train', '--max-iters', 'many');
    expect(num.err).toBe("gpt train: flag --max-iters expects a decimal number, got 'many'");
    const missing = await gpt('sample', '--out-dir', join(dir, 'nothing-here'));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^gpt sample: flag --out-dir names .*nothing-here, which does not exist$/);
    // nanoGPT's --init-from gpt2-medium downloads the weights: so does this, from the hub into its cache (offline in the tests)
    const hub = await gpt('sample', '--init-from', 'gpt2-medium');
    expect(hub.code).toBe(2);
    expect(hub.err).toBe(`gpt sample: flag --init-from gpt2-medium: no such file or directory, and the Hugging Face cache ${process.env.HF_HUB_CACHE} has no config.json of gpt2-medium@main (HF_HUB_OFFLINE is set: nothing is downloaded)`);
    const unreadable = await gpt('prepare', '--data', join(dir, 'missing.txt'), '--out-dir', join(dir, 'x'));
    expect(unreadable.err).toMatch(/^gpt prepare: flag --data names .*missing\.txt, which does not exist$/);
    // 'scratch' is gpt train's new model: a command that reads a checkpoint says what it takes
    for (const command of ['sample', 'eval', 'export']) {
      expectOneLine(await gpt(command, '--init-from', 'scratch', ...(command === 'export' ? ['--to', join(dir, 'export')] : [])), 2, new RegExp(`^gpt ${command}: flag --init-from scratch starts a new model in gpt train: here it takes 'resume' \\(the checkpoint in --out-dir\\), or the checkpoint to read`));
    }
    const unknown = await gpt('fly');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/^gpt: unknown command 'fly'/);
  });

  it('GPT_DEBUG=1 adds the stack trace; 0 does not; anything else is refused naming it', async () => {
    const saved = process.env.GPT_DEBUG;
    const withDebug = async (value: string) => {
      process.env.GPT_DEBUG = value;
      return gpt('train', '--max-iters', 'many');
    };
    try {
      expect((await withDebug('0')).err).toBe("gpt train: flag --max-iters expects a decimal number, got 'many'");
      expect((await withDebug('')).err).toBe("gpt train: flag --max-iters expects a decimal number, got 'many'");
      expect((await withDebug('1')).err).toMatch(/^gpt train: flag --max-iters expects [^\n]*\n.*Error: flag --max-iters expects/); // the error itself too
      for (const value of ['false', 'yes', ' 1 ']) expectOneLine(await withDebug(value), 2, new RegExp(`^gpt: GPT_DEBUG=${value}: expected 0 or 1$`));
    } finally {
      if (saved === undefined) delete process.env.GPT_DEBUG;
      else process.env.GPT_DEBUG = saved;
    }
  });

  it('every GPT_* setting is checked as gpt starts, whatever the command: a bad value exits 2 naming it, nothing done', async () => {
    // README: the switches take 0 or 1; GPT_DAWN_BACKEND and GPT_LIMITS name one of their choices
    const bad: [Record<string, string>, RegExp][] = [
      ...['GPT_AUTOTUNE', 'GPT_DEBUG', 'GPT_LEAK_TRACE', 'GPT_DAWN_SAFE', 'GPT_ROBUSTNESS'].map((name): [Record<string, string>, RegExp] => [{ [name]: '2' }, new RegExp(`^gpt: ${name}=2: expected 0 or 1$`)]),
      [{ GPT_DAWN_SAFE: '1', GPT_ROBUSTNESS: '0' }, /^gpt: GPT_ROBUSTNESS=0 needs .*GPT_DAWN_SAFE=1/],
      [{ GPT_DAWN_BACKEND: 'cuda' }, /^gpt: GPT_DAWN_BACKEND=cuda: expected one of /],
      [{ GPT_LIMITS: 'minimum' }, /^gpt: GPT_LIMITS=minimum: expected one of adapter, default$/],
    ];
    const prepared = join(dir, 'env-prepare');
    const commands = [['doctor'], ['info', out], ['plot', out, '--out', join(dir, 'env.svg')], ['prepare', '--data', corpus, '--out-dir', prepared], ['sample', '--out-dir', out, '--max-new-tokens', '2']];
    for (const [env, message] of bad) {
      const saved = Object.keys(env).map((name) => [name, process.env[name]] as const);
      Object.assign(process.env, env);
      try {
        for (const command of commands) expectOneLine(await gpt(...command), 2, message);
      } finally {
        for (const [name, value] of saved) value === undefined ? delete process.env[name] : (process.env[name] = value);
      }
    }
    expect(existsSync(prepared) || existsSync(join(dir, 'env.svg'))).toBe(false);
  });

  it("every command's --help lists the flags every command takes (--verbose) below its own", async () => {
    const usage = (await gpt('--help')).out;
    const commands = [...usage.matchAll(/^ {2}([a-z-]+) {2,}\S/gm)].map((m) => m[1]!);
    expect(commands).toContain('quantize');
    for (const command of commands) {
      const help = (await gpt(command, '--help')).out;
      expect(help, command).toMatch(/\n {2}--verbose +show the WebGPU driver's own notices \(hidden otherwise\) and the stack trace of an error \(default: false\)$/);
    }
  });

  it('every command has --help', async () => {
    for (const cmd of ['prepare', 'train', 'sample', 'eval', 'doctor']) {
      const r = await gpt(cmd, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`usage: gpt ${cmd}`));
    }
    expect((await gpt('train', '--help')).out).toMatch(/--n-layer\s+transformer blocks \(default: 4; an integer >= 1\)/);
  });

  it('gpt doctor --check with a terse output flag is refused in one line (it ran without the checks)', async () => {
    for (const [flag, name] of [['--json', '--json'], ['--one-line', '--one-line'], ['--quiet', '--quiet']]) {
      const r = await gpt('doctor', '--check', flag!);
      expect([r.code, r.err], flag).toEqual([2, `gpt doctor: flag --check runs with the full report only: drop ${name}`]);
    }
  });

  it('no command, or an unknown one, is bad usage (exit 2) with the usage on stderr; --help is not', async () => {
    for (const args of [[], ['--version'], ['trian']]) {
      const r = await gpt(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.out, args.join(' ')).toBe('');
      expect(r.err, args.join(' ')).toMatch(/usage: gpt <command> \[flags\]/);
    }
    const help = await gpt('--help');
    expect([help.code, help.err]).toEqual([0, '']);
    expect(help.out).toMatch(/^usage: gpt <command> \[flags\]/);
  });
});
