// The flags Node's Dawn instance is created with, for each environment setting (platform.ts).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { dawnToggles } from '../src/device/platform.js';
import { runGpt } from './cli-helpers.js';

const run = promisify(execFile);
const toggles = (env: Record<string, string>) => dawnToggles((name) => env[name]);
/** The Dawn features a flag list enables (enable-dawn-features=a,b), and those it disables. */
const parsed = (flags: string[]) => {
  const list = (key: string) => flags.filter((f) => f.startsWith(`${key}=`)).flatMap((f) => f.slice(key.length + 1).split(','));
  return { enabled: list('enable-dawn-features'), disabled: list('disable-dawn-features'), other: flags.filter((f) => !/^(en|dis)able-dawn-features=/.test(f)) };
};

describe('Dawn toggles', () => {
  it('by default: unsafe APIs and f16 on NVIDIA (tensor cores, shader-f16 there), robustness kept, no timestamp rounding', () => {
    expect(parsed(toggles({}))).toEqual({ enabled: ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia'], disabled: ['timestamp_quantization'], other: [] });
    expect(toggles({ GPT_DAWN_SAFE: '0', GPT_ROBUSTNESS: '1' })).toEqual(toggles({}));
    expect(toggles({ GPT_DAWN_SAFE: '' })).toEqual(toggles({})); // an empty setting is no setting
  });

  it('GPT_DAWN_SAFE=1 leaves the unsafe toggles out', () => {
    expect(parsed(toggles({ GPT_DAWN_SAFE: '1' }))).toEqual({ enabled: [], disabled: ['timestamp_quantization'], other: [] });
  });

  it('GPT_ROBUSTNESS=0 adds disable_robustness and disable_workgroup_init to the default ones', () => {
    const { enabled, disabled } = parsed(toggles({ GPT_ROBUSTNESS: '0' }));
    expect(enabled).toEqual(['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia', 'disable_robustness', 'disable_workgroup_init']);
    expect(disabled).toEqual(['timestamp_quantization']);
  });

  it('GPT_DAWN_BACKEND picks Dawn\'s native backend (null: the one that runs nothing); an unknown name is an error listing the known', () => {
    expect(parsed(toggles({ GPT_DAWN_BACKEND: 'null' })).other).toEqual(['backend=null']);
    expect(parsed(toggles({ GPT_DAWN_BACKEND: 'opengl', GPT_DAWN_SAFE: '1' }))).toEqual({ enabled: [], disabled: ['timestamp_quantization'], other: ['backend=opengl'] });
    expect(toggles({ GPT_DAWN_BACKEND: '' })).toEqual(toggles({}));
    expect(() => toggles({ GPT_DAWN_BACKEND: 'cuda' })).toThrow(/^GPT_DAWN_BACKEND=cuda: expected one of vulkan, metal, d3d12, d3d11, opengl, opengles, null$/);
  });

  it('a value other than 0 or 1, or both settings at once, is a one-line error naming the setting', () => {
    expect(() => toggles({ GPT_ROBUSTNESS: 'off' })).toThrow(/^GPT_ROBUSTNESS=off: expected 0 or 1$/);
    expect(() => toggles({ GPT_DAWN_SAFE: 'yes' })).toThrow(/^GPT_DAWN_SAFE=yes: expected 0 or 1$/);
    expect(() => toggles({ GPT_DAWN_SAFE: '1', GPT_ROBUSTNESS: '0' })).toThrow(/^GPT_ROBUSTNESS=0 needs .*GPT_DAWN_SAFE=1[^\n]*$/);
  });

  it('gpt doctor (a real process) names a bad setting in one line as bad usage, as every command does, not as a missing driver', async () => {
    const names = ['GPT_ROBUSTNESS', 'GPT_DAWN_SAFE', 'GPT_LIMITS'];
    const saved = names.map((n) => process.env[n]);
    const setEnv = (values: (string | undefined)[]) =>
      names.forEach((n, i) => (values[i] === undefined ? delete process.env[n] : (process.env[n] = values[i]))); // the child inherits it
    try {
      for (const [values, message] of [
        [['off', undefined, undefined], 'GPT_ROBUSTNESS=off: expected 0 or 1'],
        [['0', '1', undefined], "GPT_ROBUSTNESS=0 needs Dawn's unsafe APIs, which GPT_DAWN_SAFE=1 turns off: set one of them"],
        [[undefined, undefined, 'minimum'], 'GPT_LIMITS=minimum: expected one of adapter, default'],
      ] as const) {
        setEnv([...values]);
        const r = await runGpt(['doctor']);
        expect(r.code, r.err).toBe(2);
        expect(r.err).toBe(`gpt: ${message}\n`);
      }
    } finally {
      setEnv(saved);
    }
  }, 120_000);

  it('a backend Dawn has no adapter on here is named as the reason, in one line: advice on installing Vulkan drivers would mislead', async () => {
    const backend = process.platform === 'darwin' ? 'd3d12' : 'metal';
    const saved = process.env.GPT_DAWN_BACKEND;
    process.env.GPT_DAWN_BACKEND = backend; // the child inherits it
    try {
      const r = await runGpt(['doctor']);
      expect(r.code, r.err).toBe(1);
      expect(r.err).toBe(`No WebGPU adapter found: GPT_DAWN_BACKEND=${backend}: Dawn has no adapter on that backend here; unset it for this platform's default\n`);
    } finally {
      if (saved === undefined) delete process.env.GPT_DAWN_BACKEND;
      else process.env.GPT_DAWN_BACKEND = saved;
    }
  }, 120_000);
});

describe('LP_NUM_THREADS', () => {
  it('unset or empty becomes 8 when Dawn loads (an empty setting is no setting); a value given is kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpt-lp-threads-'));
    const script = join(dir, 'threads.ts');
    writeFileSync(script, [`import { getPlatform } from ${JSON.stringify(resolve('src/device/platform.js'))};`, 'await getPlatform();', 'console.log(process.env.LP_NUM_THREADS);'].join('\n'));
    try {
      for (const [given, want] of [[undefined, '8'], ['', '8'], ['3', '3']] as const) {
        const env = { ...process.env, LP_NUM_THREADS: given };
        if (given === undefined) delete env.LP_NUM_THREADS;
        const { stdout } = await run(process.execPath, ['scripts/run-ts.mjs', script], { env });
        expect(stdout, `LP_NUM_THREADS=${given}`).toBe(`${want}\n`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
