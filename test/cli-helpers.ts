// Shared by the CLI tests: the CLI run in-process (fast) or as a real process (exit codes, signals,
// locks between processes, hangs), a generated corpus, and the tiny model flags.
import { build } from 'esbuild';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, vi } from 'vitest';
import { main } from '../src/cli/main.js';

/** A model that trains in well under a second on lavapipe. */
export const TINY = ['--n-layer', '1', '--n-head', '2', '--n-embd', '16', '--block-size', '16', '--batch-size', '4', '--eval-iters', '2', '--log-interval', '5'];

export const tempDir = (name: string) => mkdtempSync(join(tmpdir(), `gpt-${name}-`));

/** `chars` characters of made-up prose from a fixed seed: the same text on every machine. */
export function corpusText(chars = 20_000): string {
  const words = ['the', 'model', 'reads', 'a', 'line', 'of', 'text', 'and', 'writes', 'next', 'word', 'ROMEO:', 'to', 'be,', 'or', 'not', 'question.'];
  let seed = 42;
  const out: string[] = [];
  let length = 0;
  while (length < chars) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const word = words[seed % words.length]! + (seed % 7 === 0 ? '\n' : ' ');
    out.push(word);
    length += word.length;
  }
  return out.join('').slice(0, chars);
}

export interface Result {
  code: number | null;
  out: string;
  err: string;
}

/** Runs the CLI in this process, returning its exit code and everything it printed. */
export async function gpt(...args: string[]): Promise<Result & { code: number }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  const ewrite = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  try {
    return { code: await main(args), out: out.join('\n'), err: err.join('\n') };
  } finally {
    [log, error, write, ewrite].forEach((s) => s.mockRestore());
  }
}

// under node_modules, so that the bundle's external imports (webgpu) resolve; one per test file
const bundleDir = fileURLToPath(new URL(`../node_modules/.cache/cli-test-${process.pid}/`, import.meta.url));
afterAll(() => rmSync(bundleDir, { recursive: true, force: true }));
let bundle: Promise<string> | undefined;

/** The CLI bundled from src/ (as bin/gpt.js runs dist/), so a child process runs this checkout's code. */
function cliBundle(): Promise<string> {
  bundle ??= (async () => {
    const dir = bundleDir;
    mkdirSync(dir, { recursive: true });
    const outfile = join(dir, 'gpt.mjs');
    await build({
      stdin: {
        contents: `import { main } from './src/cli/main.ts';\nprocess.exitCode = await main(process.argv.slice(2));\n`,
        resolveDir: fileURLToPath(new URL('..', import.meta.url)),
        loader: 'ts',
      },
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      logLevel: 'silent',
    });
    return outfile;
  })();
  return bundle;
}

export interface Running {
  child: ChildProcess;
  /** Resolves once stdout has printed a line matching `re`. */
  printed(re: RegExp, timeoutMs?: number): Promise<void>;
  done: Promise<Result & { signal: NodeJS.Signals | null; timedOut: boolean }>;
}

/** Starts `gpt ...args` as a real process, SIGKILLed after `timeoutMs` (a hang shows as timedOut). */
export async function spawnGpt(args: string[], timeoutMs = 60_000): Promise<Running> {
  const child = spawn(process.execPath, [await cliBundle(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (err += d));
  const done = new Promise<Result & { signal: NodeJS.Signals | null; timedOut: boolean }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err, timedOut });
    });
  });
  const printed = (re: RegExp, waitMs = 60_000) =>
    new Promise<void>((resolve, reject) => {
      const give = setTimeout(() => reject(new Error(`no output matching ${re} within ${waitMs} ms; stdout: ${out}; stderr: ${err}`)), waitMs);
      const check = () => {
        if (!re.test(out)) return;
        clearTimeout(give);
        child.stdout!.off('data', check);
        resolve();
      };
      child.stdout!.on('data', check);
      void done.then(() => {
        clearTimeout(give);
        if (re.test(out)) resolve();
        else reject(new Error(`exited without output matching ${re}; stdout: ${out}; stderr: ${err}`));
      });
      check();
    });
  return { child, printed, done };
}

/** Runs `gpt ...args` as a real process to its end. */
export async function runGpt(args: string[], timeoutMs?: number) {
  return (await spawnGpt(args, timeoutMs)).done;
}
