// Shared by the CLI tests: the CLI run in-process (fast) or as a real process (exit codes, signals,
// locks between processes, hangs), a generated corpus, and the tiny model flags.
import { build } from 'esbuild';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { checkpointSafetensors, CHECKPOINT_FORMAT } from '../src/gpt/checkpoint.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.js';
import { readCheckpointFiles } from './helpers.js';

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

/** A refusal: exit status `code` and one line on stderr matching `message`. */
export function expectOneLine(r: { code: number | null; err: string }, code: number, message: RegExp) {
  expect(r.code, r.err).toBe(code);
  expect(r.err).toMatch(message);
  expect(r.err).not.toContain('\n');
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
const bundles = new Map<string, Promise<string>>();

/** `contents` (TypeScript at the repository root) bundled for Node into one file, once per test file. */
function bundled(name: string, contents: string): Promise<string> {
  let done = bundles.get(name);
  if (!done) {
    done = (async () => {
      mkdirSync(bundleDir, { recursive: true });
      const outfile = join(bundleDir, `${name}.mjs`);
      await build({
        stdin: { contents, resolveDir: fileURLToPath(new URL('..', import.meta.url)), loader: 'ts' },
        outfile,
        bundle: true,
        platform: 'node',
        format: 'esm',
        packages: 'external',
        logLevel: 'silent',
        // files found next to the code (web-dist/, the built-in corpus) are looked for as from src/cli/
        define: { 'import.meta.url': JSON.stringify(new URL('../src/cli/main.ts', import.meta.url).href) },
      });
      return outfile;
    })();
    bundles.set(name, done);
  }
  return done;
}

/** The CLI bundled from src/ (as bin/gpt.js runs dist/), so a child process runs this checkout's code. */
const cliBundle = () => bundled('gpt', `import { main } from './src/cli/main.ts';\nprocess.exitCode = await main(process.argv.slice(2));\n`);

/** What bin/gpt.js runs (the launcher that filters Dawn's notices), bundled from src/. */
const launcherBundle = () =>
  bundled(
    'launch',
    `import { launch } from './src/cli/launch.ts';\nprocess.exitCode = await launch(process.argv.slice(2), process.argv[1]);\n`,
  );

export interface Running {
  child: ChildProcess;
  /** Resolves, with stdout so far, once stdout has printed a line matching `re`. */
  printed(re: RegExp, timeoutMs?: number): Promise<string>;
  done: Promise<Result & { signal: NodeJS.Signals | null; timedOut: boolean }>;
}

/**
 * Starts `gpt ...args` as a real process, SIGKILLed after `timeoutMs` (a hang shows as timedOut);
 * through the launcher bin/gpt.js runs (`via: 'launcher'`), or straight into the CLI. Its stdout is
 * a pipe read into `out`, or the file descriptor `stdout` (then `out` stays empty).
 */
export async function spawnGpt(args: string[], timeoutMs = 60_000, via: 'main' | 'launcher' = 'main', stdout: 'pipe' | number = 'pipe'): Promise<Running> {
  return spawnScript(await (via === 'launcher' ? launcherBundle() : cliBundle()), args, timeoutMs, stdout);
}

/**
 * Runs `contents` (TypeScript at the repository root, its imports from ./src/...) as a real
 * process given `args`, SIGKILLed after `timeoutMs`: code that may hang synchronously, which no test timeout
 * can interrupt in-process. `name` tells its bundle apart from the test file's others.
 */
export async function runScript(name: string, contents: string, args: string[] = [], timeoutMs = 60_000) {
  return (await spawnScript(await bundled(name, contents), args, timeoutMs, 'pipe')).done;
}

function spawnScript(script: string, args: string[], timeoutMs: number, stdout: 'pipe' | number): Running {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', stdout, 'pipe'] });
  let out = '';
  let err = '';
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  child.stdout?.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (err += d));
  const done = new Promise<Result & { signal: NodeJS.Signals | null; timedOut: boolean }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err, timedOut });
    });
  });
  const printed = (re: RegExp, waitMs = 60_000) =>
    new Promise<string>((resolve, reject) => {
      const give = setTimeout(() => reject(new Error(`no output matching ${re} within ${waitMs} ms; stdout: ${out}; stderr: ${err}`)), waitMs);
      const check = () => {
        if (!re.test(out)) return;
        clearTimeout(give);
        child.stdout!.off('data', check);
        resolve(out);
      };
      child.stdout!.on('data', check);
      void done.then(() => {
        clearTimeout(give);
        if (re.test(out)) resolve(out);
        else reject(new Error(`exited without output matching ${re}; stdout: ${out}; stderr: ${err}`));
      });
      check();
    });
  return { child, printed, done };
}

/** Runs `gpt ...args` as a real process to its end. */
export async function runGpt(args: string[], timeoutMs?: number, via?: 'main' | 'launcher') {
  return (await spawnGpt(args, timeoutMs, via)).done;
}

/** A small checkpoint of ours (random weights, made without a GPU), `extra` floats more in one tensor to tell saves apart by size. */
export function tinyCheckpoint(extra = 0): Uint8Array {
  const tokenizer = CharTokenizer.train('abcd');
  const model = { vocabSize: 4, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 4, dropout: 0, bias: false };
  const random = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
  const weights = new Map([
    ['wte.weight', { shape: [4, 4], data: random(16) }],
    ['wpe.weight', { shape: [4, 4], data: random(16) }],
    ['h.0.extra.weight', { shape: [1000 + extra], data: random(1000 + extra) }],
  ]);
  const { tensors, metadata } = checkpointSafetensors({ meta: { format: CHECKPOINT_FORMAT, model, tokenizer: tokenizer.toJSON() }, weights });
  return serializeSafetensors(tensors, metadata);
}

/**
 * The checkpoint directory `dir` copied as the bare .safetensors file `file` with one NaN weight: its
 * header reads as any other, and only loading its weights refuses it (a refusal after a command has
 * made its --out-dir).
 */
export async function nanWeightCopy(dir: string, file: string): Promise<void> {
  const { tensors, metadata } = parseSafetensors((await readCheckpointFiles(dir)).weights);
  tensors['h.0.mlp.c_fc.weight']!.data[0] = NaN;
  writeFileSync(file, serializeSafetensors(tensors, metadata));
}

/** GET (or HEAD) /checkpoint.safetensors of a `gpt serve` server with these headers: the status, the Content-Length sent and the bytes received. */
export function getCheckpoint(server: { url: string }, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; length: number; body: Buffer }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, method, path: '/checkpoint.safetensors', headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, length: Number(res.headers['content-length']), body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
